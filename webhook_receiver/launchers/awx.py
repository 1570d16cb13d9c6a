"""The AWX launcher, on awxkit (the client the design names), bearer token or basic auth.

AWX facts relied on (shared/infra/04-awx-api.md):

- a launch field whose ``ask_*_on_launch`` is false is *silently dropped* and listed in
  ``ignored_fields``: :meth:`AwxLauncher.check` reads ``GET launch/`` of every template at
  start-up, and a launch answer with ignored extra vars is an error, never a lost variable;
- AWX has no idempotency key: every launch carries ``stoa_launch_id`` in its extra vars,
  and :meth:`find` looks it up before a retry (in the template's recent jobs: AWX refuses
  filters on extra_vars);
- terminal statuses are successful, failed, error, canceled; polling is batched with
  ``jobs/?id__in=`` (as ansible-rulebook does).
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Any

import requests
from awxkit import api, config as awx_config, exceptions as awx_exc

from . import JobStatus, LaunchError

log = logging.getLogger("stoa.receiver.launcher")
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
AMBIGUOUS_STATUS = frozenset({502, 504})  # a proxy answered: AWX may have created the job


FIND_MARGIN = 300.0  # seconds before the request's creation searched for its jobs (clock skew between hosts)
FIND_PAGES = 20      # pages of 200 jobs at most


def _launch_id_of(extra_vars) -> str | None:
    """``stoa_launch_id`` from a job's extra_vars (AWX gives them as a JSON string)."""
    if isinstance(extra_vars, str):
        try:
            extra_vars = json.loads(extra_vars or "{}")
        except ValueError:
            return None
    return extra_vars.get("stoa_launch_id") if isinstance(extra_vars, dict) else None


def _status_code(error: Exception) -> int | None:
    found = re.search(r"\((\d{3})\)", str(getattr(error, "status_string", "") or error))
    return int(found.group(1)) if found else None


class AwxLauncher:
    """Launches AWX job templates by name (cached ids), follows jobs by batched polling."""

    name = "awx"

    def __init__(self, config, catalogue: dict[str, dict], capacity: int = 8):
        self.config, self.catalogue, self.capacity = config, catalogue, capacity
        self._lock = threading.Lock()
        self._v2 = None
        self._templates: dict[str, Any] = {}
        self._inventories: dict[str, int] = {}

    # -- connection ----------------------------------------------------------------------------
    def _api(self):
        with self._lock:
            if self._v2 is None:
                awx_config.base_url = self.config.url.rstrip("/")
                # awxkit re-sends a request after a connection error (5 times by default): a launch whose answer
                # was lost would start a second job. One attempt; our retries look the launch id up first.
                awx_config.client_connection_attempts = 1
                awx_config.assume_untrusted = not self.config.verify_ssl
                root = api.Api()
                root.connection.session.verify = self.config.verify_ssl
                if self.config.token:
                    root.connection.login(None, None, token=self.config.token.value)
                else:
                    root.connection.login(self.config.username, self.config.password.value)
                self._v2 = root.get().available_versions.v2.get()
            return self._v2

    def _call(self, what: str, fn):
        """Runs an awxkit call; maps its failures to :class:`LaunchError` (never with a token in it)."""
        try:
            return fn()
        except (requests.ConnectionError, requests.Timeout) as exc:
            with self._lock:
                self._v2 = None if "refused" in str(exc).lower() else self._v2
            raise LaunchError(f"{what}: AWX unreachable ({type(exc).__name__})", retryable=True, ambiguous=True) from None
        except awx_exc.Common as exc:
            code = _status_code(exc)
            if code == 401:
                raise LaunchError(f"{what}: AWX refused the credentials (401)", retryable=False) from None
            retryable = code in RETRYABLE_STATUS
            raise LaunchError(f"{what}: AWX answered {code or type(exc).__name__}: {getattr(exc, 'msg', '')}"[:500],
                              retryable=retryable, ambiguous=code in AMBIGUOUS_STATUS) from None

    def _get_json(self, what: str, path: str, params: dict) -> dict:
        """GET ``/api/v2/<path>`` through awxkit's connection (its auth, its session), decoded with plain json:
        turning each job of a poll into awxkit objects cost 2.9 ms of interpreter time per job under load."""
        return self._json(what, "get", path, query_parameters=params)

    def _json(self, what: str, method: str, path: str, **kwargs) -> dict:
        v2 = self._api()
        endpoint = path if path.startswith("/") else v2.endpoint + path
        answer = self._call(what, lambda: getattr(v2.connection, method)(endpoint, **kwargs))
        code = answer.status_code
        if code == 401:
            raise LaunchError(f"{what}: AWX refused the credentials (401)", retryable=False)
        if code >= 400:
            detail = answer.text[:300].replace("\n", " ")
            # 429 and 5xx are worth another attempt; a 5xx from AWX or a proxy may have created the job anyway.
            raise LaunchError(f"{what}: AWX answered {code}: {detail}", retryable=code in RETRYABLE_STATUS or code >= 500,
                              ambiguous=code >= 500)
        try:
            return answer.json()
        except ValueError:
            raise LaunchError(f"{what}: AWX answered something that is not JSON", retryable=True,
                              ambiguous=method != "get") from None

    def template_name(self, job: str) -> str:
        return self.config.templates.get(job) or self.catalogue[job]["awx_template"]

    def _template(self, job: str):
        name = self.template_name(job)
        if name not in self._templates:
            found = self._call(f"looking up template {name!r}", lambda: self._api().job_templates.get(name=name))
            if not found.results:
                raise LaunchError(f"AWX has no job template named {name!r} (job {job})", retryable=False)
            self._templates[name] = found.results[0]
        return self._templates[name]

    def _inventory_id(self, request: dict) -> int | None:
        name = self.config.inventories.get(request.get("environment") or "", self.config.default_inventory)
        if name not in self._inventories:
            found = self._call(f"looking up inventory {name!r}", lambda: self._api().inventory.get(name=name))  # "inventory" in /api/v2/
            if not found.results:
                raise LaunchError(f"AWX has no inventory named {name!r}", retryable=False)
            self._inventories[name] = found.results[0].id
        return self._inventories[name]

    # -- the contract ----------------------------------------------------------------------------
    def check(self, jobs: list[str]) -> list[str]:
        """Every template exists, prompts for variables (or its survey covers ours) and for the inventory."""
        problems = []
        for job in jobs:
            name = self.template_name(job)
            try:
                template = self._template(job)
                launch = self._call(f"GET launch/ of {name!r}", lambda: template.related.launch.get())
            except LaunchError as exc:
                problems.append(str(exc))
                continue
            ours = sorted(set(self.catalogue[job]["vars"]) | {"gitops_repo", "gitops_ref", "trace_id",
                                                               "stoa_event_id", "stoa_launch_id"})
            if not launch.json.get("ask_variables_on_launch"):
                if launch.json.get("survey_enabled"):
                    spec = self._call(f"survey of {name!r}", lambda: template.related.survey_spec.get())
                    asked = {q.get("variable") for q in spec.json.get("spec", [])}
                    dropped = [v for v in ours if v not in asked]
                else:
                    dropped = ours
                if dropped:
                    problems.append(f"AWX job template {name!r} (job {job}) does not prompt for variables on launch: "
                                    f"AWX would silently drop {', '.join(dropped)}; enable 'Prompt on launch' for "
                                    "variables (ask_variables_on_launch)")
            if not launch.json.get("ask_inventory_on_launch") and "environment" in self.catalogue[job]["vars"]:
                problems.append(f"AWX job template {name!r} (job {job}) does not prompt for the inventory: every "
                                "environment would run against its default inventory (ask_inventory_on_launch)")
        return problems

    def launch(self, request: dict, extra_vars: dict[str, Any]) -> str:
        template = self._template(request["job"])
        payload: dict[str, Any] = {"extra_vars": extra_vars}
        payload["inventory"] = self._inventory_id(request)
        body = self._json(f"launching {template.name!r}", "post", f"{template.endpoint}launch/", json=payload)
        ignored = body.get("ignored_fields") or {}
        job_id = body.get("job") or body.get("id")
        if "extra_vars" in ignored:
            dropped = ", ".join(sorted(ignored["extra_vars"])) if isinstance(ignored["extra_vars"], dict) else "all"
            outcome = self._cancel(job_id)
            raise LaunchError(f"AWX job {job_id} of {template.name!r} was started without the extra vars {dropped} "
                              f"(the template does not prompt for variables on launch); {outcome}. Enable 'Prompt "
                              "on launch' for variables, then replay", retryable=False)
        if not job_id:
            raise LaunchError(f"AWX answered a launch of {template.name!r} without a job id", retryable=False)
        return str(job_id)

    def _cancel(self, job_id) -> str:
        """Best effort: cancels a job that must not run; says what happened, for the dead-letter entry."""
        try:
            job = self._call("canceling", lambda: self._api().jobs.get(id=job_id).results[0])
            self._call("canceling", lambda: job.related.cancel.post())
            return f"job {job_id} was canceled"
        except (LaunchError, IndexError) as exc:
            return f"canceling job {job_id} failed ({exc}): check it in AWX"

    def find(self, request: dict) -> str | None:
        """The AWX job an earlier attempt of this request started, if any.

        AWX refuses filters on ``extra_vars`` (403, prevent_search), so the template's jobs created since the
        request (minus a margin for clock skew) are listed newest first and their extra vars read."""
        template = self._template(request["job"])
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(request["created_at"] - FIND_MARGIN))
        for number in range(1, FIND_PAGES + 1):
            page = self._get_json("looking up an earlier launch", "jobs/", {
                "job_template": template.id, "created__gte": since, "order_by": "-id", "page_size": 200,
                "page": number})
            for job in page.get("results", []):
                if _launch_id_of(job.get("extra_vars")) == request["launch_id"]:
                    return str(job["id"])
            if not page.get("next"):
                return None
        raise LaunchError("looking up an earlier launch: too many jobs of this template to search", retryable=True)

    def poll(self, external_ids: list[str]) -> dict[str, JobStatus]:
        out: dict[str, JobStatus] = {}
        for start in range(0, len(external_ids), 200):
            chunk = external_ids[start:start + 200]
            page = self._get_json("polling jobs", "jobs/", {"id__in": ",".join(chunk), "page_size": 200})
            for job in page.get("results", []):
                status = job.get("status")
                state = status if status in ("successful", "failed", "error", "canceled") else (
                    "running" if status == "running" else "pending")
                out[str(job["id"])] = JobStatus(state, {
                    "awx_status": status, "failed": job.get("failed"), "started": job.get("started"),
                    "finished": job.get("finished"), "elapsed": job.get("elapsed"),
                    "job_explanation": job.get("job_explanation") or None})
        for missing in set(external_ids) - set(out):
            out[missing] = JobStatus("lost", {"error": f"AWX has no job {missing} any more"})
        return out

    def close(self) -> None:
        pass
