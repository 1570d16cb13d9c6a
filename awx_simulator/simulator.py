"""The simulator object: authentication, request handling, and the in-process API tests use.

:class:`Simulator` is what both the HTTP server and tests talk to; :func:`start`
runs one on a free port in a daemon thread::

    sim, server = awx_simulator.start(token="T")
    sim.faults.error(503, seconds=1)
    ...
    server.shutdown(); server.server_close()
"""
from __future__ import annotations

import base64
import collections
import copy
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qs, urlsplit

from . import admin, api, jobs
from .api import VERSION
from .errors import APIError
from .faults import Faults, error_page
from .seed import DEFAULT_OBJECTS_FILE, add_job_template, load_objects, normalise_job_template
from .serializers import represent
from .store import Store, iso

AUTH_SUFFIX = " To establish a login session, visit /api/login/."
WWW_AUTHENTICATE = "Bearer realm=api authorization_url=/api/o/authorize/"


@dataclass
class Response:
    """What the HTTP layer sends: nothing at all when ``drop`` (the lost-answer fault)."""

    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    drop: bool = False
    after: object = None


class Simulator:
    """An AWX 24.6.1 controller API in memory.

    ``token`` is accepted as ``Authorization: Bearer``; ``username``/``password``
    as Basic auth, ``/api/login/`` sessions and ``POST /api/v2/tokens/``.
    ``objects`` is the parsed ``awx/objects.yml`` (default: read from the
    repository; ``{}`` for AWX's bare install).
    """

    def __init__(self, token: str | None = None, username: str = "admin", password: str | None = None,
                 state_file=None, objects: dict | None = None, objects_file=None):
        if objects is None:
            objects = load_objects(objects_file or DEFAULT_OBJECTS_FILE)
        self.token, self.username, self.password = token, username, password
        self.store = Store(username, token, objects, state_file)
        self.faults = Faults()
        self.install_uuid = str(uuid.uuid4())
        self.url: str | None = None
        self._log_lock = threading.Lock()
        self._requests: collections.deque = collections.deque(maxlen=100_000)

    # -- authentication --------------------------------------------------------------------
    def check_password(self, username: str, password: str) -> dict | None:
        """The admin user when the pair matches the configured one."""
        if self.password is None:
            return None
        if hmac.compare_digest(username, self.username) and hmac.compare_digest(password, self.password):
            return self.store.admin()
        return None

    def new_session(self, user: dict) -> str:
        session = secrets.token_urlsafe(24)
        with self.store.lock:
            self.store.sessions[session] = user["id"]
        return session

    def authenticate(self, headers: dict[str, str]) -> tuple[dict | None, str | None]:
        """(user, None), (None, None) for anonymous, or (None, message) for bad Basic credentials."""
        header = headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value:
            return self.store.token_user(value.strip()), None
        if scheme.lower() == "basic" and value:
            try:
                username, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, "Invalid basic header. Credentials not correctly base64 encoded."
            user = self.check_password(username, password)
            return (user, None) if user else (None, "Invalid username/password.")
        for part in headers.get("cookie", "").split(";"):
            name, _, session = part.strip().partition("=")
            if name == "awx_sessionid" and session in self.store.sessions:
                return self.store.get("users", self.store.sessions[session]), None
        return None, None

    # -- requests --------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, public_url: str) -> Response:
        """Answers one HTTP request (``headers`` with lower-case names)."""
        started = time.monotonic()
        split = urlsplit(target)
        path = split.path
        if path.startswith("/_sim/"):
            status, payload, after = admin.handle(self, method, path.rstrip("/"), body)
            data = json.dumps(payload).encode() if payload is not None else b""
            return Response(status, data, {"Content-Type": "application/json"} if payload is not None else {},
                            after=after)
        query = parse_qs(split.query, keep_blank_values=True)
        is_launch = method == "POST" and path.endswith("/launch/")
        wait, error_status = self.faults.before(is_launch)
        if wait:
            time.sleep(wait)
        if error_status:
            self._log(method, path, split.query, error_status)
            return Response(error_status, error_page(error_status).encode(), {"Content-Type": "text/html"})
        response = self._api(method, path, split.query, query, headers, body, public_url)
        response.headers.setdefault("X-API-Time", f"{time.monotonic() - started:0.3f}s")
        self._log(method, path, split.query, 0 if response.drop else response.status)
        return response

    def _api(self, method, path, raw_query, query, headers, body, public_url) -> Response:
        base = {"X-API-Product-Name": "AWX", "X-API-Node": "awx-sim", "Vary": "Accept, Cookie, Accept-Language, Origin"}
        if not path.startswith("/api/") and path != "/api":
            return Response(404, b"<h1>Not Found</h1>", {**base, "Content-Type": "text/html"})
        if not path.endswith("/"):
            location = path + "/" + (f"?{raw_query}" if raw_query else "")
            return Response(301, b"", {**base, "Location": location})
        user, auth_error = self.authenticate(headers)
        public = path in api.PUBLIC or (path == "/api/v2/ping/")
        if auth_error and path != "/api/v2/ping/":
            return self._unauthorised(base, auth_error)
        if user is None and not public:
            return self._unauthorised(base, "Authentication credentials were not provided.")
        if user is not None:
            base["X-API-Product-Version"] = VERSION
        req = api.Request(self, method, path, query, headers, body, user, public_url,
                          full_path=path + (f"?{raw_query}" if raw_query else ""))
        store = self.store
        with store.lock:
            jobs.advance_workflows(store)
            try:
                result = api.dispatch(req)
            except APIError as exc:
                result = (exc.status, exc.body, exc.headers)
            if method not in ("GET", "HEAD", "OPTIONS"):
                store.save()
        if result is api.DROP:
            return Response(0, drop=True)
        status, payload, *rest = result
        headers_out = {**base, **(rest[0] if rest else {})}
        data, content_type = api.body_bytes(payload)
        if content_type and "Content-Type" not in headers_out:
            headers_out["Content-Type"] = content_type
        return Response(status, data, headers_out)

    def _unauthorised(self, base: dict, message: str) -> Response:
        body = json.dumps({"detail": message + AUTH_SUFFIX}).encode()
        return Response(401, body, {**base, "Content-Type": "application/json", "WWW-Authenticate": WWW_AUTHENTICATE})

    def _log(self, method, path, raw_query, status) -> None:
        with self._log_lock:
            self._requests.append({"method": method, "path": path, "query": raw_query, "status": status})

    def record_launch(self, kind: str, ident: str, raw: bytes) -> dict:
        """Adds a launch request to the launch log (called by the launch routes, under the lock)."""
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = {"seq": len(self.store.launches) + 1, "at": iso(self.store.clock.now()), "kind": kind[:-1],
                  "template_id": int(ident) if ident.isdigit() else None, "template_name": None, "body": body,
                  "status": None, "job": None, "job_type": None, "answered": None, "ignored_fields": {}, "error": None}
        self.store.launches.append(record)
        return record

    # -- in-process API --------------------------------------------------------------------
    @property
    def jobs(self) -> list[dict]:
        """Every job as ``GET /api/v2/jobs/{id}/`` shows it now, oldest first."""
        with self.store.lock:
            jobs.advance_workflows(self.store)
            now = self.store.clock.now()
            return [represent(self.store, "jobs", j, now) for j in sorted(self.store.all("jobs"), key=lambda j: j["id"])]

    @property
    def workflow_jobs(self) -> list[dict]:
        """Every workflow job as the API shows it now."""
        with self.store.lock:
            jobs.advance_workflows(self.store)
            now = self.store.clock.now()
            return [represent(self.store, "workflow_jobs", j, now)
                    for j in sorted(self.store.all("workflow_jobs"), key=lambda j: j["id"])]

    @property
    def launches(self) -> list[dict]:
        """The launch log (copies): every ``POST .../launch/`` received, with its body and outcome."""
        with self.store.lock:
            return copy.deepcopy(self.store.launches)

    @property
    def requests(self) -> list[dict]:
        """The API request log ``[{method, path, query, status}]`` (status 0: answer lost)."""
        with self._log_lock:
            return list(self._requests)

    def clear_launches(self) -> None:
        with self.store.lock:
            self.store.launches.clear()

    def clear_requests(self) -> None:
        with self._log_lock:
            self._requests.clear()

    def reset(self) -> None:
        """Seeded objects again, no jobs, launches, requests, faults; default settings and clock."""
        self.faults.clear()
        self.store.reset()
        self.store.save()
        self.clear_requests()

    def counters(self) -> dict:
        """Jobs created by launches, per template name and per extra var ``stoa_launch_id``."""
        by_template: dict[str, int] = {}
        by_launch_id: dict[str, int] = {}
        with self.store.lock:
            for record in self.store.launches:
                if record["job"] is None:
                    continue
                by_template[record["template_name"]] = by_template.get(record["template_name"], 0) + 1
                launch_id = _launch_id(record["body"])
                if launch_id is not None:
                    by_launch_id[launch_id] = by_launch_id.get(launch_id, 0) + 1
            return {"jobs_by_template": by_template, "jobs_by_launch_id": by_launch_id,
                    "launches": len(self.store.launches),
                    "jobs": len(self.store.all("jobs")) + len(self.store.all("workflow_jobs"))}

    def launch_count(self, template: str | None = None, launch_id: str | None = None) -> int:
        """Jobs created by launches of ``template`` (a name) and/or with ``stoa_launch_id == launch_id``."""
        count = 0
        with self.store.lock:
            for record in self.store.launches:
                if record["job"] is None:
                    continue
                if template is not None and record["template_name"] != template:
                    continue
                if launch_id is not None and _launch_id(record["body"]) != str(launch_id):
                    continue
                count += 1
        return count

    def config(self) -> dict:
        with self.store.lock:
            return asdict(self.store.settings)

    def configure(self, **settings) -> dict:
        """Changes job durations/outcomes/queueing/filter strictness (see :class:`store.Settings`)."""
        with self.store.lock:
            self.store.settings.update(settings)
            self.store.save()
            return asdict(self.store.settings)

    def advance_clock(self, seconds: float) -> str:
        """Moves the simulated clock forward (jobs progress as if that time had passed)."""
        with self.store.lock:
            self.store.clock.advance(float(seconds))
            self.store.save()
            return iso(self.store.clock.now())

    def add_job_template(self, **fields) -> dict:
        """Adds a job template (AWX field names; inventory/project/... by name or id); returns its API view."""
        with self.store.lock:
            jt = add_job_template(self.store, fields)
            self.store.save()
            return represent(self.store, "job_templates", jt, self.store.clock.now())

    def update_job_template(self, name_or_id, **fields) -> dict:
        """Changes fields of a job template (e.g. ``ask_variables_on_launch=False``); returns its API view."""
        with self.store.lock:
            jt = self.store.find("job_templates", name_or_id)
            if jt is None:
                raise ValueError(f"no job template {name_or_id!r}")
            updated = normalise_job_template(self.store, fields, base=jt)
            updated["modified"] = self.store.clock.now()
            jt.clear()
            jt.update(updated)
            self.store.save()
            return represent(self.store, "job_templates", jt, self.store.clock.now())

    def finish_job(self, job_id: int, status: str = "successful") -> dict:
        """Ends a job (or workflow job) now with ``status``; returns its API view."""
        with self.store.lock:
            job = self.store.get("jobs", job_id)
            kind = "jobs"
            if job is None:
                job, kind = self.store.get("workflow_jobs", job_id), "workflow_jobs"
            if job is None:
                raise ValueError(f"no job {job_id}")
            if kind == "jobs":
                jobs.finish(self.store, job, status)
            elif status == "canceled":
                jobs.cancel(self.store, job)
            else:
                raise ValueError("a workflow job can only be canceled; finish its node jobs instead")
            jobs.advance_workflows(self.store)
            self.store.save()
            return represent(self.store, kind, job, self.store.clock.now())

    def find_jobs(self, launch_id: str | None = None, template: str | None = None) -> list[dict]:
        """Jobs (API view) whose extra vars hold ``stoa_launch_id == launch_id`` and/or of ``template``."""
        found = []
        for job in self.jobs:
            if template is not None and job["name"] != template:
                continue
            if launch_id is not None and json.loads(job["extra_vars"]).get("stoa_launch_id") != launch_id:
                continue
            found.append(job)
        return found


def _launch_id(body) -> str | None:
    if not isinstance(body, dict):
        return None
    extra_vars = body.get("extra_vars")
    if isinstance(extra_vars, str):
        try:
            from .launch import parse_vars

            extra_vars = parse_vars(extra_vars)
        except ValueError:
            return None
    if isinstance(extra_vars, dict) and extra_vars.get("stoa_launch_id") is not None:
        return str(extra_vars["stoa_launch_id"])
    return None


def start(port: int = 0, token: str | None = None, username: str = "admin", password: str | None = None,
          host: str = "127.0.0.1", state_file=None, objects: dict | None = None):
    """Runs a simulator on ``host:port`` (0: a free port) in a daemon thread.

    Returns ``(simulator, server)``; ``simulator.url`` is the base URL
    (``http://127.0.0.1:PORT``). Stop with ``server.shutdown(); server.server_close()``.
    ``token`` defaults to a random one (``simulator.token``).
    """
    from .http import serve

    sim = Simulator(token=token if token is not None else secrets.token_urlsafe(16), username=username,
                    password=password, state_file=state_file, objects=objects)
    server = serve(sim, host, port)
    threading.Thread(target=server.serve_forever, name="awx-simulator", daemon=True).start()
    return sim, server
