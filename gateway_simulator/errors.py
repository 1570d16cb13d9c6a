"""The two error shapes of the 10.15 admin API.

Most services answer ``{"errorDetails": " <message>"}`` (note the leading
space the real gateway puts there); the APIs service reports errors inside
its ``apiResponse`` envelope with ``responseStatus`` and ``errorReason``.
"""
from __future__ import annotations


class GatewayHTTPError(Exception):
    def __init__(self, status: int, body):
        super().__init__(status, body)
        self.status = status
        self.body = body


def error_details(status: int, message: str | None) -> GatewayHTTPError:
    return GatewayHTTPError(status, {"errorDetails": None if message is None else " " + message})


def api_error(status: int, message: str, api_id: str | None = None, response_status: str = "ERROR") -> GatewayHTTPError:
    envelope = {"responseStatus": response_status, "errorReason": message}
    if api_id:
        envelope["apiId"] = api_id
    return GatewayHTTPError(status, {"apiResponse": envelope})


def no_permission() -> GatewayHTTPError:
    # LIVE-NOTES: an unknown or deleted API id answers 401, not 404, even for Administrator.
    return error_details(401, "User doesn't have permission to perform this operation or the resource does not exist.")


def bad_payload() -> GatewayHTTPError:
    return error_details(
        400,
        "Unable to create the resource. Error in processing the payload null. Error Message . "
        "Check the correctness of key and payload.",
    )


def not_found(resource_id: str) -> GatewayHTTPError:
    return error_details(404, f"Unable to find the resource: {resource_id}")
