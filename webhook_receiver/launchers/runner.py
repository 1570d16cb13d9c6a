"""The local launcher: this repository's playbooks run by ansible-runner, as AWX would run them.

Lessons taken from ansible-runner (design/receiver-models.md §4):

- a fresh private data dir per launch (``<state>/runner/<launch id>/``), so extra vars of
  an earlier run are never replayed (#493, #1440), and ``suppress_env_files``;
- our own ``cancel_callback`` (so ansible-runner installs no signal handlers, PR #862) and
  an ``event_handler`` that returns True (PR #463);
- the launch id is the runner ``ident``: the private data dir existing means the launch
  happened, which is what :meth:`find` answers after a crash. A job whose receiver died
  while it ran has no final status: it is reported ``lost`` (never started a second time).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import ansible_runner

from . import JobStatus, LaunchError

log = logging.getLogger("stoa.receiver.launcher")


class RunnerLauncher:
    """Runs job playbooks locally, at most ``config.max_parallel`` at once (the dispatcher's capacity)."""

    name = "runner"

    def __init__(self, config, work_dir: Path, catalogue: dict[str, dict]):
        self.config, self.work_dir, self.catalogue = config, Path(work_dir), catalogue
        self.capacity = config.max_parallel
        self._runs: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self.work_dir.mkdir(parents=True, exist_ok=True)

    def check(self, jobs: list[str]) -> list[str]:
        problems = []
        for job in jobs:
            playbook = self.config.project_dir / self.catalogue[job]["playbook"]
            if not playbook.is_file():
                problems.append(f"job {job}: playbook {playbook} does not exist")
        for environment in {self.config.default_inventory}:
            if not (self.config.project_dir / "inventories" / environment).is_dir():
                problems.append(f"inventory inventories/{environment} does not exist in {self.config.project_dir}")
        return problems

    def _inventory(self, request: dict) -> Path:
        return self.config.project_dir / "inventories" / (request.get("environment") or self.config.default_inventory)

    def launch(self, request: dict, extra_vars: dict[str, Any]) -> str:
        ident = request["launch_id"]
        private = self.work_dir / ident
        inventory = self._inventory(request)
        if not inventory.is_dir():
            raise LaunchError(f"no inventory {inventory} for environment {request.get('environment')}", retryable=False)
        try:
            private.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise LaunchError(f"launch {ident} was already started", retryable=False, ambiguous=True) from None
        (private / "launch.json").write_text(json.dumps({"job": request["job"], "request_id": request["id"]}))
        project = self.config.project_dir
        try:
            thread, runner = ansible_runner.run_async(
                private_data_dir=str(private), project_dir=str(project), ident=ident,
                playbook=str(project / self.catalogue[request["job"]]["playbook"]), inventory=str(inventory),
                extravars=extra_vars, quiet=True, suppress_env_files=True,
                # Each job its own work directory (as each AWX job has its own): two jobs of one push would
                # otherwise share a GitOps checkout and race on its refs ("cannot lock ref").
                envvars={"ANSIBLE_CONFIG": str(project / "ansible.cfg"), "PATH": _path_with_our_python(),
                         "STOA_WORK_DIR": str(private / "work"), **self.config.extra_env},
                cancel_callback=lambda: self._stopping, event_handler=lambda _event: True)
        except Exception as exc:  # ansible-runner's own set-up errors: nothing ran
            raise LaunchError(f"ansible-runner could not start: {exc}", retryable=False) from None
        with self._lock:
            self._runs[ident] = (thread, runner)
        return ident

    def find(self, request: dict) -> str | None:
        launch_id = request["launch_id"]
        return launch_id if (self.work_dir / launch_id).is_dir() else None

    def poll(self, external_ids: list[str]) -> dict[str, JobStatus]:
        out = {}
        for ident in external_ids:
            with self._lock:
                run = self._runs.get(ident)
            if run is not None:
                thread, runner = run
                if thread.is_alive() or runner.status in ("unstarted", "starting", "running"):
                    out[ident] = JobStatus("running")
                    continue
                with self._lock:
                    self._runs.pop(ident, None)
                out[ident] = JobStatus(_state(runner.status), _result(runner.status, runner.rc, runner.stats))
                continue
            out[ident] = self._from_artifacts(ident)
        return out

    def _from_artifacts(self, ident: str) -> JobStatus:
        """After a restart: the final status ansible-runner wrote, or ``lost`` when it never wrote one."""
        artifacts = self.work_dir / ident / "artifacts" / ident
        status_file = artifacts / "status"
        if status_file.is_file():
            status = status_file.read_text().strip()
            rc_file = artifacts / "rc"
            rc = int(rc_file.read_text().strip() or -1) if rc_file.is_file() else None
            return JobStatus(_state(status), _result(status, rc, None))
        return JobStatus("lost", {"error": "the receiver stopped while this job ran; its outcome is unknown"})

    def close(self) -> None:
        self._stopping = True


def _path_with_our_python() -> str:
    """PATH with this interpreter's bin directory first: ansible-playbook is the one installed beside the receiver."""
    ours = str(Path(sys.executable).parent)
    rest = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != ours]
    return os.pathsep.join([ours, *rest])


def _state(status: str) -> str:
    return {"successful": "successful", "failed": "failed", "canceled": "canceled", "timeout": "failed"}.get(
        status, "error")


def _result(status: str, rc: int | None, stats: dict | None) -> dict[str, Any]:
    result: dict[str, Any] = {"runner_status": status, "rc": rc}
    if stats:
        result["changed"] = sum((stats.get("changed") or {}).values())
        result["failures"] = sum((stats.get("failures") or {}).values()) + sum((stats.get("dark") or {}).values())
    return result
