"""HTTP plumbing: routing under ``/rest/apigateway``, auth, error bodies, request log.

Resource modules register handlers with :func:`route`; a handler gets a
:class:`Request` and the path's named groups and returns ``(status, body)``.
Besides the gateway's API the simulator serves ``/_sim/requests`` (GET: the
request log as ``[{method, path, query, status}]``; DELETE: clear it) and
``/_sim/reset`` (POST: back to a fresh gateway), without auth: they are for
tests and are not part of the product. ``/_sim/faults`` injects failures: POST
``{"method": "PUT", "path": "<regex on the path under /rest/apigateway>",
"status": 500, "times": null}`` makes matching requests answer that status
(``times`` of them, or all while it stays), GET lists them, DELETE removes them;
reset removes them too. Injected answers are logged like any other.
"""
from __future__ import annotations

import base64
import hmac
import json
import re
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .errors import GatewayHTTPError, bad_payload, error_details
from .store import Store

BASE = "/rest/apigateway"
ROUTES: list[tuple[str, re.Pattern, object]] = []
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def route(method: str, pattern: str):
    """Register a handler; ``{name}`` in the pattern matches one path segment."""
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

    def register(handler):
        ROUTES.append((method, regex, handler))
        return handler

    return register


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    store: Store
    public_url: str
    _json: object = field(default=None, repr=False)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def list_arg(self, name: str) -> list[str]:
        return [v for raw in self.query.get(name, []) for v in raw.split(",") if v]

    @property
    def is_multipart(self) -> bool:
        return self.headers.get("content-type", "").lower().startswith("multipart/form-data")

    def json(self):
        if self._json is None:
            try:
                self._json = json.loads(self.body.decode("utf-8") or "null")
            except (UnicodeDecodeError, ValueError):
                raise bad_payload() from None
        return self._json

    def json_object(self) -> dict:
        body = self.json()
        if not isinstance(body, dict):
            raise bad_payload()
        return body

    def form(self) -> dict[str, bytes]:
        """Fields of a multipart/form-data body (file fields give their content)."""
        head = f"Content-Type: {self.headers.get('content-type')}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + self.body)
        if not message.is_multipart():
            raise bad_payload()
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                fields[name] = part.get_payload(decode=True) or b""
        return fields


class Gateway:
    """The simulated gateway: a store, credentials and a request log."""

    def __init__(self, username: str = "Administrator", password: str = "manage",
                 token: str | None = None, state_file=None):
        self.store = Store(state_file)
        self.username, self.password, self.token = username, password, token
        self.request_log: list[dict] = []
        self.log_lock = threading.Lock()
        self.faults: list[dict] = []  # [{method, path (compiled), status, times}], see /_sim/faults

    def authorised(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, pwd = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return hmac.compare_digest(user, self.username) and hmac.compare_digest(pwd, self.password)
        if scheme.lower() == "bearer" and self.token:
            return hmac.compare_digest(value, self.token)
        return False

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, public_url: str):
        """Returns ``(status, body)``; body is JSON-able, bytes, or None."""
        split = urlsplit(target)
        path, query = split.path.rstrip("/") or "/", parse_qs(split.query, keep_blank_values=True)
        if path.startswith("/_sim/"):
            return self._sim(method, path, body)
        fault = self._fault(method, path)
        if fault is not None:
            status, payload = fault
        else:
            status, payload = self._dispatch(method, path, query, headers, body, public_url)
        with self.log_lock:
            self.request_log.append({"method": method, "path": path, "query": split.query, "status": status})
        return status, payload

    def _dispatch(self, method, path, query, headers, body, public_url):
        if path == BASE + "/health" and method == "GET":
            return 200, None  # documented: no auth, HTTP 200, no body
        if not path.startswith(BASE + "/"):
            return 404, {"errorDetails": f" No resource at {path}"}
        if not self.authorised(headers.get("authorization")):
            return 401, {"errorDetails": " Authentication failed. Provide valid credentials."}
        relative = path[len(BASE):]
        allowed = False
        for route_method, regex, handler in ROUTES:
            match = regex.match(relative)
            if not match:
                continue
            allowed = True
            if route_method != method:
                continue
            request = Request(method, relative, query, headers, body, self.store, public_url)
            with self.store.lock:
                try:
                    status, payload = handler(request, **match.groupdict())
                except GatewayHTTPError as exc:
                    return exc.status, exc.body
                if method in WRITE_METHODS:
                    self.store.save()
                return status, payload
        if allowed:
            return 405, error_details(405, f"Method: {method} is not allowed on resource: {relative}").body
        return 404, error_details(404, f"Unable to find the resource: {relative}").body

    def _fault(self, method: str, path: str):
        """``(status, body)`` of an injected fault matching this request, or None."""
        relative = path[len(BASE):] if path.startswith(BASE + "/") else path
        with self.log_lock:
            for fault in self.faults:
                if fault["method"] == method and fault["regex"].search(relative) and fault["times"] != 0:
                    if fault["times"] is not None:
                        fault["times"] -= 1
                    return fault["status"], {"errorDetails": f" injected fault: {method} {relative}"}
        return None

    def _sim(self, method: str, path: str, body: bytes = b""):
        if path == "/_sim/faults" and method == "POST":
            try:
                wanted = json.loads(body.decode("utf-8"))
                fault = {"method": str(wanted["method"]).upper(), "path": str(wanted["path"]),
                         "regex": re.compile(str(wanted["path"])), "status": int(wanted.get("status", 500)),
                         "times": None if wanted.get("times") is None else int(wanted["times"])}
            except (ValueError, KeyError, TypeError, re.error) as exc:
                return 400, {"errorDetails": f" bad fault: {exc}"}
            with self.log_lock:
                self.faults.append(fault)
            return 201, {k: v for k, v in fault.items() if k != "regex"}
        if path == "/_sim/faults" and method == "GET":
            with self.log_lock:
                return 200, [{k: v for k, v in f.items() if k != "regex"} for f in self.faults]
        if path == "/_sim/faults" and method == "DELETE":
            with self.log_lock:
                self.faults.clear()
            return 204, None
        if path == "/_sim/requests" and method == "GET":
            with self.log_lock:
                return 200, list(self.request_log)
        if path == "/_sim/requests" and method == "DELETE":
            with self.log_lock:
                self.request_log.clear()
            return 204, None
        if path == "/_sim/reset" and method == "POST":
            with self.store.lock:
                self.store.reset()
                self.store.save()
            with self.log_lock:
                self.request_log.clear()
                self.faults.clear()
            return 204, None
        return 404, {"errorDetails": " unknown simulator endpoint"}


def make_handler(gateway: Gateway):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "stoa-gateway-sim"
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every answer.
        disable_nagle_algorithm = True

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            host = self.headers.get("Host") or "%s:%s" % self.server.server_address[:2]
            status, payload = gateway.handle(self.command, self.path, headers, body, f"http://{host}")
            if payload is None:
                data, ctype = b"", None
            elif isinstance(payload, (bytes, str)):
                data = payload.encode() if isinstance(payload, str) else payload
                ctype = "application/json" if data[:1] in (b"{", b"[") else "application/yaml"
            else:
                data, ctype = json.dumps(payload).encode(), "application/json"
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format, *args):  # noqa: A002 - stdlib signature
            pass  # the request log replaces the access log

    return Handler


def serve(gateway: Gateway, host: str = "127.0.0.1", port: int = 5555) -> ThreadingHTTPServer:
    # Importing the resource modules registers their routes.
    from . import aliases, apis, applications, oauth, policies  # noqa: F401

    server = ThreadingHTTPServer((host, port), make_handler(gateway))
    server.daemon_threads = True
    return server
