"""The ``/_sim/`` admin API: reset, launch log, counters, templates, settings, clock, faults.

No authentication (it is for tests and benchmarks on 127.0.0.1, not part of
AWX). Bodies are JSON; answers are JSON.

============================  ==========================================================================
``POST /_sim/reset``          fresh simulator: seeded objects, no jobs, no launches, default config, no faults
``GET|DELETE /_sim/launches`` every launch request received ``[{seq, at, kind, template_id, template_name,
                              body, status, job, job_type, answered, ignored_fields, error}]`` / clear it
``GET /_sim/counters``        ``{jobs_by_template: {name: n}, jobs_by_launch_id: {stoa_launch_id: n},
                              launches: n, jobs: n}`` (jobs created by launches, answered or not)
``GET|DELETE /_sim/requests`` the API request log ``[{method, path, query, status}]`` / clear it
``GET /_sim/jobs``            every job and workflow job as the API shows it
``POST /_sim/jobs/{id}/finish`` ``{"status": "successful"|"failed"|"error"|"canceled"}``: end it now
``GET|PATCH /_sim/config``    ``{pending_seconds, running_seconds, outcomes: {template: status},
                              queue_non_simultaneous, strict_filters}``
``POST /_sim/clock/advance``  ``{"seconds": n}``: move the simulated clock forward
``POST /_sim/job_templates``  ``{name, ...AWX job template fields, sim_outcome, sim_pending_seconds,
                              sim_running_seconds}`` (references by id or name) -> 201 the template
``PATCH /_sim/job_templates/{id or name}`` same fields -> 200 the template
``GET|DELETE /_sim/faults``   the active faults / remove them all
``POST /_sim/faults/error``   ``{"status": 503, "seconds": s | "requests": n, "only": "all"|"launch"}``
``POST /_sim/faults/delay``   ``{"ms": n, "seconds": s | "requests": n, "only": "all"|"launch"}``
``POST /_sim/faults/lose_answers`` ``{"count": n}``: the next n launches create their job, then no answer
``POST /_sim/faults/refuse``  ``{"seconds": s}``: stop listening (after this answer), listen again after s
============================  ==========================================================================
"""
from __future__ import annotations

import json
import re

from .errors import APIError


def _body(raw: bytes) -> dict:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise APIError(400, {"detail": f"JSON parse error - {exc}"}) from None
    if not isinstance(body, dict):
        raise APIError(400, {"detail": "a JSON object is expected"})
    return body


def _call(function, **kwargs):
    try:
        return function(**kwargs)
    except (TypeError, ValueError) as exc:
        raise APIError(400, {"detail": str(exc)}) from None


def handle(sim, method: str, path: str, raw: bytes):
    """(status, payload, after) for one admin request; ``after`` runs once the answer is sent."""
    try:
        return _route(sim, method, path, raw)
    except APIError as exc:
        return exc.status, exc.body, None


def _route(sim, method, path, raw):
    if path == "/_sim/reset" and method == "POST":
        sim.reset()
        return 200, {"reset": True}, None
    if path == "/_sim/launches":
        if method == "GET":
            return 200, sim.launches, None
        if method == "DELETE":
            sim.clear_launches()
            return 204, None, None
    if path == "/_sim/counters" and method == "GET":
        return 200, sim.counters(), None
    if path == "/_sim/requests":
        if method == "GET":
            return 200, sim.requests, None
        if method == "DELETE":
            sim.clear_requests()
            return 204, None, None
    if path == "/_sim/jobs" and method == "GET":
        return 200, sim.jobs + sim.workflow_jobs, None
    match = re.match(r"^/_sim/jobs/(\d+)/finish$", path)
    if match and method == "POST":
        status = _body(raw).get("status", "successful")
        return 200, _call(sim.finish_job, job_id=int(match.group(1)), status=status), None
    if path == "/_sim/config":
        if method == "GET":
            return 200, sim.config(), None
        if method in ("PATCH", "PUT", "POST"):
            return 200, _call(sim.configure, **_body(raw)), None
    if path == "/_sim/clock/advance" and method == "POST":
        return 200, {"now": _call(sim.advance_clock, seconds=_body(raw).get("seconds", 0))}, None
    if path == "/_sim/job_templates" and method == "POST":
        return 201, _call(sim.add_job_template, **_body(raw)), None
    match = re.match(r"^/_sim/job_templates/([^/]+)$", path)
    if match and method in ("PATCH", "PUT"):
        from urllib.parse import unquote

        return 200, _call(sim.update_job_template, name_or_id=unquote(match.group(1)), **_body(raw)), None
    if path == "/_sim/faults":
        if method == "GET":
            return 200, sim.faults.describe(), None
        if method == "DELETE":
            sim.faults.clear()
            return 204, None, None
    if path == "/_sim/faults/error" and method == "POST":
        return 201, _call(sim.faults.error, **_body(raw)), None
    if path == "/_sim/faults/delay" and method == "POST":
        return 201, _call(sim.faults.delay, **_body(raw)), None
    if path == "/_sim/faults/lose_answers" and method == "POST":
        return 201, {"lose_answers": _call(sim.faults.lose_answers, **_body(raw))}, None
    if path == "/_sim/faults/refuse" and method == "POST":
        seconds = float(_body(raw).get("seconds", 1))
        if sim.faults.server is None:
            raise APIError(409, {"detail": "not attached to a server"})
        return 202, {"refusing_seconds": seconds}, lambda: sim.faults.refuse(seconds)
    raise APIError(404, {"detail": f"unknown simulator endpoint {method} {path}"})
