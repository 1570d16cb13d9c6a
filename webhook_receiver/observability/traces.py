"""Pipeline traces: one record per trace id, GitLab/Kafka -> receiver -> AWX -> results, built from the store.

A trace starts with an event (a GitLab push, a Kafka request); its steps are read from the
rows the receiver keeps anyway (nothing is recorded twice):

=================  ======================================================
received           ``events.received_at``
routed             ``events.routed_at`` (with the routing mode)
queued             each job request's ``created_at`` (or "coalesced into" another trace)
launched           ``job_requests.launched_at`` (AWX job id / ansible-runner ident)
finished           ``job_requests.finished_at`` and its state
results published  the outbox's ``published_at`` of the job's deploy-results message
=================  ======================================================

Status of a trace: ``failed`` if a job failed or was dead-lettered, else ``running`` while a
job is launched, ``queued`` while one waits, ``successful`` when all succeeded, ``ignored``,
``received`` (not routed yet) or ``routed`` (nothing to launch).
"""
from __future__ import annotations

import json
import time
from typing import Any

STATUSES = ("received", "routed", "queued", "running", "successful", "failed", "ignored")


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


def _status(event: dict, requests: list[dict]) -> str:
    states = {r["state"] for r in requests if r["trace_id"] == event["trace_id"]}
    if event["status"] == "ignored":
        return "ignored"
    if event["status"] == "accepted":
        return "received"
    if states & {"failed", "dead"}:
        return "failed"
    if states & {"launching", "running"}:
        return "running"
    if states & {"waiting", "retrying"}:
        return "queued"
    if states and states <= {"successful", "replayed"}:
        return "successful"
    return "routed"


def build(store, event: dict) -> dict[str, Any]:
    """The trace of one stored event (row of ``events``)."""
    summary = json.loads(event["summary"]) if isinstance(event.get("summary"), str) else (event.get("summary") or {})
    decision = json.loads(event["decision"]) if isinstance(event.get("decision"), str) else (event.get("decision") or {})
    requests = store.query(
        "SELECT r.*, e.how FROM request_events e JOIN job_requests r ON r.id = e.request_id WHERE e.event_id = ?"
        " UNION SELECT r.*, 'created' FROM job_requests r WHERE r.trace_id = ? AND r.id NOT IN"
        " (SELECT request_id FROM request_events WHERE event_id = ?) ORDER BY id",
        (event["id"], event["trace_id"], event["id"]))
    published = {}
    for request in requests:
        if request["launch_id"]:
            rows = store.query("SELECT published_at FROM outbox WHERE topic = 'deploy-results' AND message_id LIKE ?",
                               (f"job-finished:{request['launch_id']}:%",))
            if rows and rows[0]["published_at"]:
                published[request["launch_id"]] = rows[0]["published_at"]
    steps = [{"step": "received", "at": _iso(event["received_at"]), "status": "ok",
              "detail": f"{event['source']} {event['kind']}" + (f" {event['ref']}" if event.get("ref") else "")}]
    if event.get("routed_at"):
        steps.append({"step": "routed", "at": _iso(event["routed_at"]),
                      "status": "ignored" if event["status"] == "ignored" else "ok",
                      "detail": event.get("reason") or f"{decision.get('mode', '')}: "
                      f"{len(decision.get('requests', []))} job request(s)"})
    jobs = []
    for request in requests:
        label = f"{request['job']} {request['key']}"
        if request["trace_id"] != event["trace_id"]:
            steps.append({"step": "queued", "at": _iso(request["created_at"]), "status": "coalesced",
                          "detail": f"{label}: coalesced into trace {request['trace_id']}"})
            continue
        steps.append({"step": "queued", "at": _iso(request["created_at"]), "status": request["how"] or "created",
                      "detail": label})
        if request["launched_at"]:
            steps.append({"step": "launched", "at": _iso(request["launched_at"]), "status": "ok",
                          "detail": f"{label}: job {request['external_id']} (attempt {request['attempts']})"})
        if request["finished_at"]:
            steps.append({"step": "finished", "at": _iso(request["finished_at"]), "status": request["state"],
                          "detail": f"{label}: {request['state']}"
                          + (f" ({request['last_error']})" if request["last_error"] else "")})
        if request["launch_id"] in published and published[request["launch_id"]]:
            steps.append({"step": "results published", "at": _iso(published[request["launch_id"]]), "status": "ok",
                          "detail": f"{label}: deploy-results"})
        jobs.append({"request_id": request["id"], "job": request["job"], "tenant": request["tenant"],
                     "api": request["api"], "environment": request["environment"], "ref": request["ref"],
                     "state": request["state"], "external_id": request["external_id"],
                     "attempts": request["attempts"], "error": request["last_error"]})
    steps.sort(key=lambda s: s["at"] or "")
    tenants = sorted({j["tenant"] for j in jobs if j["tenant"]} | ({summary["tenant_id"]}
                                                                    if summary.get("tenant_id") else set()))
    return {
        "trace_id": event["trace_id"], "event_id": event["id"],
        "trigger": "kafka" if event["source"] == "kafka" else f"gitlab-{event['kind'].replace('_', '-')}",
        "status": _status(event, requests), "received_at": _iso(event["received_at"]),
        "git": {"author": summary.get("author"), "user": summary.get("user"), "commit": event.get("after_sha"),
                "before": event.get("before_sha"), "message": summary.get("message"), "ref": event.get("ref")},
        "tenants": tenants, "apis": sorted({j["api"] for j in jobs if j["api"]}),
        "environments": sorted({j["environment"] for j in jobs if j["environment"]}),
        "jobs": jobs, "steps": steps,
    }


def search(store, tenant: str | None = None, status: str | None = None, since: float | None = None,
           until: float | None = None, limit: int = 50) -> list[dict]:
    """Newest first; ``since``/``until`` in Unix seconds. Filters on tenant and status apply to built traces."""
    where, params = ["1 = 1"], []
    if since is not None:
        where.append("received_at >= ?")
        params.append(since)
    if until is not None:
        where.append("received_at <= ?")
        params.append(until)
    rows = store.query(f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
                       [*params, max(limit * 5, 200)])
    out = []
    for row in rows:
        trace = build(store, row)
        if tenant and tenant not in trace["tenants"]:
            continue
        if status and trace["status"] != status:
            continue
        out.append(trace)
        if len(out) >= limit:
            break
    return out


def find(store, trace_id: str) -> dict | None:
    rows = store.query("SELECT * FROM events WHERE trace_id = ? ORDER BY seq LIMIT 1", (trace_id,))
    return build(store, rows[0]) if rows else None
