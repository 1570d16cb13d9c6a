"""The JSON of each object, with the fields, ``related`` links and ``summary_fields`` AWX 24.6.1 gives.

Field lists follow ``awx/api/serializers.py`` at tag 24.6.1 (``JobTemplateSerializer``,
``JobSerializer``/``JobListSerializer``/``JobDetailSerializer``, ``WorkflowJob*``,
``JobEventSerializer``...). Values AWX computes from things the simulator does
not have (hosts, RBAC roles, notification templates) are constant and plausible.
"""
from __future__ import annotations

import json

from . import jobs
from .store import iso

V2 = "/api/v2"
CAPABILITIES = {"edit": True, "delete": True, "start": True, "schedule": True, "copy": True}


def url(kind: str, obj_id) -> str:
    return f"{V2}/{kind}/{obj_id}/"


def _base(obj: dict, type_name: str, kind: str) -> dict:
    return {"id": obj["id"], "type": type_name, "url": url(kind, obj["id"]), "related": {}, "summary_fields": {},
            "created": iso(obj["created"]), "modified": iso(obj["modified"]),
            "name": obj.get("name", ""), "description": obj.get("description", "")}


def _summary(store, kind: str, obj_id, *extra: str) -> dict | None:
    obj = store.get(kind, obj_id) if obj_id is not None else None
    if obj is None:
        return None
    data = {"id": obj["id"], "name": obj["name"], "description": obj.get("description", "")}
    for name in extra:
        data[name] = obj.get(name)
    return data


def _user_summary(store, user_id) -> dict | None:
    user = store.get("users", user_id)
    if not user:
        return None
    return {"id": user["id"], "username": user["username"], "first_name": user.get("first_name", ""),
            "last_name": user.get("last_name", "")}


def _inventory_summary(store, inventory_id) -> dict | None:
    inv = store.get("inventories", inventory_id) if inventory_id is not None else None
    if inv is None:
        return None
    return {"id": inv["id"], "name": inv["name"], "description": inv.get("description", ""),
            "has_active_failures": False, "total_hosts": 1, "hosts_with_active_failures": 0, "total_groups": 0,
            "has_inventory_sources": bool(inv.get("source")), "total_inventory_sources": 1 if inv.get("source") else 0,
            "inventory_sources_with_failures": 0, "organization_id": inv.get("organization"), "kind": inv.get("kind", "")}


def _labels(store, ids) -> dict:
    labels = [store.get("labels", i) for i in ids]
    results = [{"id": label["id"], "name": label["name"]} for label in labels if label]
    return {"count": len(results), "results": results[:10]}


def _credentials(store, ids) -> list[dict]:
    result = []
    for cred_id in ids:
        cred = store.get("credentials", cred_id)
        if cred:
            ctype = store.get("credential_types", cred["credential_type"]) or {}
            result.append({"id": cred["id"], "name": cred["name"], "description": cred.get("description", ""),
                           "kind": cred.get("kind", ctype.get("kind", "")), "cloud": ctype.get("kind") == "cloud"})
    return result


def _put(target: dict, key: str, value) -> None:
    if value is not None:
        target[key] = value


def _common_summaries(store, obj: dict, data: dict) -> None:
    summary = data["summary_fields"]
    _put(summary, "organization", _summary(store, "organizations", obj.get("organization")))
    _put(summary, "inventory", _inventory_summary(store, obj.get("inventory")))
    _put(summary, "execution_environment", _summary(store, "execution_environments", obj.get("execution_environment"), "image"))
    _put(summary, "project", _summary(store, "projects", obj.get("project"), "status", "scm_type", "allow_override"))


def _jobs_of(store, template: dict, kind: str, field: str) -> list[dict]:
    return sorted((j for j in store.all(kind) if j.get(field) == template["id"]), key=lambda j: j["created"], reverse=True)


def _template_jobs(store, template: dict) -> list[dict]:
    if "playbook" in template:
        return _jobs_of(store, template, "jobs", "job_template")
    return _jobs_of(store, template, "workflow_jobs", "workflow_job_template")


def _template_status(store, template: dict, now: float, data: dict) -> None:
    recent = _template_jobs(store, template)
    data["summary_fields"]["recent_jobs"] = []
    for job in recent[:10]:
        current = jobs.job_state(store, job, now)
        data["summary_fields"]["recent_jobs"].append({
            "id": job["id"], "status": current["status"], "finished": iso(current["finished"]),
            "canceled_on": iso(current["canceled_on"]), "type": "workflow_job" if "workflow_job_template" in job else "job"})
    last = next((j for j in recent if jobs.job_state(store, j, now)["status"] in jobs.TERMINAL), None)
    if last:
        current = jobs.job_state(store, last, now)
        data["last_job_run"], data["last_job_failed"] = iso(current["finished"]), current["failed"]
        data["related"]["last_job"] = url("workflow_jobs" if "workflow_job_template" in last else "jobs", last["id"])
        data["summary_fields"]["last_job"] = {"id": last["id"], "name": last["name"], "description": "",
                                              "finished": iso(current["finished"]), "status": current["status"],
                                              "failed": current["failed"], "license_error": False,
                                              "canceled_on": iso(current["canceled_on"])}
    else:
        data["last_job_run"], data["last_job_failed"] = None, False
    active = next((j for j in recent if jobs.job_state(store, j, now)["status"] not in jobs.TERMINAL), None)
    data["next_job_run"] = None
    data["status"] = (jobs.job_state(store, active, now)["status"] if active
                      else jobs.job_state(store, last, now)["status"] if last else "never updated")
    if template.get("survey_spec") and "name" in template["survey_spec"] and "description" in template["survey_spec"]:
        data["summary_fields"]["survey"] = {"title": template["survey_spec"]["name"],
                                            "description": template["survey_spec"]["description"]}


def _extra_vars_text(value) -> str:
    if isinstance(value, dict):
        return json.dumps(value) if value else "{}"
    return value or ""


def job_template(store, jt: dict, now: float) -> dict:
    """JobTemplateSerializer."""
    data = _base(jt, "job_template", "job_templates")
    jid = jt["id"]
    data["related"] = {
        "named_url": f"{V2}/job_templates/{jt['name']}++{(store.get('organizations', jt.get('organization')) or {}).get('name', '')}/",
        "labels": url("job_templates", jid) + "labels/", "credentials": url("job_templates", jid) + "credentials/",
        "jobs": url("job_templates", jid) + "jobs/", "schedules": url("job_templates", jid) + "schedules/",
        "activity_stream": url("job_templates", jid) + "activity_stream/", "launch": url("job_templates", jid) + "launch/",
        "webhook_key": url("job_templates", jid) + "webhook_key/", "webhook_receiver": "",
        "notification_templates_started": url("job_templates", jid) + "notification_templates_started/",
        "notification_templates_success": url("job_templates", jid) + "notification_templates_success/",
        "notification_templates_error": url("job_templates", jid) + "notification_templates_error/",
        "access_list": url("job_templates", jid) + "access_list/", "survey_spec": url("job_templates", jid) + "survey_spec/",
        "object_roles": url("job_templates", jid) + "object_roles/",
        "instance_groups": url("job_templates", jid) + "instance_groups/",
        "slice_workflow_jobs": url("job_templates", jid) + "slice_workflow_jobs/", "copy": url("job_templates", jid) + "copy/",
    }
    for name, kind in (("inventory", "inventories"), ("project", "projects"), ("organization", "organizations"),
                       ("execution_environment", "execution_environments")):
        if jt.get(name) is not None:
            data["related"][name] = url(kind, jt[name])
    _common_summaries(store, jt, data)
    data["summary_fields"].update({
        "object_roles": {role: {"description": f"May {role.split('_')[0]} the job template", "name": role.split("_")[0].title(), "id": jid * 10 + i}
                         for i, role in enumerate(("admin_role", "execute_role", "read_role"))},
        "user_capabilities": dict(CAPABILITIES), "labels": _labels(store, jt.get("labels", [])),
    })
    _template_status(store, jt, now, data)
    data["summary_fields"]["credentials"] = _credentials(store, jt.get("credentials", []))
    for name in ("job_type", "inventory", "project", "playbook", "scm_branch", "forks", "limit", "verbosity"):
        data[name] = jt.get(name)
    data["extra_vars"] = _extra_vars_text(jt.get("extra_vars"))
    for name in ("job_tags", "force_handlers", "skip_tags", "start_at_task", "timeout", "use_fact_cache", "organization"):
        data[name] = jt.get(name)
    data["execution_environment"] = jt.get("execution_environment")
    data["host_config_key"] = jt.get("host_config_key", "")
    from .seed import ASK_FIELDS

    for ask in ASK_FIELDS:
        data[ask] = bool(jt.get(ask))
    for name in ("survey_enabled", "become_enabled", "diff_mode", "allow_simultaneous"):
        data[name] = bool(jt.get(name))
    data["custom_virtualenv"] = None
    for name in ("job_slice_count", "webhook_service", "webhook_credential", "prevent_instance_group_fallback"):
        data[name] = jt.get(name)
    return data


def workflow_job_template(store, wfjt: dict, now: float) -> dict:
    """WorkflowJobTemplateSerializer."""
    data = _base(wfjt, "workflow_job_template", "workflow_job_templates")
    base = url("workflow_job_templates", wfjt["id"])
    data["related"] = {name: base + name + "/" for name in (
        "workflow_jobs", "schedules", "launch", "webhook_key", "workflow_nodes", "labels", "activity_stream",
        "notification_templates_started", "notification_templates_success", "notification_templates_error",
        "notification_templates_approvals", "access_list", "object_roles", "survey_spec", "copy")}
    data["related"]["webhook_receiver"] = ""
    if wfjt.get("organization") is not None:
        data["related"]["organization"] = url("organizations", wfjt["organization"])
    if wfjt.get("inventory") is not None:
        data["related"]["inventory"] = url("inventories", wfjt["inventory"])
    summary = data["summary_fields"]
    _put(summary, "organization", _summary(store, "organizations", wfjt.get("organization")))
    _put(summary, "inventory", _inventory_summary(store, wfjt.get("inventory")))
    summary["user_capabilities"] = dict(CAPABILITIES)
    summary["labels"] = _labels(store, wfjt.get("labels", []))
    _template_status(store, wfjt, now, data)
    data["extra_vars"] = _extra_vars_text(wfjt.get("extra_vars"))
    data["organization"] = wfjt.get("organization")
    data["survey_enabled"] = bool(wfjt.get("survey_enabled"))
    data["allow_simultaneous"] = bool(wfjt.get("allow_simultaneous"))
    data["ask_variables_on_launch"] = bool(wfjt.get("ask_variables_on_launch"))
    data["inventory"] = wfjt.get("inventory")
    data["limit"] = wfjt.get("limit")
    data["scm_branch"] = wfjt.get("scm_branch")
    for ask in ("ask_inventory_on_launch", "ask_scm_branch_on_launch", "ask_limit_on_launch"):
        data[ask] = bool(wfjt.get(ask))
    data["webhook_service"], data["webhook_credential"] = wfjt.get("webhook_service", ""), wfjt.get("webhook_credential")
    for ask in ("ask_labels_on_launch", "ask_skip_tags_on_launch", "ask_tags_on_launch"):
        data[ask] = bool(wfjt.get(ask))
    data["skip_tags"], data["job_tags"] = wfjt.get("skip_tags"), wfjt.get("job_tags")
    return data


def _launched_by(store, job: dict) -> dict:
    user = store.get("users", job.get("launched_by"))
    if not user:
        return {}
    return {"id": user["id"], "name": user["username"], "type": "user", "url": url("users", user["id"])}


def _unified_job_common(store, job: dict, current: dict, detail: bool, data: dict) -> None:
    data["unified_job_template"] = job["unified_job_template"]
    data["launch_type"] = job["launch_type"]
    data["status"] = current["status"]
    data["failed"] = current["failed"]
    data["started"], data["finished"] = iso(current["started"]), iso(current["finished"])
    data["canceled_on"] = iso(current["canceled_on"])
    data["elapsed"] = float(current["elapsed"])
    data["job_explanation"] = current["job_explanation"]
    data["launched_by"] = _launched_by(store, job)


def job(store, job_obj: dict, now: float, detail: bool = True) -> dict:
    """JobSerializer (``detail``: JobDetailSerializer, else JobListSerializer)."""
    current = jobs.state(job_obj, now)
    started = current["started"] is not None
    data = _base(job_obj, "job", "jobs")
    jid = job_obj["id"]
    base = url("jobs", jid)
    data["related"] = {
        "created_by": url("users", job_obj["launched_by"]), "labels": base + "labels/",
        "credentials": base + "credentials/", "unified_job_template": url("job_templates", job_obj["job_template"]),
        "stdout": base + "stdout/", "job_events": base + "job_events/",
        "job_host_summaries": base + "job_host_summaries/", "activity_stream": base + "activity_stream/",
        "notifications": base + "notifications/", "create_schedule": base + "create_schedule/",
        "job_template": url("job_templates", job_obj["job_template"]), "cancel": base + "cancel/",
        "relaunch": base + "relaunch/",
    }
    for name, kind in (("inventory", "inventories"), ("project", "projects"), ("organization", "organizations"),
                       ("execution_environment", "execution_environments")):
        if job_obj.get(name) is not None:
            data["related"][name] = url(kind, job_obj[name])
    if job_obj.get("workflow_job"):
        data["related"]["source_workflow_job"] = url("workflow_jobs", job_obj["workflow_job"])
    _common_summaries(store, job_obj, data)
    summary = data["summary_fields"]
    _put(summary, "job_template", _summary(store, "job_templates", job_obj["job_template"]))
    ujt = _summary(store, "job_templates", job_obj["job_template"])
    if ujt:
        summary["unified_job_template"] = {**ujt, "unified_job_type": "job"}
    if started:
        summary["instance_group"] = {"id": 2, "name": "default", "is_container_group": True}
    _put(summary, "created_by", _user_summary(store, job_obj["launched_by"]))
    summary["user_capabilities"] = {"delete": True, "start": True}
    summary["labels"] = _labels(store, job_obj.get("labels", []))
    summary["credentials"] = _credentials(store, job_obj.get("credentials", []))
    if job_obj.get("workflow_job"):
        wf = store.get("workflow_jobs", job_obj["workflow_job"])
        if wf:
            wf_state = jobs.workflow_state(wf, now)
            summary["source_workflow_job"] = {"id": wf["id"], "name": wf["name"], "description": "",
                                              "status": wf_state["status"], "failed": wf_state["failed"],
                                              "elapsed": wf_state["elapsed"]}
    for name in ("job_type", "inventory", "project", "playbook", "scm_branch", "forks", "limit", "verbosity"):
        data[name] = job_obj.get(name)
    data["extra_vars"] = json.dumps(job_obj.get("extra_vars", {}))
    for name in ("job_tags", "force_handlers", "skip_tags", "start_at_task", "timeout", "use_fact_cache", "organization"):
        data[name] = job_obj.get(name)
    _unified_job_common(store, job_obj, current, detail, data)
    data["execution_environment"] = job_obj.get("execution_environment")
    if detail:
        data["job_args"] = json.dumps(["ansible-playbook", "-i", "/runner/inventory", "-e", "@/runner/env/extravars",
                                       job_obj.get("playbook", "")]) if started else ""
        data["job_cwd"] = "/runner/project" if started else ""
        data["job_env"] = {"JOB_ID": str(jid), "AWX_HOST": "https://awx-sim"} if started else {}
    data["execution_node"] = "awx-sim" if started else ""
    data["controller_node"] = "awx-sim" if started else ""
    if detail:
        data["result_traceback"] = ""
        data["event_processing_finished"] = current["status"] in jobs.TERMINAL
    data["launched_by"] = _launched_by(store, job_obj)
    data["work_unit_id"] = f"sim{jid:05d}" if started else None
    data["job_template"] = job_obj["job_template"]
    data["passwords_needed_to_start"] = []
    data["allow_simultaneous"] = bool(job_obj.get("allow_simultaneous"))
    data["artifacts"] = {}
    data["scm_revision"] = "0" * 40 if started else ""
    data["instance_group"] = 2 if started else None
    data["diff_mode"] = bool(job_obj.get("diff_mode"))
    data["job_slice_number"] = 0
    data["job_slice_count"] = job_obj.get("job_slice_count") or 1
    data["webhook_service"], data["webhook_credential"], data["webhook_guid"] = "", None, ""
    if detail:
        finished = current["status"] in ("successful", "failed")
        data["host_status_counts"] = ({"failures": 1} if current["status"] == "failed" else {"ok": 1}) if finished else {}
        visible = jobs.events(store, job_obj, now)
        data["playbook_counts"] = {"play_count": sum(e["event"] == "playbook_on_play_start" for e in visible),
                                   "task_count": sum(e["event"] == "playbook_on_task_start" for e in visible)}
        data["custom_virtualenv"] = None
    return data


def workflow_job(store, wf: dict, now: float, detail: bool = True) -> dict:
    """WorkflowJobSerializer (``detail`` False: WorkflowJobListSerializer)."""
    current = jobs.workflow_state(wf, now)
    data = _base(wf, "workflow_job", "workflow_jobs")
    base = url("workflow_jobs", wf["id"])
    data["related"] = {
        "created_by": url("users", wf["launched_by"]), "labels": base + "labels/",
        "unified_job_template": url("workflow_job_templates", wf["workflow_job_template"]),
        "workflow_job_template": url("workflow_job_templates", wf["workflow_job_template"]),
        "notifications": base + "notifications/", "workflow_nodes": base + "workflow_nodes/",
        "activity_stream": base + "activity_stream/", "relaunch": base + "relaunch/", "cancel": base + "cancel/",
    }
    summary = data["summary_fields"]
    _put(summary, "organization", _summary(store, "organizations", wf.get("organization")))
    _put(summary, "inventory", _inventory_summary(store, wf.get("inventory")))
    _put(summary, "workflow_job_template", _summary(store, "workflow_job_templates", wf["workflow_job_template"]))
    ujt = _summary(store, "workflow_job_templates", wf["workflow_job_template"])
    if ujt:
        summary["unified_job_template"] = {**ujt, "unified_job_type": "workflow_job"}
    _put(summary, "created_by", _user_summary(store, wf["launched_by"]))
    summary["user_capabilities"] = {"delete": True, "start": True}
    summary["labels"] = _labels(store, wf.get("labels", []))
    _unified_job_common(store, wf, current, detail, data)
    if detail:
        data["job_args"], data["job_cwd"], data["job_env"], data["result_traceback"] = "", "", {}, ""
    data["launched_by"] = _launched_by(store, wf)
    data["work_unit_id"] = None
    data["workflow_job_template"] = wf["workflow_job_template"]
    data["extra_vars"] = json.dumps(wf.get("extra_vars", {}))
    data["allow_simultaneous"] = bool(wf.get("allow_simultaneous"))
    data["job_template"] = None
    data["is_sliced_job"] = False
    data["inventory"] = wf.get("inventory")
    for name in ("limit", "scm_branch"):
        data[name] = wf.get(name)
    data["webhook_service"], data["webhook_credential"], data["webhook_guid"] = "", None, ""
    data["skip_tags"], data["job_tags"] = wf.get("skip_tags"), wf.get("job_tags")
    return data


def workflow_job_node(store, node: dict, now: float) -> dict:
    """WorkflowJobNodeSerializer."""
    data = _base(node, "workflow_job_node", "workflow_job_nodes")
    data.pop("name"), data.pop("description")
    base = url("workflow_job_nodes", node["id"])
    data["related"] = {"credentials": base + "credentials/", "labels": base + "labels/",
                       "instance_groups": base + "instance_groups/", "success_nodes": base + "success_nodes/",
                       "failure_nodes": base + "failure_nodes/", "always_nodes": base + "always_nodes/",
                       "workflow_job": url("workflow_jobs", node["workflow_job"])}
    if node.get("unified_job_template"):
        data["related"]["unified_job_template"] = url("job_templates", node["unified_job_template"])
    summary = data["summary_fields"]
    if node.get("job"):
        data["related"]["job"] = url("jobs", node["job"])
        child = store.get("jobs", node["job"])
        child_state = jobs.state(child, now)
        summary["job"] = {"id": child["id"], "name": child["name"], "description": "", "status": child_state["status"],
                          "failed": child_state["failed"], "elapsed": child_state["elapsed"], "type": "job",
                          "canceled_on": iso(child_state["canceled_on"])}
    wf = store.get("workflow_jobs", node["workflow_job"])
    summary["workflow_job"] = {"id": wf["id"], "name": wf["name"], "description": ""}
    ujt = _summary(store, "job_templates", node.get("unified_job_template"))
    if ujt:
        summary["unified_job_template"] = {**ujt, "unified_job_type": "job"}
    for name in ("inventory", "scm_branch", "job_type", "job_tags", "skip_tags", "limit", "diff_mode", "verbosity",
                 "execution_environment", "forks", "job_slice_count", "timeout"):
        data[name] = None
    data["extra_data"] = {}
    data.update({"job": node.get("job"), "workflow_job": node["workflow_job"],
                 "unified_job_template": node.get("unified_job_template"), "success_nodes": node["success_nodes"],
                 "failure_nodes": node["failure_nodes"], "always_nodes": node["always_nodes"],
                 "all_parents_must_converge": False, "do_not_run": node["do_not_run"], "identifier": node["identifier"]})
    return data


def workflow_job_template_node(store, node: dict, now: float) -> dict:
    """WorkflowJobTemplateNodeSerializer."""
    data = _base(node, "workflow_job_template_node", "workflow_job_template_nodes")
    data.pop("name"), data.pop("description")
    base = url("workflow_job_template_nodes", node["id"])
    data["related"] = {"success_nodes": base + "success_nodes/", "failure_nodes": base + "failure_nodes/",
                       "always_nodes": base + "always_nodes/",
                       "workflow_job_template": url("workflow_job_templates", node["workflow_job_template"])}
    if node.get("unified_job_template"):
        data["related"]["unified_job_template"] = url("job_templates", node["unified_job_template"])
    _put(data["summary_fields"], "workflow_job_template",
         _summary(store, "workflow_job_templates", node["workflow_job_template"]))
    ujt = _summary(store, "job_templates", node.get("unified_job_template"))
    if ujt:
        data["summary_fields"]["unified_job_template"] = {**ujt, "unified_job_type": "job"}
    for name in ("inventory", "scm_branch", "job_type", "job_tags", "skip_tags", "limit", "diff_mode", "verbosity",
                 "execution_environment", "forks", "job_slice_count", "timeout"):
        data[name] = None
    data["extra_data"] = {}
    data.update({"workflow_job_template": node["workflow_job_template"],
                 "unified_job_template": node.get("unified_job_template"), "success_nodes": node["success_nodes"],
                 "failure_nodes": node["failure_nodes"], "always_nodes": node["always_nodes"],
                 "all_parents_must_converge": False, "identifier": node["identifier"]})
    return data


def job_event(store, job_obj: dict, event: dict, now: float) -> dict:
    """JobEventSerializer."""
    eid = event["id"]
    current = jobs.state(job_obj, now)
    data = {"id": eid, "type": "job_event", "url": url("job_events", eid),
            "related": {"job": url("jobs", job_obj["id"]), "children": url("job_events", eid) + "children/"},
            "summary_fields": {"job": {"id": job_obj["id"], "name": job_obj["name"], "description": "",
                                       "status": current["status"], "failed": current["failed"],
                                       "elapsed": current["elapsed"], "type": "job",
                                       "job_template_id": job_obj["job_template"], "job_template_name": job_obj["name"]},
                               "role": {}},
            "created": iso(event["created"]), "modified": iso(event["created"]), "job": job_obj["id"]}
    for name in ("event", "counter", "event_display"):
        data[name] = event[name]
    data["event_data"] = {"playbook": event["playbook"], "play": event["play"], "task": event["task"],
                          **({"host": event["host_name"]} if event["host_name"] else {})}
    for name in ("event_level", "failed", "changed", "uuid", "parent_uuid"):
        data[name] = event[name]
    data["host"] = None
    for name in ("host_name", "playbook", "play", "task", "role", "stdout", "start_line", "end_line", "verbosity"):
        data[name] = event[name]
    return data


def organization(store, org: dict, now: float) -> dict:
    """OrganizationSerializer."""
    data = _base(org, "organization", "organizations")
    base = url("organizations", org["id"])
    data["related"] = {name: base + name + "/" for name in (
        "execution_environments", "projects", "inventories", "job_templates", "workflow_job_templates", "users",
        "admins", "teams", "credentials", "applications", "activity_stream", "notification_templates",
        "instance_groups", "galaxy_credentials", "object_roles", "access_list")}
    count = lambda kind: sum(o.get("organization") == org["id"] for o in store.all(kind))  # noqa: E731
    data["summary_fields"] = {
        "object_roles": {}, "user_capabilities": {"edit": True, "delete": True},
        "related_field_counts": {"inventories": count("inventories"), "teams": 0, "users": 1,
                                 "job_templates": count("job_templates"), "admins": 1, "projects": count("projects"),
                                 "hosts": 0}}
    data.update({"max_hosts": org.get("max_hosts", 0), "custom_virtualenv": None, "default_environment": None})
    return data


def inventory(store, inv: dict, now: float) -> dict:
    """InventorySerializer."""
    data = _base(inv, "inventory", "inventories")
    base = url("inventories", inv["id"])
    data["related"] = {name: base + name + "/" for name in (
        "hosts", "variable_data", "groups", "root_groups", "script", "tree", "inventory_sources", "update_inventory_sources",
        "activity_stream", "job_templates", "ad_hoc_commands", "access_list", "object_roles", "instance_groups", "copy", "labels")}
    if inv.get("organization") is not None:
        data["related"]["organization"] = url("organizations", inv["organization"])
    _put(data["summary_fields"], "organization", _summary(store, "organizations", inv.get("organization")))
    data["summary_fields"].update({"object_roles": {}, "user_capabilities": {"edit": True, "delete": True, "copy": True, "adhoc": True},
                                   "labels": {"count": 0, "results": []}})
    summary = _inventory_summary(store, inv["id"])
    data.update({"organization": inv.get("organization"), "kind": inv.get("kind", ""), "host_filter": None,
                 "variables": inv.get("variables", ""), "has_active_failures": False,
                 "total_hosts": summary["total_hosts"], "hosts_with_active_failures": 0, "total_groups": 0,
                 "has_inventory_sources": summary["has_inventory_sources"],
                 "total_inventory_sources": summary["total_inventory_sources"], "inventory_sources_with_failures": 0,
                 "pending_deletion": False, "prevent_instance_group_fallback": False})
    return data


def credential_type(store, ctype: dict, now: float) -> dict:
    """CredentialTypeSerializer."""
    data = _base(ctype, "credential_type", "credential_types")
    base = url("credential_types", ctype["id"])
    data["related"] = {"credentials": base + "credentials/", "activity_stream": base + "activity_stream/"}
    data["summary_fields"] = {"user_capabilities": {"edit": not ctype.get("managed"), "delete": not ctype.get("managed")}}
    data.update({"kind": ctype.get("kind"), "namespace": ctype.get("namespace"), "managed": bool(ctype.get("managed")),
                 "inputs": ctype.get("inputs", {}), "injectors": ctype.get("injectors", {})})
    return data


def credential(store, cred: dict, now: float) -> dict:
    """CredentialSerializer (no secret values: the simulator holds none)."""
    data = _base(cred, "credential", "credentials")
    base = url("credentials", cred["id"])
    data["related"] = {"credential_type": url("credential_types", cred["credential_type"]),
                       **{name: base + name + "/" for name in (
                           "activity_stream", "access_list", "object_roles", "owner_users", "owner_teams", "copy",
                           "input_sources", "test")}}
    if cred.get("organization") is not None:
        data["related"]["organization"] = url("organizations", cred["organization"])
    summary = data["summary_fields"]
    _put(summary, "organization", _summary(store, "organizations", cred.get("organization")))
    _put(summary, "credential_type", _summary(store, "credential_types", cred["credential_type"]))
    summary.update({"object_roles": {}, "user_capabilities": {"edit": True, "delete": True, "copy": True}, "owners": []})
    ctype = store.get("credential_types", cred["credential_type"]) or {}
    data.update({"organization": cred.get("organization"), "credential_type": cred["credential_type"], "managed": False,
                 "inputs": cred.get("inputs", {}), "kind": cred.get("kind", ctype.get("kind", "")),
                 "cloud": ctype.get("kind") == "cloud", "kubernetes": False})
    return data


def project(store, proj: dict, now: float) -> dict:
    """ProjectSerializer."""
    data = _base(proj, "project", "projects")
    base = url("projects", proj["id"])
    data["related"] = {name: base + name + "/" for name in (
        "teams", "playbooks", "inventory_files", "update", "project_updates", "scm_inventory_sources", "schedules",
        "activity_stream", "notification_templates_started", "notification_templates_success",
        "notification_templates_error", "access_list", "object_roles", "copy")}
    if proj.get("organization") is not None:
        data["related"]["organization"] = url("organizations", proj["organization"])
    _put(data["summary_fields"], "organization", _summary(store, "organizations", proj.get("organization")))
    data["summary_fields"].update({"object_roles": {}, "user_capabilities": {"edit": True, "delete": True, "start": True,
                                                                             "schedule": True, "copy": True}})
    data.update({
        "local_path": f"_{proj['id']}__{proj['name'].replace('-', '_')}", "scm_type": proj.get("scm_type", "git"),
        "scm_url": proj.get("scm_url", ""), "scm_branch": proj.get("scm_branch", ""), "scm_refspec": "",
        "scm_clean": False, "scm_track_submodules": False, "scm_delete_on_update": False, "credential": None,
        "timeout": 0, "scm_revision": "0" * 40, "last_job_run": None, "last_job_failed": False, "next_job_run": None,
        "status": proj.get("status", "successful"), "organization": proj.get("organization"),
        "scm_update_on_launch": bool(proj.get("scm_update_on_launch")), "scm_update_cache_timeout": 0,
        "allow_override": bool(proj.get("allow_override")), "custom_virtualenv": None, "default_environment": None,
        "signature_validation_credential": None, "last_update_failed": False, "last_updated": None})
    return data


def execution_environment(store, ee: dict, now: float) -> dict:
    """ExecutionEnvironmentSerializer."""
    data = _base(ee, "execution_environment", "execution_environments")
    base = url("execution_environments", ee["id"])
    data["related"] = {"activity_stream": base + "activity_stream/", "unified_job_templates": base + "unified_job_templates/",
                       "copy": base + "copy/"}
    if ee.get("organization") is not None:
        data["related"]["organization"] = url("organizations", ee["organization"])
    _put(data["summary_fields"], "organization", _summary(store, "organizations", ee.get("organization")))
    data["summary_fields"]["user_capabilities"] = {"edit": True, "delete": True, "copy": True}
    data.update({"organization": ee.get("organization"), "image": ee.get("image", ""), "managed": False,
                 "credential": None, "pull": ee.get("pull", "")})
    return data


def label(store, lab: dict, now: float) -> dict:
    """LabelSerializer."""
    data = _base(lab, "label", "labels")
    data.pop("description")
    data["related"] = {"organization": url("organizations", lab["organization"])}
    _put(data["summary_fields"], "organization", _summary(store, "organizations", lab["organization"]))
    data["organization"] = lab["organization"]
    return data


def user(store, usr: dict, now: float) -> dict:
    """UserSerializer."""
    data = _base(usr, "user", "users")
    data.pop("name"), data.pop("description")
    base = url("users", usr["id"])
    data["related"] = {name: base + name + "/" for name in (
        "teams", "organizations", "admin_of_organizations", "projects", "credentials", "roles", "activity_stream",
        "access_list", "tokens", "authorized_tokens", "personal_tokens")}
    data["summary_fields"] = {"user_capabilities": {"edit": True, "delete": False}}
    data.update({"username": usr["username"], "first_name": usr.get("first_name", ""), "last_name": usr.get("last_name", ""),
                 "email": usr.get("email", ""), "is_superuser": bool(usr.get("is_superuser")),
                 "is_system_auditor": bool(usr.get("is_system_auditor")), "password": "$encrypted$", "ldap_dn": "",
                 "last_login": iso(now), "external_account": None, "auth": []})
    return data


def token(store, tok: dict, now: float, reveal: bool = False) -> dict:
    """OAuth2TokenSerializer (the token value only in the creation answer, as AWX)."""
    data = _base(tok, "o_auth2_access_token", "tokens")
    data.pop("name")
    data["related"] = {"user": url("users", tok["user"]), "activity_stream": url("tokens", tok["id"]) + "activity_stream/"}
    data["summary_fields"] = {"user": _user_summary(store, tok["user"]), "application": None}
    data.update({"user": tok["user"], "token": tok["token"] if reveal else "************",
                 "refresh_token": None, "application": None, "expires": iso(tok["created"] + 31536000000 / 1000),
                 "scope": tok.get("scope", "write")})
    return data


SERIALIZERS = {
    "organizations": organization, "inventories": inventory, "credential_types": credential_type,
    "credentials": credential, "projects": project, "execution_environments": execution_environment,
    "labels": label, "users": user, "job_templates": job_template, "workflow_job_templates": workflow_job_template,
    "workflow_job_template_nodes": workflow_job_template_node, "workflow_job_nodes": workflow_job_node,
    "tokens": token,
}


def represent(store, kind: str, obj: dict, now: float, detail: bool = True) -> dict:
    """The API representation of any stored object."""
    if kind == "jobs":
        return job(store, obj, now, detail)
    if kind == "workflow_jobs":
        return workflow_job(store, obj, now, detail)
    return SERIALIZERS[kind](store, obj, now)
