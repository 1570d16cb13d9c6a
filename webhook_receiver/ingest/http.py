"""The HTTP side (aiohttp): ``POST /hooks/gitlab``, ``/healthz``, ``/readyz``, ``/metrics``.

The answer to a delivery depends only on the request and the local store, never on AWX
or on the repository, so it stays within milliseconds under load:

====  ===================================================================
202   stored durably (fsync'd), body ``{"event_id", "trace_id", "status"}``
200   a re-sent delivery (same Idempotency-Key / webhook-id), not stored again
400   not JSON (UTF-8), not a GitLab event, a push whose before/after/ref are not GitLab's
408   the body did not arrive within 30 s
401   no or wrong X-Gitlab-Token, bad signature, timestamp outside the window
413   body over the limit (at least GitLab's 25 MB)
415   content type is not application/json
422   a project hook of another project (a misconfigured hook)
503   the store cannot take the event (never a 2xx for an event not stored)
====  ===================================================================

No 5xx other than that 503: any unexpected error in a request is a 503 with nothing stored.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .._json import dumps as _json_text
from ..store import StoreUnavailable
from .auth import AuthError, Authenticator
from .gitlab import SOURCE, BadDelivery, classify

log = logging.getLogger("stoa.receiver.ingest")
BODY_TIMEOUT = 30.0  # seconds a sender may take to send its body (a stalled client is answered 408)


def _json(http_status: int, **body) -> web.Response:
    return web.Response(status=http_status, text=_json_text(body), content_type="application/json")


class GitLabIngest:
    """The request handler; ``on_stored`` is called (in the event loop) after each new accepted event."""

    def __init__(self, store, authenticator: Authenticator, gitlab_config, metrics, on_stored=None):
        self.store, self.auth, self.gitlab, self.metrics = store, authenticator, gitlab_config, metrics
        self.on_stored = on_stored or (lambda: None)
        # The hot path's metric children, bound once (labels() costs a lock and a lookup per call).
        self._received = metrics.received.labels(SOURCE)
        self._latency = metrics.ack_latency.labels(SOURCE)
        self._accepted_push = metrics.accepted.labels(SOURCE, "push")

    def _reject(self, status: int, reason: str, message: str, started: float) -> web.Response:
        self.metrics.rejected.labels(SOURCE, reason).inc()
        self.metrics.ack_latency.labels(SOURCE).observe(time.perf_counter() - started)
        log.info("delivery refused", extra={"status": status, "reason": reason})
        return _json(status, error=message)

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        self._received.inc()
        try:
            return await self._handle(request, started)
        except web.HTTPRequestEntityTooLarge:
            return self._reject(413, "too_large", f"the body is over {self.gitlab.max_body_bytes} bytes", started)
        except (ConnectionResetError, asyncio.CancelledError):
            raise  # the client went away: nothing was acknowledged
        except Exception:  # never a traceback to a sender, never a 500
            log.exception("delivery could not be handled; nothing stored")
            return self._reject(503, "internal", "the receiver could not handle this delivery; nothing was stored, "
                                "send it again", started)

    async def _handle(self, request: web.Request, started: float) -> web.Response:
        headers = request.headers
        if request.content_length is not None and request.content_length > self.gitlab.max_body_bytes:
            return self._reject(413, "too_large", f"the body is over {self.gitlab.max_body_bytes} bytes", started)
        if request.content_type != "application/json":
            return self._reject(415, "content_type", "Content-Type must be application/json", started)
        signed = self.auth.needs_body(headers)
        if not signed:
            try:
                self.auth.check_headers(headers)
            except AuthError as exc:
                return self._reject(401, exc.reason, str(exc), started)
        try:
            async with asyncio.timeout(BODY_TIMEOUT):  # no task per request, as wait_for makes (3.11)
                body = await request.read()
        except asyncio.TimeoutError:
            return self._reject(408, "body_timeout", f"the body did not arrive within {BODY_TIMEOUT:g} s", started)
        if len(body) > self.gitlab.max_body_bytes:
            return self._reject(413, "too_large", f"the body is over {self.gitlab.max_body_bytes} bytes", started)
        if signed:
            try:
                self.auth.check_signature(headers, body)
            except AuthError as exc:
                return self._reject(401, exc.reason, str(exc), started)
        try:
            data = json.loads(body.decode("utf-8"))  # GitLab sends UTF-8; json.loads(bytes) would also take UTF-16
        except (ValueError, UnicodeDecodeError, RecursionError):
            return self._reject(400, "not_json", "the body is not JSON (UTF-8)", started)
        try:
            event = classify(headers, data, self.gitlab.project, self.gitlab.project_id, raw=body)
        except BadDelivery as exc:
            status = 422 if exc.reason == "unknown_project" else 400
            return self._reject(status, exc.reason, str(exc), started)
        try:
            event_id, trace_id, duplicate = await self.store.add_event_async(event)
        except StoreUnavailable as exc:
            return self._reject(503, "store_unavailable", f"the event could not be stored ({exc}); send it again",
                                started)
        self._latency.observe(time.perf_counter() - started)
        if duplicate:
            self.metrics.duplicate.labels(SOURCE).inc()
            log.info("re-sent delivery: already stored", extra={"event_id": event_id, "trace_id": trace_id})
            return _json(200, event_id=event_id, trace_id=trace_id, status="duplicate")
        if event.status == "ignored":
            self.metrics.ignored.labels(SOURCE, event.reason if event.reason == "other_project"
                                        else "object_kind").inc()
        else:
            (self._accepted_push if event.kind == "push" else self.metrics.accepted.labels(SOURCE, event.kind)).inc()
            self.on_stored()
        # DEBUG: at thousands of deliveries a second a line each costs 14% of the ack path; the worker logs
        # every event it routes ("event routed", with the same event_id and trace_id).
        log.debug("delivery stored", extra={"event_id": event_id, "trace_id": trace_id, "kind": event.kind,
                                            "status": event.status})
        return _json(202, event_id=event_id, trace_id=trace_id, status=event.status,
                     **({"reason": event.reason} if event.reason else {}))


def notification_view(token: str, poll_now):
    """``POST /hooks/awx-notification``: AWX's webhook notification (Authorization: Bearer <token>) makes the
    dispatcher poll its jobs at once. The body is not trusted: job states are read from AWX's API, as always."""
    expected = f"Bearer {token}".encode()

    async def view(request: web.Request) -> web.Response:
        given = (request.headers.get("Authorization") or "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):
            return _json(401, error="Authorization: Bearer <launcher.awx.notification_token> expected")
        poll_now()
        return _json(202, status="polling")

    return view


def make_app(ingest: GitLabIngest, metrics, ready, notification=None) -> web.Application:
    """The aiohttp application. ``ready()`` returns (ok, details) for /readyz; ``notification``: the optional
    AWX notification view."""
    # client_max_size: aiohttp refuses a larger body itself (413) before it is buffered whole.
    app = web.Application(client_max_size=ingest.gitlab.max_body_bytes + 1)

    async def healthz(_request):
        return _json(200, status="ok")

    async def readyz(_request):
        ok, details = ready()
        return _json(200 if ok else 503, ready=ok, **details)

    async def metrics_view(_request):
        return web.Response(body=generate_latest(metrics.exposition), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_post("/hooks/gitlab", ingest.handle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    if notification is not None:
        app.router.add_post("/hooks/awx-notification", notification)
    from .traces_http import routes

    app.router.add_routes(routes(ingest.store))
    return app
