"""Launchers: one contract, two implementations (AWX through awxkit, local ansible-runner).

The dispatcher only uses this contract:

- ``check()``: problems that would lose work in production (a template that drops a
  variable, a missing playbook), found at start-up; a list of messages;
- ``launch(request, extra_vars) -> external_id``: starts one job; raises :class:`LaunchError`;
- ``find(request) -> external_id | None``: whether an earlier attempt of this request's launch id
  did start a job (AWX has no idempotency key: every launch carries ``stoa_launch_id`` in
  its extra vars, and an ambiguous failure is looked up before any retry);
- ``poll(external_ids) -> {external_id: JobStatus}``: the status of launched jobs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..routing.rules import load_jobs

FINISHED = frozenset({"successful", "failed", "error", "canceled", "lost"})


class LaunchError(Exception):
    """A launch that did not (certainly) start a job.

    ``retryable``: worth another attempt (429, 502/503/504, connection errors);
    ``ambiguous``: the job may exist anyway (the answer was lost): look the launch id up first.
    """

    def __init__(self, message: str, retryable: bool, ambiguous: bool = False):
        super().__init__(message)
        self.retryable, self.ambiguous = retryable, ambiguous


@dataclass
class JobStatus:
    """``state``: pending | running | successful | failed | error | canceled | lost (outcome unknown)."""

    state: str
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


class Launcher(Protocol):
    name: str
    capacity: int

    def check(self, jobs: list[str]) -> list[str]: ...

    def launch(self, request: dict, extra_vars: dict[str, Any]) -> str: ...

    def find(self, request: dict) -> str | None: ...

    def poll(self, external_ids: list[str]) -> dict[str, JobStatus]: ...

    def close(self) -> None: ...


def extra_vars_for(request: dict, catalogue: dict[str, dict], gitops_repo: str) -> dict[str, Any]:
    """The extra vars of one launch: the job's own (tenant_id, api_name, environment, ...), the Git
    source and the receiver's identifiers (trace_id, stoa_event_id, stoa_launch_id)."""
    job = catalogue[request["job"]]
    known = {"tenant_id": request.get("tenant"), "api_name": request.get("api"),
             "environment": request.get("environment"), **(request.get("vars") or {})}
    variables = {name: known[name] for name in job["vars"] if known.get(name) is not None}
    variables.update(gitops_repo=gitops_repo, trace_id=request["trace_id"], stoa_event_id=request["event_id"],
                     stoa_launch_id=request["launch_id"])
    if request.get("ref"):
        variables["gitops_ref"] = request["ref"]
    return variables


def build(config) -> Launcher:
    """The launcher the configuration names."""
    if config.launcher == "awx":
        from .awx import AwxLauncher

        return AwxLauncher(config.awx, load_jobs(), capacity=config.dispatch.concurrency)
    from .runner import RunnerLauncher

    return RunnerLauncher(config.runner, config.state_dir / "runner", load_jobs())
