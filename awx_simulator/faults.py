"""Failure injection: error windows, slow answers, lost launch answers, refused connections.

Faults apply to the AWX API only, never to ``/_sim/``. Windows run on the wall
clock (not the simulated job clock). ``only="launch"`` restricts a fault to
``POST .../launch/`` requests.

- :meth:`Faults.error`: answer ``status`` (503 by default, an nginx-like HTML
  page as an ingress in front of AWX gives) for ``seconds`` or for the next
  ``requests`` matching requests;
- :meth:`Faults.delay`: wait ``ms`` before answering, for ``seconds`` or ``requests``;
- :meth:`Faults.lose_answers`: the next ``count`` launches create their job,
  then the connection is closed without an answer (the client sees
  ``RemoteDisconnected``/``ConnectionError`` although the job exists);
- :meth:`Faults.refuse`: stop listening (and drop open connections) for
  ``seconds``, then listen again on the same port.
"""
from __future__ import annotations

import threading
import time

ERROR_PAGE = ("<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}"
              "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
           504: "Gateway Time-out", 429: "Too Many Requests"}
SCOPES = ("all", "launch")


class _Window:
    def __init__(self, seconds, requests, only, **values):
        if seconds is None and requests is None:
            raise ValueError("give seconds or requests")
        if only not in SCOPES:
            raise ValueError(f"only is one of {', '.join(SCOPES)}")
        self.until = time.monotonic() + float(seconds) if seconds is not None else None
        self.remaining = int(requests) if requests is not None else None
        self.only = only
        self.values = values

    def live(self) -> bool:
        if self.until is not None and time.monotonic() >= self.until:
            return False
        return self.remaining is None or self.remaining > 0

    def take(self, is_launch: bool) -> bool:
        if not self.live() or (self.only == "launch" and not is_launch):
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True

    def describe(self) -> dict:
        left = None if self.until is None else max(0.0, round(self.until - time.monotonic(), 3))
        return {"seconds_left": left, "requests_left": self.remaining, "only": self.only, **self.values}


class Faults:
    """The active faults of one simulator (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.server = None  # set by http.serve(): refusing needs the listening socket
        self.clear()

    def clear(self) -> None:
        """Removes every fault (a refusal in progress ends too)."""
        with self.lock:
            self._errors: list[_Window] = []
            self._delays: list[_Window] = []
            self._lost = 0
        if self.server is not None:
            self.server.resume_listening()

    def error(self, status: int = 503, seconds: float | None = None, requests: int | None = None,
              only: str = "all") -> dict:
        """Answer ``status`` for a window of ``seconds`` or the next ``requests`` requests."""
        status = int(status)
        if not 400 <= status <= 599:
            raise ValueError("status must be 4xx or 5xx")
        window = _Window(seconds, requests, only, status=status)
        with self.lock:
            self._errors.append(window)
        return window.describe()

    def delay(self, ms: float, seconds: float | None = None, requests: int | None = None, only: str = "all") -> dict:
        """Wait ``ms`` milliseconds before answering, for a window."""
        window = _Window(seconds, requests, only, ms=float(ms))
        with self.lock:
            self._delays.append(window)
        return window.describe()

    def lose_answers(self, count: int = 1) -> int:
        """The next ``count`` launches create their job and never answer."""
        with self.lock:
            self._lost += int(count)
            return self._lost

    def refuse(self, seconds: float) -> None:
        """Refuse connections for ``seconds`` (open connections are dropped), then listen again."""
        if self.server is None:
            raise RuntimeError("not attached to a server")
        self.server.refuse_for(float(seconds))

    # -- used by the HTTP layer ------------------------------------------------------------
    def before(self, is_launch: bool) -> tuple[float, int | None]:
        """(seconds to wait, error status or None) for one API request."""
        with self.lock:
            wait = sum(w.values["ms"] for w in self._delays if w.take(is_launch)) / 1000.0
            status = next((w.values["status"] for w in self._errors if w.take(is_launch)), None)
            self._delays = [w for w in self._delays if w.live()]
            self._errors = [w for w in self._errors if w.live()]
        return wait, status

    def take_lost_answer(self) -> bool:
        with self.lock:
            if self._lost > 0:
                self._lost -= 1
                return True
            return False

    def describe(self) -> dict:
        """The active faults, as ``GET /_sim/faults`` shows them."""
        with self.lock:
            self._delays = [w for w in self._delays if w.live()]
            self._errors = [w for w in self._errors if w.live()]
            refusing = self.server.refusing_for() if self.server is not None else 0.0
            return {"errors": [w.describe() for w in self._errors], "delays": [w.describe() for w in self._delays],
                    "lose_answers": self._lost, "refusing_seconds_left": refusing}


def error_page(status: int) -> str:
    return ERROR_PAGE.format(status=status, reason=REASONS.get(status, "Error"))
