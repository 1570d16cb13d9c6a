"""Jobs on the simulated clock: creation, status from timestamps, workflows, events and stdout.

A job is planned when it is created: it is ``pending`` until ``start_at``,
``running`` until ``finish_at``, then its outcome (``successful`` unless the
launch asked ``sim_fail: true`` or the template or the settings say
``failed``/``error``). A cancel before ``finish_at`` makes it ``canceled``. Nothing
runs in the background: :func:`state` computes the status from the clock, and
:func:`advance_workflows` spawns a workflow's next node jobs, with the
timestamps they would have had, whenever the API is asked anything.
"""
from __future__ import annotations

import hashlib

from .store import iso

TERMINAL = ("successful", "failed", "error", "canceled")
ACTIVE = ("new", "pending", "waiting", "running")


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1", "on")
    return bool(value)


def _outcome(store, template: dict, extra_vars: dict) -> str:
    if _truthy(extra_vars.get("sim_fail", False)):
        return "failed"
    return (template.get("sim_outcome") or store.settings.outcomes.get(template["name"]) or "successful")


def _durations(store, template: dict) -> tuple[float, float]:
    pending = template.get("sim_pending_seconds")
    running = template.get("sim_running_seconds")
    return (store.settings.pending_seconds if pending is None else float(pending),
            store.settings.running_seconds if running is None else float(running))


def _queue_start(store, kind: str, template_field: str, template: dict, start_at: float) -> float:
    """With ``queue_non_simultaneous``: after the template's other unfinished jobs, as AWX's task manager does."""
    if not store.settings.queue_non_simultaneous or template.get("allow_simultaneous"):
        return start_at
    busy_until = [j["finish_at"] for j in store.all(kind)
                  if j.get(template_field) == template["id"] and j.get("canceled_at") is None]
    return max([start_at] + busy_until)


def create_job(store, jt: dict, accepted: dict, launch_type: str = "manual", created: float | None = None,
               workflow_node: dict | None = None, user: dict | None = None) -> dict:
    """A job of job template ``jt`` with the launch values AWX accepted (``accepted``)."""
    now = store.clock.now() if created is None else created
    extra_vars = dict(accepted.get("extra_vars", {}))
    pending, running = _durations(store, jt)
    start_at = _queue_start(store, "jobs", "job_template", jt, now + pending)
    record = {
        "name": jt["name"], "description": jt.get("description", ""), "created": now, "modified": now,
        "job_template": jt["id"], "unified_job_template": jt["id"], "launch_type": launch_type,
        "launched_by": (user or store.admin())["id"],
        "organization": jt.get("organization"), "project": jt.get("project"), "playbook": jt.get("playbook", ""),
        "execution_environment": accepted.get("execution_environment", jt.get("execution_environment")),
        "inventory": accepted.get("inventory", jt.get("inventory")),
        "credentials": sorted(set(jt.get("credentials", [])) | set(accepted.get("credentials", []))),
        "labels": list(accepted.get("labels", jt.get("labels", []))),
        "instance_groups": list(accepted.get("instance_groups", [])),
        "extra_vars": extra_vars, "allow_simultaneous": jt.get("allow_simultaneous", False),
        "start_at": start_at, "finish_at": start_at + running, "canceled_at": None,
        "outcome": _outcome(store, jt, extra_vars),
        "workflow_job": workflow_node["workflow_job"] if workflow_node else None,
        "workflow_node": workflow_node["id"] if workflow_node else None,
    }
    for name in ("job_type", "scm_branch", "forks", "limit", "verbosity", "job_tags", "force_handlers", "skip_tags",
                 "start_at_task", "timeout", "use_fact_cache", "diff_mode", "job_slice_count"):
        record[name] = accepted.get(name, jt.get(name))
    return store.add("jobs", record)


def state(job: dict, now: float) -> dict:
    """status, failed, started, finished, elapsed, canceled_on, job_explanation at instant ``now``."""
    canceled_at = job.get("canceled_at")
    if canceled_at is not None and canceled_at < job["finish_at"] and canceled_at <= now:
        started = job["start_at"] if job["start_at"] <= canceled_at else None
        return {"status": "canceled", "failed": True, "started": started, "finished": canceled_at,
                "elapsed": round(canceled_at - started, 3) if started else 0.0, "canceled_on": canceled_at,
                "job_explanation": ""}
    if now < job["start_at"]:
        return {"status": "pending", "failed": False, "started": None, "finished": None, "elapsed": 0.0,
                "canceled_on": None, "job_explanation": ""}
    if now < job["finish_at"]:
        return {"status": "running", "failed": False, "started": job["start_at"], "finished": None,
                "elapsed": round(now - job["start_at"], 3), "canceled_on": None, "job_explanation": ""}
    outcome = job["outcome"]
    explanation = "Simulated error: the job could not run (sim_outcome error)." if outcome == "error" else ""
    return {"status": outcome, "failed": outcome != "successful", "started": job["start_at"],
            "finished": job["finish_at"], "elapsed": round(job["finish_at"] - job["start_at"], 3),
            "canceled_on": None, "job_explanation": explanation}


def cancel(store, job: dict) -> bool:
    """Cancels an unfinished job (and a workflow's running nodes); False when it already finished."""
    now = store.clock.now()
    if job_state(store, job, now)["status"] in TERMINAL:
        return False
    job["canceled_at"] = now
    job["modified"] = now
    if "workflow_job_template" in job:
        for node in nodes_of(store, job):
            child = store.get("jobs", node["job"]) if node.get("job") else None
            if child and state(child, now)["status"] not in TERMINAL:
                child["canceled_at"] = now
    return True


def finish(store, job: dict, status: str) -> None:
    """Ends a job now with ``status`` (``/_sim/jobs/{id}/finish``)."""
    now = store.clock.now()
    if status not in ("successful", "failed", "error", "canceled"):
        raise ValueError("status is successful, failed, error or canceled")
    if status == "canceled":
        cancel(store, job)
        return
    job["start_at"] = min(job["start_at"], now)
    job["finish_at"] = min(job["finish_at"], now)
    job["outcome"] = status


# -- workflows -------------------------------------------------------------------------------
def create_workflow_job(store, wfjt: dict, accepted: dict, launch_type: str = "manual", user: dict | None = None) -> dict:
    """A workflow job and its nodes; node jobs are spawned by :func:`advance_workflows`."""
    now = store.clock.now()
    pending, _ = _durations(store, wfjt)
    start_at = _queue_start(store, "workflow_jobs", "workflow_job_template", wfjt, now + pending)
    extra_vars = dict(accepted.get("extra_vars", {}))
    wf = store.add("workflow_jobs", {
        "name": wfjt["name"], "description": wfjt.get("description", ""), "created": now, "modified": now,
        "workflow_job_template": wfjt["id"], "unified_job_template": wfjt["id"], "launch_type": launch_type,
        "launched_by": (user or store.admin())["id"], "organization": wfjt.get("organization"),
        "extra_vars": extra_vars, "allow_simultaneous": wfjt.get("allow_simultaneous", False),
        "inventory": accepted.get("inventory", wfjt.get("inventory")),
        "limit": accepted.get("limit", wfjt.get("limit")), "scm_branch": accepted.get("scm_branch", wfjt.get("scm_branch")),
        "skip_tags": accepted.get("skip_tags", wfjt.get("skip_tags")), "job_tags": accepted.get("job_tags", wfjt.get("job_tags")),
        "labels": list(accepted.get("labels", wfjt.get("labels", []))),
        "start_at": start_at, "finish_at": None, "canceled_at": None, "outcome": None,
    })
    mapping = {}
    template_nodes = [n for n in store.all("workflow_job_template_nodes") if n["workflow_job_template"] == wfjt["id"]]
    for tnode in template_nodes:
        mapping[tnode["id"]] = store.add("workflow_job_nodes", {
            "workflow_job": wf["id"], "unified_job_template": tnode["unified_job_template"],
            "identifier": tnode["identifier"], "job": None, "do_not_run": False,
            "success_nodes": [], "failure_nodes": [], "always_nodes": [], "created": now})
    for tnode in template_nodes:
        for edge in ("success_nodes", "failure_nodes", "always_nodes"):
            mapping[tnode["id"]][edge] = [mapping[t]["id"] for t in tnode[edge]]
    if not template_nodes:
        wf["finish_at"] = start_at
        wf["outcome"] = "successful"
    return wf


def nodes_of(store, wf: dict) -> list[dict]:
    return sorted((n for n in store.all("workflow_job_nodes") if n["workflow_job"] == wf["id"]), key=lambda n: n["id"])


def _spawn(store, wf: dict, node: dict, at: float) -> None:
    jt = store.get("job_templates", node["unified_job_template"])
    if jt is None:
        node["do_not_run"] = True
        return
    accepted = {"extra_vars": {**_template_vars(jt), **wf["extra_vars"]}}
    if wf.get("inventory"):
        accepted["inventory"] = wf["inventory"]
    if wf.get("limit"):
        accepted["limit"] = wf["limit"]
    node["job"] = create_job(store, jt, accepted, launch_type="workflow", created=at, workflow_node=node)["id"]


def _template_vars(template: dict) -> dict:
    from .launch import parse_vars

    try:
        return parse_vars(template.get("extra_vars") or "")
    except ValueError:
        return {}


def advance_workflows(store) -> None:
    """Spawns the node jobs whose time has come and closes finished workflow jobs."""
    now = store.clock.now()
    for wf in store.all("workflow_jobs"):
        if wf["outcome"] is not None or now < wf["start_at"]:
            continue
        nodes = nodes_of(store, wf)
        by_id = {n["id"]: n for n in nodes}
        parents = {n["id"]: [] for n in nodes}
        for node in nodes:
            for edge in ("success_nodes", "failure_nodes", "always_nodes"):
                for child in node[edge]:
                    parents[child].append((node["id"], edge))
        changed = True
        while changed:
            changed = False
            for node in nodes:
                if node["job"] is not None or node["do_not_run"]:
                    continue
                if not parents[node["id"]]:
                    if wf["canceled_at"] is None or wf["canceled_at"] > wf["start_at"]:
                        _spawn(store, wf, node, wf["start_at"])
                    else:
                        node["do_not_run"] = True
                    changed = True
                    continue
                triggers, resolved = [], True
                for parent_id, edge in parents[node["id"]]:
                    parent = by_id[parent_id]
                    if parent["do_not_run"]:
                        continue
                    if parent["job"] is None:
                        resolved = False
                        continue
                    pstate = state(store.get("jobs", parent["job"]), now)
                    if pstate["status"] not in TERMINAL:
                        resolved = False
                        continue
                    fired = (edge == "always_nodes" or (edge == "success_nodes") == (pstate["status"] == "successful"))
                    if fired and pstate["status"] != "canceled":
                        triggers.append(pstate["finished"])
                if triggers and (wf["canceled_at"] is None or wf["canceled_at"] > min(triggers)):
                    _spawn(store, wf, node, min(triggers))
                    changed = True
                elif resolved:
                    node["do_not_run"] = True
                    changed = True
        if all(n["do_not_run"] or (n["job"] and state(store.get("jobs", n["job"]), now)["status"] in TERMINAL) for n in nodes):
            finishes = [state(store.get("jobs", n["job"]), now)["finished"] for n in nodes if n["job"]]
            wf["finish_at"] = max(finishes + [wf["start_at"]])
            if wf["canceled_at"] is not None:
                wf["outcome"] = "canceled"
                wf["finish_at"] = wf["canceled_at"]
                continue
            unhandled = False
            for n in nodes:
                if not n["job"]:
                    continue
                status = state(store.get("jobs", n["job"]), now)["status"]
                if status != "successful" and not n["failure_nodes"] and not n["always_nodes"]:
                    unhandled = True
            wf["outcome"] = "failed" if unhandled else "successful"


def workflow_state(wf: dict, now: float) -> dict:
    """Like :func:`state` for a workflow job (its end is known once its nodes are done)."""
    if wf["canceled_at"] is not None and wf["canceled_at"] <= now and wf["outcome"] in (None, "canceled"):
        started = wf["start_at"] if wf["start_at"] <= wf["canceled_at"] else None
        return {"status": "canceled", "failed": True, "started": started, "finished": wf["canceled_at"],
                "elapsed": round(wf["canceled_at"] - started, 3) if started else 0.0,
                "canceled_on": wf["canceled_at"], "job_explanation": ""}
    if now < wf["start_at"]:
        return {"status": "pending", "failed": False, "started": None, "finished": None, "elapsed": 0.0,
                "canceled_on": None, "job_explanation": ""}
    if wf["outcome"] is None:
        return {"status": "running", "failed": False, "started": wf["start_at"], "finished": None,
                "elapsed": round(now - wf["start_at"], 3), "canceled_on": None, "job_explanation": ""}
    return {"status": wf["outcome"], "failed": wf["outcome"] != "successful", "started": wf["start_at"],
            "finished": wf["finish_at"], "elapsed": round(wf["finish_at"] - wf["start_at"], 3),
            "canceled_on": wf["canceled_at"], "job_explanation": ""}


def job_state(store, job: dict, now: float) -> dict:
    return workflow_state(job, now) if "workflow_job_template" in job else state(job, now)


# -- events and stdout -----------------------------------------------------------------------
def _banner(text: str) -> str:
    return text + " " + "*" * max(3, 79 - len(text))


def events(store, job: dict, now: float) -> list[dict]:
    """The job events visible at ``now``, as AWX's callback receiver would have stored them."""
    current = state(job, now)
    status = current["status"]
    if current["started"] is None or status == "error":
        return []
    play = job["name"]
    task = f"stoa simulated run of {job.get('playbook') or 'the playbook'}"
    host = "localhost"
    failed = status == "failed"
    uuid = lambda n: hashlib.md5(f"{job['id']}-{n}".encode()).hexdigest()  # noqa: E731 - stable ids
    plan = [
        ("playbook_on_start", [], None),
        ("playbook_on_play_start", ["", _banner(f"PLAY [{play}]")], None),
        ("playbook_on_task_start", ["", _banner(f"TASK [{task}]")], None),
    ]
    if status in ("successful", "failed"):
        extra = " (sim_fail)" if failed else ""
        result = (f'fatal: [{host}]: FAILED! => {{"changed": false, "msg": "simulated failure{extra}"}}'
                  if failed else f"ok: [{host}]")
        plan.append(("runner_on_failed" if failed else "runner_on_ok", [result], host))
        recap = (f"{host:<26} : ok={0 if failed else 1}    changed=0    unreachable=0    failed={1 if failed else 0}"
                 "    skipped=0    rescued=0    ignored=0   ")
        plan.append(("playbook_on_stats", ["", _banner("PLAY RECAP"), recap, ""], None))
    display = {"playbook_on_start": "Playbook Started", "playbook_on_play_start": "Play Started",
               "playbook_on_task_start": "Task Started", "runner_on_ok": "Host OK",
               "runner_on_failed": "Host Failed", "playbook_on_stats": "Playbook Complete"}
    result, line = [], 0
    span = (current["finished"] or now) - current["started"]
    for counter, (event, lines, event_host) in enumerate(plan, start=1):
        at = current["started"] + span * (counter - 1) / max(1, len(plan))
        result.append({
            "id": job["id"] * 1000 + counter, "counter": counter, "event": event, "event_display": display[event],
            "stdout": "\r\n".join(lines), "start_line": line, "end_line": line + len(lines),
            "failed": event == "runner_on_failed", "changed": False, "uuid": uuid(counter),
            "parent_uuid": uuid(counter - 1) if counter > 1 else "", "host_name": event_host or "",
            "playbook": job.get("playbook", ""), "play": play if counter > 1 else "",
            "task": task if counter > 2 and event != "playbook_on_stats" else "", "role": "",
            "event_level": {"playbook_on_start": 0, "playbook_on_play_start": 1, "playbook_on_task_start": 2,
                            "playbook_on_stats": 0}.get(event, 3),
            "created": at, "verbosity": 0,
        })
        line += len(lines)
    return result


def stdout_text(store, job: dict, now: float) -> str:
    """The job's standard output so far, as ``/stdout/?format=txt`` returns it."""
    text = "\r\n".join(e["stdout"] for e in events(store, job, now) if e["stdout"] != "")
    current = state(job, now)
    if current["status"] == "error":
        text = current["job_explanation"]
    return text


def iso_state(current: dict) -> dict:
    """:func:`state` with timestamps formatted as AWX formats them."""
    return {**current, "started": iso(current["started"]), "finished": iso(current["finished"]),
            "canceled_on": iso(current["canceled_on"])}
