"""The objects a fresh simulator holds, read from the project's ``awx/objects.yml``.

What AWX itself creates at install (the ``Default`` organization, the admin
user, the built-in ``Machine`` credential type) is there too, then what
``awx/apply.yml`` would create from ``objects.yml``: organization ``STOA``,
project, execution environment, inventories, credential types, one job
template per ``awx_job_templates`` entry (with ``awx_job_template_defaults``)
and the workflows. Credentials are not in ``objects.yml`` (they hold
secrets); the simulator seeds the ones ``docs/awx.md`` names, one per type and
environment (``gateway dev``, ``vault prod``, ``kafka``, ``gitops``...).
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ENVIRONMENTS = ("dev", "staging", "prod")
DEFAULT_OBJECTS_FILE = Path(__file__).resolve().parent.parent / "awx" / "objects.yml"
# docs/awx.md: "one credential per type and environment (for example `gateway prod`)".
CREDENTIALS = [
    ("gateway {env}", "STOA webMethods Gateway"),
    ("keycloak {env}", "STOA Keycloak admin"),
    ("vault {env}", "STOA Vault AppRole"),
]
SHARED_CREDENTIALS = [("kafka", "STOA Kafka"), ("gitops", "STOA GitOps over HTTPS")]


class _UnsafeLoader(yaml.SafeLoader):
    """SafeLoader that reads Ansible's ``!unsafe`` tag as the plain string it wraps."""


_UnsafeLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_objects(path: str | Path | None = None) -> dict:
    """Parses ``awx/objects.yml`` (``!unsafe`` strings kept verbatim)."""
    path = Path(path) if path else DEFAULT_OBJECTS_FILE
    if not path.exists() and not Path(path).is_absolute():
        path = Path.cwd() / path
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_UnsafeLoader)  # noqa: S506 - SafeLoader subclass


def _render(value):
    """The default of a ``{{ lookup(...) | default('x', true) }}`` expression, else the value."""
    if isinstance(value, str) and "{{" in value:
        match = re.search(r"default\(\s*'([^']*)'", value)
        if match:
            return match.group(1)
    return value


def seed(store, objects: dict | None) -> None:
    """Fills an empty store. ``objects`` is ``load_objects()``'s result, or None for AWX's bare install."""
    store.add("users", {"username": store.admin_username, "first_name": "", "last_name": "",
                                "email": "admin@example.com", "is_superuser": True, "is_system_auditor": False})
    store.add("organizations", {"name": "Default", "description": "", "max_hosts": 0})
    store.add("credential_types", {"name": "Machine", "kind": "ssh", "namespace": "ssh", "managed": True,
                                   "inputs": {}, "injectors": {}})
    if not objects:
        return

    org_spec = objects.get("awx_organization") or {"name": "STOA"}
    org = store.add("organizations", {"name": org_spec["name"], "description": org_spec.get("description", ""),
                                      "max_hosts": 0})
    project = None
    if objects.get("awx_project"):
        spec = objects["awx_project"]
        project = store.add("projects", {
            "name": spec["name"], "description": spec.get("description", ""), "organization": org["id"],
            "scm_type": spec.get("scm_type", "git"), "scm_url": _render(spec.get("scm_url", "")),
            "scm_branch": spec.get("scm_branch", ""), "scm_update_on_launch": bool(spec.get("scm_update_on_launch")),
            "allow_override": bool(spec.get("allow_override", False)), "status": "successful"})
    ee = None
    if objects.get("awx_execution_environment"):
        spec = objects["awx_execution_environment"]
        ee = store.add("execution_environments", {"name": spec["name"], "image": _render(spec.get("image", "")),
                                                  "organization": org["id"], "pull": ""})
    for spec in objects.get("awx_inventories", []):
        store.add("inventories", {"name": spec["name"], "description": spec.get("description", ""),
                                  "organization": org["id"], "kind": "", "variables": "", "source": spec.get("source")})
    types = {}
    for spec in objects.get("awx_credential_types", []):
        types[spec["name"]] = store.add("credential_types", {
            "name": spec["name"], "description": spec.get("description", ""), "kind": spec.get("kind", "cloud"),
            "namespace": None, "managed": False, "inputs": spec.get("inputs", {}), "injectors": spec.get("injectors", {})})
    for pattern, type_name in CREDENTIALS:
        for env in ENVIRONMENTS:
            if type_name in types:
                store.add("credentials", {"name": pattern.format(env=env), "credential_type": types[type_name]["id"],
                                          "organization": org["id"], "kind": types[type_name]["kind"]})
    for name, type_name in SHARED_CREDENTIALS:
        if type_name in types:
            store.add("credentials", {"name": name, "credential_type": types[type_name]["id"],
                                      "organization": org["id"], "kind": types[type_name]["kind"]})

    defaults = objects.get("awx_job_template_defaults", {})
    for spec in objects.get("awx_job_templates", []):
        fields = {key: spec[key] for key in spec if key not in ("credential_types", "survey")}
        fields.setdefault("inventory", defaults.get("inventory"))
        for ask in ("ask_variables_on_launch", "ask_inventory_on_launch", "ask_credential_on_launch"):
            fields.setdefault(ask, defaults.get(ask, False))
        if spec.get("survey"):
            fields["survey_enabled"] = True
            fields["survey_spec"] = spec["survey"]
        fields["organization"] = org["id"]
        fields["project"] = project["id"] if project else None
        fields["execution_environment"] = ee["id"] if ee else None
        add_job_template(store, fields)

    for spec in objects.get("awx_workflows", []):
        wfjt = add_workflow_job_template(store, {
            "name": spec["name"], "description": spec.get("description", ""), "organization": org["id"],
            "ask_variables_on_launch": bool(spec.get("ask_variables_on_launch")),
            "ask_inventory_on_launch": bool(spec.get("ask_inventory_on_launch"))})
        nodes = {}
        for node in spec.get("nodes", []):
            jt = store.find("job_templates", node["job_template"])
            nodes[node["identifier"]] = store.add("workflow_job_template_nodes", {
                "workflow_job_template": wfjt["id"], "unified_job_template": jt["id"] if jt else None,
                "identifier": node["identifier"], "success_nodes": [], "failure_nodes": [], "always_nodes": []})
        for node in spec.get("nodes", []):
            for outcome in ("success", "failure", "always"):
                for target in node.get(outcome, []):
                    nodes[node["identifier"]][f"{outcome}_nodes"].append(nodes[target]["id"])


JOB_TEMPLATE_DEFAULTS = {
    "description": "", "job_type": "run", "inventory": None, "project": None, "playbook": "", "scm_branch": "",
    "forks": 0, "limit": "", "verbosity": 0, "extra_vars": "", "job_tags": "", "force_handlers": False,
    "skip_tags": "", "start_at_task": "", "timeout": 0, "use_fact_cache": False, "organization": None,
    "execution_environment": None, "host_config_key": "", "survey_enabled": False, "survey_spec": {},
    "become_enabled": False, "diff_mode": False, "allow_simultaneous": False, "job_slice_count": 1,
    "webhook_service": "", "webhook_credential": None, "prevent_instance_group_fallback": False,
    "credentials": [], "labels": [], "instance_groups": [],
    # Not AWX fields: the simulated outcome and durations of this template's jobs (None: the global setting).
    "sim_outcome": None, "sim_pending_seconds": None, "sim_running_seconds": None,
}
ASK_FIELDS = (
    "ask_scm_branch_on_launch", "ask_diff_mode_on_launch", "ask_variables_on_launch", "ask_limit_on_launch",
    "ask_tags_on_launch", "ask_skip_tags_on_launch", "ask_job_type_on_launch", "ask_verbosity_on_launch",
    "ask_inventory_on_launch", "ask_credential_on_launch", "ask_execution_environment_on_launch",
    "ask_labels_on_launch", "ask_forks_on_launch", "ask_job_slice_count_on_launch", "ask_timeout_on_launch",
    "ask_instance_groups_on_launch",
)
WORKFLOW_DEFAULTS = {
    "description": "", "extra_vars": "", "organization": None, "survey_enabled": False, "survey_spec": {},
    "allow_simultaneous": False, "inventory": None, "limit": None, "scm_branch": None, "skip_tags": None,
    "job_tags": None, "webhook_service": "", "webhook_credential": None, "labels": [],
    "sim_outcome": None, "sim_pending_seconds": None, "sim_running_seconds": None,
}
WORKFLOW_ASK_FIELDS = ("ask_variables_on_launch", "ask_inventory_on_launch", "ask_scm_branch_on_launch",
                       "ask_limit_on_launch", "ask_labels_on_launch", "ask_skip_tags_on_launch", "ask_tags_on_launch")


def _resolve_refs(store, fields: dict, refs: dict[str, str]) -> dict:
    for field_name, kind in refs.items():
        value = fields.get(field_name)
        if value is None or isinstance(value, int):
            continue
        if isinstance(value, list):
            resolved = []
            for item in value:
                found = store.find(kind, item)
                if not found:
                    raise ValueError(f"{field_name}: no {kind} named {item!r}")
                resolved.append(found["id"])
            fields[field_name] = resolved
            continue
        found = store.find(kind, value)
        if not found:
            raise ValueError(f"{field_name}: no {kind} named {value!r}")
        fields[field_name] = found["id"]
    return fields


JT_REFS = {"inventory": "inventories", "project": "projects", "organization": "organizations",
           "execution_environment": "execution_environments", "credentials": "credentials", "labels": "labels"}


def normalise_job_template(store, fields: dict, base: dict | None = None) -> dict:
    """A job template record from AWX field names; references may be names or ids."""
    unknown = set(fields) - set(JOB_TEMPLATE_DEFAULTS) - set(ASK_FIELDS) - {"name", "id"}
    if unknown:
        raise ValueError(f"unknown job template fields: {', '.join(sorted(unknown))}")
    record = dict(base) if base else {**JOB_TEMPLATE_DEFAULTS, **{ask: False for ask in ASK_FIELDS}}
    record.update({k: v for k, v in fields.items() if k != "id"})
    if not record.get("name"):
        raise ValueError("name is required")
    if isinstance(record["extra_vars"], dict):
        record["extra_vars"] = yaml.safe_dump(record["extra_vars"], sort_keys=False) if record["extra_vars"] else ""
    if record.get("sim_outcome") not in (None, "successful", "failed", "error"):
        raise ValueError("sim_outcome is successful, failed or error")
    return _resolve_refs(store, record, JT_REFS)


def add_job_template(store, fields: dict) -> dict:
    """Adds a job template (organization defaults to the first non-Default one)."""
    with store.lock:
        if fields.get("organization") is None:
            orgs = [o for o in store.all("organizations") if o["name"] != "Default"] or store.all("organizations")
            fields = {**fields, "organization": orgs[0]["id"]}
        if fields.get("project") is None and store.all("projects"):
            fields = {**fields, "project": store.all("projects")[0]["id"]}
        record = normalise_job_template(store, fields)
        if any(jt["name"] == record["name"] and jt["organization"] == record["organization"]
               for jt in store.all("job_templates")):
            raise ValueError(f"job template {record['name']!r} already exists in this organization")
        return store.add("job_templates", record)


def add_workflow_job_template(store, fields: dict) -> dict:
    """Adds a workflow job template (nodes are added separately)."""
    unknown = set(fields) - set(WORKFLOW_DEFAULTS) - set(WORKFLOW_ASK_FIELDS) - {"name"}
    if unknown:
        raise ValueError(f"unknown workflow job template fields: {', '.join(sorted(unknown))}")
    record = {**WORKFLOW_DEFAULTS, **{ask: False for ask in WORKFLOW_ASK_FIELDS}, **fields}
    _resolve_refs(store, record, {"inventory": "inventories", "organization": "organizations", "labels": "labels"})
    return store.add("workflow_job_templates", record)
