"""The error answers, shaped as AWX (Django REST framework) shapes them."""
from __future__ import annotations


class APIError(Exception):
    """An HTTP error answer: status and JSON body (``{"detail": ...}`` or field errors)."""

    def __init__(self, status: int, body, headers: dict | None = None):
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found() -> APIError:
    return APIError(404, {"detail": "Not found."})


def method_not_allowed(method: str) -> APIError:
    return APIError(405, {"detail": f'Method "{method}" not allowed.'})
