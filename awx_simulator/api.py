"""The AWX REST API routes (``/api/``, ``/api/v2/...``) and their handlers.

Each handler takes a :class:`Request` and the path's named groups and returns
``(status, body)`` or ``(status, body, headers)``; it raises
:class:`~awx_simulator.errors.APIError` for error answers. A launch whose
answer is to be lost returns :data:`DROP` once its job exists. Every handler
runs under the store's lock, after :func:`jobs.advance_workflows`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from . import jobs, launch, metadata, query
from .errors import APIError, method_not_allowed, not_found
from .serializers import V2, represent, url
from .serializers import job_event as job_event_repr
from .serializers import token as token_repr
from .store import iso

VERSION = "24.6.1"
DROP = object()  # the connection is closed without an answer
ROUTES: list[tuple[str, re.Pattern, object]] = []
PUBLIC = ("/api/", "/api/v2/", "/api/v2/ping/", "/api/login/", "/api/logout/", "/api/o/")

# kind -> (model name for errors, default ordering)
LISTS = {
    "organizations": ("Organization", ("name",)), "inventories": ("Inventory", ("name",)),
    "credential_types": ("CredentialType", ("kind", "name")), "credentials": ("Credential", ("name",)),
    "projects": ("Project", ("name",)), "execution_environments": ("ExecutionEnvironment", ("name",)),
    "labels": ("Label", ("organization", "name")), "users": ("User", ("username",)),
    "job_templates": ("JobTemplate", ("name",)), "workflow_job_templates": ("WorkflowJobTemplate", ("name",)),
    "workflow_job_template_nodes": ("WorkflowJobTemplateNode", ("id",)), "jobs": ("Job", ("id",)),
    "workflow_jobs": ("WorkflowJob", ("id",)), "workflow_job_nodes": ("WorkflowJobNode", ("id",)),
    "tokens": ("OAuth2AccessToken", ("id",)),
}
# A job's parent workflow, as the awx CLI's --monitor of a workflow filters unified jobs on it.
ALIASES = {"unified_job_node__workflow_job": "summary_fields__source_workflow_job__id"}


@dataclass
class Request:
    """One API request as the handlers see it."""

    simulator: object
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    user: dict | None
    public_url: str
    full_path: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def store(self):
        return self.simulator.store

    @property
    def now(self) -> float:
        return self.store.clock.now()

    def json(self) -> dict:
        return launch.parse_body(self.body)


def route(method: str, pattern: str):
    """Registers a handler for ``method`` on ``pattern`` (``{name}``: one path segment)."""
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

    def register(handler):
        ROUTES.append((method, regex, handler))
        return handler

    return register


def dispatch(req: Request):
    """Finds the route of ``req``; 404/405 as Django/DRF answer them."""
    allowed = []
    for method, regex, handler in ROUTES:
        match = regex.match(req.path)
        if not match:
            continue
        allowed.append(method)
        if method == req.method or (method == "GET" and req.method == "HEAD"):
            return handler(req, **match.groupdict())
    if allowed and req.method == "OPTIONS":
        return metadata.options(req, allowed)
    if allowed:
        raise method_not_allowed(req.method)
    raise not_found()


# -- helpers ---------------------------------------------------------------------------------
def _lookup(req: Request, kind: str, ident: str) -> dict:
    """By id, or by AWX named URL (``name`` or ``name++organization``)."""
    store = req.store
    if ident.isdigit():
        obj = store.get(kind, ident)
    else:
        from urllib.parse import unquote

        name, _, org_name = unquote(ident).partition("++")
        key = "username" if kind == "users" else "name"
        candidates = [o for o in store.all(kind) if o.get(key) == name]
        if org_name:
            org = store.find("organizations", org_name)
            candidates = [o for o in candidates if org and o.get("organization") == org["id"]]
        obj = candidates[0] if len(candidates) == 1 else None
    if obj is None:
        raise not_found()
    return obj


# Raw fields whose order is the order of their serialized value (the fast path sorts on them).
RAW_ORDERABLE = ("id", "name", "created", "modified", "organization", "kind", "username", "counter", "start_line")


def _ints(values: list[str], field_name: str) -> set[int]:
    wanted = set()
    for raw in values:
        for part in raw.split(","):
            try:
                wanted.add(int(part))
            except ValueError:
                raise APIError(400, {"detail": f"Field '{field_name}' expected a number but got '{part}'."}) from None
    return wanted


def _prefilter(req: Request, kind: str, objects: list[dict]) -> tuple[list[dict], set[str]]:
    """Narrows the stored objects before serializing them; returns them and the query keys fully applied.

    Only exact equivalents of the serialized filters are applied here (ansible-rulebook polls
    ``jobs/?id__in=...`` and receivers look jobs up by template or extra var: these stay cheap).
    """
    handled = set()
    for key, values in req.query.items():
        if key == "id" or key == "id__in":
            wanted = _ints(values, "id")
            if key == "id" and len(values) == 1 or key == "id__in" and len(values) == 1:
                objects = [o for o in objects if o["id"] in wanted]
                handled.add(key)
        elif key == "name" and len(values) == 1 and objects and "name" in objects[0]:
            objects = [o for o in objects if o.get("name") == values[0]]
            handled.add(key)
        elif key == "job_template" and kind == "jobs" and len(values) == 1:
            wanted = _ints(values, "job_template")
            objects = [o for o in objects if o.get("job_template") in wanted]
            handled.add(key)
        elif key == "extra_vars__icontains" and kind in ("jobs", "workflow_jobs") and len(values) == 1:
            if req.store.settings.strict_filters:
                raise APIError(403, {"detail": "Filtering on extra_vars is not allowed."})
            needle = values[0].lower()
            objects = [o for o in objects if needle in json.dumps(o.get("extra_vars", {})).lower()]
            handled.add(key)
    return objects, handled


def list_response(req: Request, kind: str, objects: list[dict] | None = None, model: str | None = None,
                  default_order: tuple[str, ...] | None = None, represent_fn=None):
    """Filter, order and paginate ``objects`` (all of ``kind`` by default)."""
    store = req.store
    model = model or LISTS[kind][0]
    default_order = default_order or LISTS[kind][1]
    objects = store.all(kind) if objects is None else objects
    objects, handled = _prefilter(req, kind, objects)
    now = req.now
    represent_fn = represent_fn or (lambda o: represent(store, kind, o, now, detail=False))
    order = [f for f in (req.query.get("order_by") or req.query.get("order") or [""])[-1].split(",") if f]
    order += list(default_order)
    rest = [k for k in req.query if k not in query.RESERVED and k not in handled]
    if (not rest and "search" not in req.query and "type" not in req.query
            and all(f.lstrip("-") in RAW_ORDERABLE and all(f.lstrip("-") in o for o in objects) for f in order)):
        # Fast path: order and paginate the stored objects, serialize only the page.
        for name in reversed(order):
            objects = sorted(objects, key=lambda o, n=name.lstrip("-"): (o[n] is None, 0 if o[n] is None else o[n]),
                             reverse=name.startswith("-"))
        page = query.paginate(objects, req.query, req.path)
        page["results"] = [represent_fn(o) for o in page["results"]]
        return 200, page
    items = [represent_fn(o) for o in objects]
    items = query.filter_items(items, req.query, model, store.settings.strict_filters, ALIASES)
    items = query.order_items(items, req.query, default_order, model)
    return 200, query.paginate(items, req.query, req.path)


def _detail(req: Request, kind: str, ident: str):
    obj = _lookup(req, kind, ident)
    return 200, represent(req.store, kind, obj, req.now, detail=True)


# -- roots, auth, config ---------------------------------------------------------------------
@route("GET", "/api/")
def api_root(req):
    return 200, {"description": "AWX REST API", "current_version": f"{V2}/", "available_versions": {"v2": f"{V2}/"},
                 "oauth2": "/api/o/", "custom_logo": "", "custom_login_info": "", "login_redirect_override": ""}


@route("GET", "/api/v2/")
def api_v2_root(req):
    names = ["ping", "config", "me", "organizations", "users", "execution_environments", "projects", "credentials",
             "credential_types", "tokens", "inventory", "job_templates", "jobs", "labels", "unified_job_templates",
             "unified_jobs", "workflow_job_templates", "workflow_jobs", "workflow_job_template_nodes",
             "workflow_job_nodes"]
    paths = {"inventory": "inventories"}
    return 200, {name: f"{V2}/{paths.get(name, name)}/" for name in names}


@route("GET", "/api/v2/ping/")
def ping(req):
    now = iso(req.now)
    return 200, {"ha": False, "version": VERSION, "active_node": "awx-sim", "install_uuid": req.simulator.install_uuid,
                 "instances": [{"node": "awx-sim", "node_type": "hybrid", "uuid": req.simulator.install_uuid,
                                "heartbeat": now, "capacity": 100, "version": VERSION}],
                 "instance_groups": [{"name": "controlplane", "capacity": 100, "instances": ["awx-sim"]},
                                     {"name": "default", "capacity": 100, "instances": ["awx-sim"]}]}


@route("GET", "/api/v2/config/")
def config(req):
    return 200, {"time_zone": "UTC", "license_info": {"license_type": "open", "valid_key": True, "subscription_name": "OPEN",
                                                      "product_name": "AWX"},
                 "version": VERSION, "eula": "", "analytics_status": "off", "analytics_collectors": {},
                 "become_methods": [["sudo", "Sudo"], ["su", "Su"]], "ui_next": False, "project_base_dir": "/var/lib/awx/projects",
                 "project_local_paths": [], "custom_virtualenvs": []}


@route("GET", "/api/v2/me/")
def me(req):
    return list_response(req, "users", [req.user])


@route("GET", "/api/login/")
def login_page(req):
    return 200, b"<html><body><form method='post'>AWX simulator login</form></body></html>", {"Content-Type": "text/html"}


@route("POST", "/api/login/")
def login(req):
    from urllib.parse import parse_qs

    form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
    user = req.simulator.check_password(form.get("username", ""), form.get("password", ""))
    if user is None:
        return 401, {"detail": "Invalid username/password."}
    session = req.simulator.new_session(user)
    headers = {"Location": form.get("next") or "/api/", "X-API-Session-Cookie-Name": "awx_sessionid",
               "Set-Cookie": f"awx_sessionid={session}; HttpOnly; Path=/; SameSite=Lax"}
    return 302, None, headers


@route("GET", "/api/logout/")
def logout(req):
    return 302, None, {"Location": "/api/", "Set-Cookie": "awx_sessionid=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"}


@route("GET", "/api/v2/tokens/")
def tokens_list(req):
    return list_response(req, "tokens")


def _create_token(req):
    body = req.json()
    tok = req.store.new_token(req.user["id"], str(body.get("description", "")), body.get("scope") or "write")
    return 201, token_repr(req.store, tok, req.now, reveal=True)


@route("POST", "/api/v2/tokens/")
def tokens_create(req):
    return _create_token(req)


@route("POST", "/api/v2/users/{ident}/personal_tokens/")
def personal_tokens_create(req, ident):
    _lookup(req, "users", ident)
    return _create_token(req)


@route("GET", "/api/v2/tokens/{ident}/")
def token_detail(req, ident):
    return _detail(req, "tokens", ident)


@route("DELETE", "/api/v2/tokens/{ident}/")
def token_delete(req, ident):
    tok = _lookup(req, "tokens", ident)
    del req.store.data["tokens"][tok["id"]]
    return 204, None


# -- plain resources -------------------------------------------------------------------------
def _simple(kind: str):
    def list_view(req):
        return list_response(req, kind)

    def detail_view(req, ident):
        return _detail(req, kind, ident)

    route("GET", f"/api/v2/{kind}/")(list_view)
    route("GET", f"/api/v2/{kind}/{{ident}}/")(detail_view)


for _kind in ("organizations", "inventories", "credential_types", "credentials", "projects", "execution_environments",
              "labels", "users", "workflow_job_template_nodes", "workflow_job_nodes"):
    _simple(_kind)


@route("POST", "/api/v2/labels/")
def labels_create(req):
    body = req.json()
    errors = {}
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["This field is required."] if not name else ["Not a valid string."]
    org = body.get("organization")
    if org is None:
        errors["organization"] = ["This field is required."]
    elif req.store.get("organizations", org) is None:
        errors["organization"] = [f'Invalid pk "{org}" - object does not exist.']
    if not errors and any(lab["name"] == name and lab["organization"] == int(org) for lab in req.store.all("labels")):
        errors["__all__"] = ["Label with this Name and Organization already exists."]
    if errors:
        raise APIError(400, errors)
    lab = req.store.add("labels", {"name": name, "organization": int(org)})
    return 201, represent(req.store, "labels", lab, req.now)


@route("GET", "/api/v2/organizations/{ident}/{sub}/")
def organization_sublist(req, ident, sub):
    org = _lookup(req, "organizations", ident)
    if sub not in ("inventories", "credentials", "projects", "job_templates", "workflow_job_templates", "labels",
                   "execution_environments"):
        raise not_found()
    return list_response(req, sub, [o for o in req.store.all(sub) if o.get("organization") == org["id"]])


# -- job templates ---------------------------------------------------------------------------
@route("GET", "/api/v2/job_templates/")
def job_templates_list(req):
    return list_response(req, "job_templates")


@route("GET", "/api/v2/job_templates/{ident}/")
def job_template_detail(req, ident):
    return _detail(req, "job_templates", ident)


@route("GET", "/api/v2/job_templates/{ident}/launch/")
def job_template_launch_info(req, ident):
    return 200, launch.launch_info(req.store, _lookup(req, "job_templates", ident))


@route("POST", "/api/v2/job_templates/{ident}/launch/")
def job_template_launch(req, ident):
    return _launch(req, "job_templates", ident)


@route("GET", "/api/v2/job_templates/{ident}/jobs/")
def job_template_jobs(req, ident):
    jt = _lookup(req, "job_templates", ident)
    return list_response(req, "jobs", [j for j in req.store.all("jobs") if j["job_template"] == jt["id"]])


@route("GET", "/api/v2/job_templates/{ident}/slice_workflow_jobs/")
def job_template_slices(req, ident):
    _lookup(req, "job_templates", ident)
    return list_response(req, "workflow_jobs", [])


@route("GET", "/api/v2/job_templates/{ident}/labels/")
def job_template_labels(req, ident):
    jt = _lookup(req, "job_templates", ident)
    return list_response(req, "labels", [req.store.get("labels", i) for i in jt.get("labels", [])])


@route("GET", "/api/v2/job_templates/{ident}/credentials/")
def job_template_credentials(req, ident):
    jt = _lookup(req, "job_templates", ident)
    return list_response(req, "credentials", [req.store.get("credentials", i) for i in jt.get("credentials", [])])


@route("GET", "/api/v2/job_templates/{ident}/survey_spec/")
def job_template_survey(req, ident):
    return 200, _lookup(req, "job_templates", ident).get("survey_spec") or {}


# -- workflow job templates ------------------------------------------------------------------
@route("GET", "/api/v2/workflow_job_templates/")
def workflow_templates_list(req):
    return list_response(req, "workflow_job_templates")


@route("GET", "/api/v2/workflow_job_templates/{ident}/")
def workflow_template_detail(req, ident):
    return _detail(req, "workflow_job_templates", ident)


@route("GET", "/api/v2/workflow_job_templates/{ident}/launch/")
def workflow_launch_info(req, ident):
    return 200, launch.launch_info(req.store, _lookup(req, "workflow_job_templates", ident), workflow=True)


@route("POST", "/api/v2/workflow_job_templates/{ident}/launch/")
def workflow_launch(req, ident):
    return _launch(req, "workflow_job_templates", ident)


@route("GET", "/api/v2/workflow_job_templates/{ident}/workflow_jobs/")
def workflow_template_jobs(req, ident):
    wfjt = _lookup(req, "workflow_job_templates", ident)
    return list_response(req, "workflow_jobs",
                         [j for j in req.store.all("workflow_jobs") if j["workflow_job_template"] == wfjt["id"]])


@route("GET", "/api/v2/workflow_job_templates/{ident}/workflow_nodes/")
def workflow_template_nodes(req, ident):
    wfjt = _lookup(req, "workflow_job_templates", ident)
    return list_response(req, "workflow_job_template_nodes",
                         [n for n in req.store.all("workflow_job_template_nodes") if n["workflow_job_template"] == wfjt["id"]])


def _launch(req: Request, kind: str, ident: str):
    """POST .../launch/: the job is created, recorded, then answered (or the answer is lost)."""
    store, sim = req.store, req.simulator
    record = sim.record_launch(kind, ident, req.body)
    try:
        template = _lookup(req, kind, ident)
        record.update({"template_id": template["id"], "template_name": template["name"]})
        body = req.json()
        workflow = kind == "workflow_job_templates"
        if workflow:
            new, ignored, _ = launch.launch_workflow(store, template, body, req.user)
        else:
            new, ignored, _ = launch.launch_job_template(store, template, body, req.user)
    except APIError as exc:
        record.update({"status": exc.status, "error": exc.body, "answered": True})
        raise
    job_kind = "workflow_jobs" if workflow else "jobs"
    jobs.advance_workflows(store)
    data = {("workflow_job" if workflow else "job"): new["id"], "ignored_fields": ignored}
    data.update(represent(store, job_kind, new, req.now, detail=True))
    record.update({"status": 201, "job": new["id"], "job_type": "workflow_job" if workflow else "job",
                   "ignored_fields": ignored})
    if sim.faults.take_lost_answer():
        record["answered"] = False
        return DROP
    record["answered"] = True
    return 201, data, {"Location": req.public_url + url(job_kind, new["id"])}


# -- jobs ------------------------------------------------------------------------------------
@route("GET", "/api/v2/jobs/")
def jobs_list(req):
    return list_response(req, "jobs")


@route("GET", "/api/v2/jobs/{ident}/")
def job_detail(req, ident):
    return _detail(req, "jobs", ident)


@route("GET", "/api/v2/jobs/{ident}/stdout/")
def job_stdout(req, ident):
    job = _lookup(req, "jobs", ident)
    text = jobs.stdout_text(req.store, job, req.now)
    fmt = (req.query.get("format") or ["json"])[-1]
    if fmt in ("txt", "ansi"):
        return 200, text.encode(), {"Content-Type": "text/plain; charset=utf-8"}
    if fmt in ("txt_download", "ansi_download"):
        return 200, text.encode(), {"Content-Type": "text/plain; charset=utf-8",
                                    "Content-Disposition": f'attachment; filename="job_{job["id"]}.txt"'}
    if fmt == "html":
        return 200, f"<html><body><pre>{text}</pre></body></html>".encode(), {"Content-Type": "text/html"}
    lines = text.count("\n") + 1 if text else 0
    return 200, {"range": {"start": 0, "end": lines, "absolute_end": lines}, "content": text}


@route("GET", "/api/v2/jobs/{ident}/job_events/")
def job_events(req, ident):
    job = _lookup(req, "jobs", ident)
    now = req.now
    visible = jobs.events(req.store, job, now)
    return list_response(req, "job_events", visible, model="JobEvent", default_order=("counter",),
                         represent_fn=lambda e: job_event_repr(req.store, job, e, now))


@route("GET", "/api/v2/jobs/{ident}/job_host_summaries/")
def job_host_summaries(req, ident):
    job = _lookup(req, "jobs", ident)
    current = jobs.state(job, req.now)
    if current["status"] not in ("successful", "failed"):
        summaries = []
    else:
        failed = current["status"] == "failed"
        summaries = [{"id": job["id"], "type": "job_host_summary", "url": url("job_host_summaries", job["id"]),
                      "related": {"job": url("jobs", job["id"])}, "summary_fields": {},
                      "created": iso(current["finished"]), "modified": iso(current["finished"]), "job": job["id"],
                      "host": None, "constructed_host": None, "host_name": "localhost", "changed": 0, "dark": 0,
                      "failures": int(failed), "ok": int(not failed), "processed": 1, "skipped": 0,
                      "failed": failed, "ignored": 0, "rescued": 0}]
    return list_response(req, "job_host_summaries", summaries, model="JobHostSummary", default_order=("id",),
                         represent_fn=lambda s: s)


@route("GET", "/api/v2/jobs/{ident}/labels/")
def job_labels(req, ident):
    job = _lookup(req, "jobs", ident)
    return list_response(req, "labels", [req.store.get("labels", i) for i in job.get("labels", [])])


@route("GET", "/api/v2/jobs/{ident}/credentials/")
def job_credentials(req, ident):
    job = _lookup(req, "jobs", ident)
    return list_response(req, "credentials", [req.store.get("credentials", i) for i in job.get("credentials", [])])


def _cancel_info(req, kind, ident):
    job = _lookup(req, kind, ident)
    return 200, {"can_cancel": jobs.job_state(req.store, job, req.now)["status"] not in jobs.TERMINAL}


def _cancel(req, kind, ident):
    job = _lookup(req, kind, ident)
    if not jobs.cancel(req.store, job):
        raise method_not_allowed("POST")
    return 202, None


@route("GET", "/api/v2/jobs/{ident}/cancel/")
def job_cancel_info(req, ident):
    return _cancel_info(req, "jobs", ident)


@route("POST", "/api/v2/jobs/{ident}/cancel/")
def job_cancel(req, ident):
    return _cancel(req, "jobs", ident)


# -- workflow jobs ---------------------------------------------------------------------------
@route("GET", "/api/v2/workflow_jobs/")
def workflow_jobs_list(req):
    return list_response(req, "workflow_jobs")


@route("GET", "/api/v2/workflow_jobs/{ident}/")
def workflow_job_detail(req, ident):
    return _detail(req, "workflow_jobs", ident)


@route("GET", "/api/v2/workflow_jobs/{ident}/workflow_nodes/")
def workflow_job_nodes(req, ident):
    wf = _lookup(req, "workflow_jobs", ident)
    return list_response(req, "workflow_job_nodes", jobs.nodes_of(req.store, wf))


@route("GET", "/api/v2/workflow_jobs/{ident}/cancel/")
def workflow_cancel_info(req, ident):
    return _cancel_info(req, "workflow_jobs", ident)


@route("POST", "/api/v2/workflow_jobs/{ident}/cancel/")
def workflow_cancel(req, ident):
    return _cancel(req, "workflow_jobs", ident)


# -- unified views ---------------------------------------------------------------------------
@route("GET", "/api/v2/unified_job_templates/")
def unified_job_templates(req):
    store, now = req.store, req.now
    objects = [("job_templates", o) for o in store.all("job_templates")]
    objects += [("workflow_job_templates", o) for o in store.all("workflow_job_templates")]
    objects += [("projects", o) for o in store.all("projects")]
    by_key = {(kind, o["id"]): (kind, o) for kind, o in objects}
    return list_response(req, "unified_job_templates",
                         [{"id": o["id"], "name": o["name"], "_key": (k, o["id"])} for k, o in objects],
                         model="UnifiedJobTemplate", default_order=("name",),
                         represent_fn=lambda ref: represent(store, *by_key[ref["_key"]], now))


@route("GET", "/api/v2/unified_jobs/")
def unified_jobs(req):
    store, now = req.store, req.now
    refs = [{"id": j["id"], "name": j["name"], "_kind": "jobs"} for j in store.all("jobs")]
    refs += [{"id": j["id"], "name": j["name"], "_kind": "workflow_jobs"} for j in store.all("workflow_jobs")]
    return list_response(req, "unified_jobs", refs, model="UnifiedJob", default_order=("id",),
                         represent_fn=lambda ref: represent(store, ref["_kind"], store.get(ref["_kind"], ref["id"]),
                                                            now, detail=False))


def body_bytes(payload) -> tuple[bytes, str | None]:
    """Encodes a handler's answer body: JSON for dicts/lists, bytes as they are."""
    if payload is None:
        return b"", None
    if isinstance(payload, bytes):
        return payload, None
    return json.dumps(payload).encode(), "application/json"
