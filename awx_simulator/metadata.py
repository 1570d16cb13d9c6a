"""``OPTIONS`` answers: the field metadata the ``awx`` CLI builds its arguments from.

The awx CLI asks ``OPTIONS`` of a list view (``actions.GET`` gives the
``list`` filters, ``actions.POST`` the ``create`` arguments), of ``<list>/1/``
(only its ``Allow`` header: ``modify``/``delete`` exist when PUT/DELETE are
allowed) and of ``job_templates/1/launch/`` (``actions.POST``: the launch
arguments). Shapes follow ``awx/api/metadata.py``; field types are inferred
from a serialized object.
"""
from __future__ import annotations

import re

from .serializers import represent

DATETIMES = ("created", "modified", "started", "finished", "canceled_on", "last_job_run", "next_job_run", "expires",
             "last_login", "last_updated")
FOREIGN_KEYS = ("inventory", "project", "organization", "execution_environment", "job_template", "unified_job_template",
                "workflow_job_template", "webhook_credential", "credential_type", "instance_group", "user",
                "application", "credential", "job", "workflow_job", "host", "default_environment",
                "signature_validation_credential", "constructed_host")
JSON_FIELDS = ("extra_vars", "variables", "job_env", "artifacts", "inputs", "injectors", "extra_data", "event_data",
               "host_status_counts", "playbook_counts", "launched_by")
NOT_FILTERABLE = ("url", "related", "summary_fields", "launched_by", "host_status_counts", "playbook_counts",
                  "passwords_needed_to_start", "artifacts", "custom_virtualenv", "event_display", "event_level")
VERBOSITY = [[0, "0 (Normal)"], [1, "1 (Verbose)"], [2, "2 (More Verbose)"], [3, "3 (Debug)"],
             [4, "4 (Connection Debug)"], [5, "5 (WinRM Debug)"]]
STATUSES = [["new", "New"], ["pending", "Pending"], ["waiting", "Waiting"], ["running", "Running"],
            ["successful", "Successful"], ["failed", "Failed"], ["error", "Error"], ["canceled", "Canceled"]]
CHOICES = {
    "job_type": [["run", "Run"], ["check", "Check"]], "verbosity": VERBOSITY, "status": STATUSES,
    "launch_type": [["manual", "Manual"], ["relaunch", "Relaunch"], ["callback", "Callback"], ["scheduled", "Scheduled"],
                    ["dependency", "Dependency"], ["workflow", "Workflow"], ["webhook", "Webhook"], ["sync", "Sync"],
                    ["scm", "SCM Update"]],
    "webhook_service": [["github", "GitHub"], ["gitlab", "GitLab"], ["bitbucket_dc", "BitBucket DataCenter"]],
}
NAMES = {
    "organizations": ("Organizations", "organization"), "inventories": ("Inventories", "inventory"),
    "credentials": ("Credentials", "credential"), "credential_types": ("Credential Types", "credential_type"),
    "projects": ("Projects", "project"), "labels": ("Labels", "label"), "users": ("Users", "user"),
    "execution_environments": ("Execution Environments", "execution_environment"),
    "job_templates": ("Job Templates", "job_template"), "jobs": ("Jobs", "job"),
    "workflow_job_templates": ("Workflow Job Templates", "workflow_job_template"),
    "workflow_jobs": ("Workflow Jobs", "workflow_job"), "tokens": ("Access Tokens", "o_auth2_access_token"),
    "workflow_job_template_nodes": ("Workflow Job Template Nodes", "workflow_job_template_node"),
    "workflow_job_nodes": ("Workflow Job Nodes", "workflow_job_node"),
}

LAUNCH_POST = {
    "extra_vars": {"type": "json", "required": False, "label": "Extra vars"},
    "inventory": {"type": "id", "required": False, "label": "Inventory"},
    "scm_branch": {"type": "string", "required": False, "label": "Scm branch"},
    "limit": {"type": "string", "required": False, "label": "Limit"},
    "job_tags": {"type": "string", "required": False, "label": "Job tags"},
    "skip_tags": {"type": "string", "required": False, "label": "Skip tags"},
    "job_type": {"type": "choice", "required": False, "label": "Job type", "choices": CHOICES["job_type"]},
    "verbosity": {"type": "choice", "required": False, "label": "Verbosity", "choices": VERBOSITY},
    "diff_mode": {"type": "boolean", "required": False, "label": "Diff mode"},
    "credentials": {"type": "list_of_ids", "required": False, "label": "Credentials"},
    "credential_passwords": {"type": "json", "required": False, "label": "Credential passwords"},
    "execution_environment": {"type": "id", "required": False, "label": "Execution environment"},
    "labels": {"type": "list_of_ids", "required": False, "label": "Labels"},
    "forks": {"type": "integer", "required": False, "label": "Forks", "min_value": 0},
    "job_slice_count": {"type": "integer", "required": False, "label": "Job slice count", "min_value": 0},
    "timeout": {"type": "integer", "required": False, "label": "Timeout"},
    "instance_groups": {"type": "list_of_ids", "required": False, "label": "Instance groups"},
}
WORKFLOW_LAUNCH_POST = {name: LAUNCH_POST[name] for name in
                        ("extra_vars", "inventory", "limit", "scm_branch", "labels", "skip_tags", "job_tags")}
LABEL_POST = {"name": {"type": "string", "required": True, "label": "Name", "max_length": 512},
              "organization": {"type": "id", "required": True, "label": "Organization",
                               "help_text": "Organization this label belongs to."}}


def _field_info(name: str, value) -> dict:
    if name == "type":
        kind = "choice"
    elif name in DATETIMES:
        kind = "datetime"
    elif name in ("related", "summary_fields"):
        kind = "object"
    elif name in FOREIGN_KEYS:
        kind = "id"
    elif name in JSON_FIELDS:
        kind = "json"
    elif name in CHOICES:
        kind = "choice"
    elif isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int):
        kind = "integer"
    elif isinstance(value, float):
        kind = "float"
    elif isinstance(value, (dict, list)):
        kind = "field"
    else:
        kind = "string"
    info = {"type": kind, "label": name.replace("_", " ").capitalize() if name != "id" else "ID",
            "filterable": name not in NOT_FILTERABLE}
    if name in CHOICES:
        info["choices"] = CHOICES[name]
    return info


def _sample(req, kind: str) -> dict | None:
    store = req.store
    objects = store.all(kind)
    if objects:
        return represent(store, kind, objects[0], req.now, detail=False)
    if kind == "jobs":
        now = req.now
        fake = {"id": 0, "name": "", "created": now, "modified": now, "job_template": 0, "unified_job_template": 0,
                "launch_type": "manual", "launched_by": 0, "extra_vars": {}, "start_at": now + 1, "finish_at": now + 2,
                "canceled_at": None, "outcome": "successful", "credentials": [], "labels": []}
        return represent(store, "jobs", fake, now, detail=False)
    return None


def options(req, allowed: list[str]):
    """(200, metadata, {"Allow": ...}) for the path of ``req``."""
    methods = sorted(set(allowed) | {"OPTIONS"} | ({"HEAD"} if "GET" in allowed else set()),
                     key=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].index)
    headers = {"Allow": ", ".join(methods)}
    path = req.path
    body = {"name": "", "description": "", "renders": ["application/json", "text/html"],
            "parses": ["application/json"]}
    launch = re.match(r"^/api/v2/(job_templates|workflow_job_templates)/[^/]+/launch/$", path)
    listing = re.match(r"^/api/v2/([a-z_]+)/$", path)
    detail = re.match(r"^/api/v2/([a-z_]+)/[^/]+/$", path)
    if launch:
        workflow = launch.group(1) == "workflow_job_templates"
        body.update({"name": "Workflow Job Template Launch" if workflow else "Job Template Launch",
                     "actions": {"POST": WORKFLOW_LAUNCH_POST if workflow else LAUNCH_POST}})
        return 200, body, headers
    match = listing or detail
    kind = match.group(1) if match else None
    if kind == "inventory":
        kind = "inventories"
    if kind in NAMES:
        title, type_name = NAMES[kind]
        sample = _sample(req, kind)
        fields = {name: _field_info(name, value) for name, value in (sample or {}).items()}
        if listing:
            body["name"] = title
            body["actions"] = {"GET": fields}
            if kind == "labels":
                body["actions"]["POST"] = LABEL_POST
            body["types"] = [type_name]
            body["search_fields"] = ["name", "description"]
            body["max_page_size"] = 200
        else:
            body["name"] = title[:-1] if title.endswith("s") else title
            body["actions"] = {"GET": fields}
            body["types"] = [type_name]
    return 200, body, headers
