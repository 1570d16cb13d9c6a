"""The simulator's state: AWX objects and jobs as plain dicts, one lock, an optional JSON file.

Ids follow AWX's tables: job templates, workflow job templates and projects
share the unified-job-template sequence, jobs and workflow jobs share the
unified-job sequence, every other kind has its own. Jobs keep the instants
their states change at (``start_at``, ``finish_at``, ``canceled_at``) rather
than a status, so the status is computed from the clock when read (see
:mod:`awx_simulator.jobs`) and nothing runs in the background.
"""
from __future__ import annotations

import copy
import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

KINDS = (
    "users", "tokens", "organizations", "inventories", "credential_types", "credentials", "projects",
    "execution_environments", "labels", "job_templates", "workflow_job_templates",
    "workflow_job_template_nodes", "jobs", "workflow_jobs", "workflow_job_nodes",
)
# Kinds whose ids come from one shared sequence, as in AWX's polymorphic tables.
SEQUENCE = {
    "projects": "unified_job_templates", "job_templates": "unified_job_templates",
    "workflow_job_templates": "unified_job_templates",
    "jobs": "unified_jobs", "workflow_jobs": "unified_jobs",
}


def iso(instant: float | None) -> str | None:
    """An epoch instant in AWX's timestamp format (``2024-07-01T12:00:00.123456Z``)."""
    if instant is None:
        return None
    return datetime.fromtimestamp(instant, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Clock:
    """Wall-clock time plus an offset that tests can advance (``/_sim/clock``)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        self.offset += float(seconds)
        return self.now()


@dataclass
class Settings:
    """How jobs behave: durations, forced outcomes, queueing, filter strictness."""

    pending_seconds: float = 0.05
    running_seconds: float = 0.1
    # {"template name": "successful" | "failed" | "error"}
    outcomes: dict[str, str] = field(default_factory=dict)
    # AWX keeps a job pending while another job of the same template runs unless the
    # template has allow_simultaneous; off by default so jobs finish at the set pace.
    queue_non_simultaneous: bool = False
    # AWX 24 answers 403 to filters on extra_vars (prevent_search); off by default.
    strict_filters: bool = False

    def update(self, values: dict) -> None:
        for key, value in values.items():
            if key not in self.__dataclass_fields__:
                raise ValueError(f"unknown setting {key!r}")
            if key in ("pending_seconds", "running_seconds"):
                value = float(value)
                if value < 0:
                    raise ValueError(f"{key} must be >= 0")
            elif key == "outcomes":
                if not isinstance(value, dict) or any(v not in ("successful", "failed", "error") for v in value.values()):
                    raise ValueError("outcomes maps template names to successful|failed|error")
                value = dict(value)
            elif isinstance(value, str):
                value = value.strip().lower() in ("1", "true", "yes", "on")
            else:
                value = bool(value)
            setattr(self, key, value)


class Store:
    """Every object, every job, the launch log and the counters, behind one re-entrant lock."""

    def __init__(self, admin_username: str = "admin", token: str | None = None,
                 objects: dict | None = None, state_file: str | os.PathLike | None = None):
        self.lock = threading.RLock()
        self.clock = Clock()
        self.admin_username = admin_username
        self.token = token
        self.objects = objects
        self.state_file = Path(state_file) if state_file else None
        self.reset()
        if self.state_file and self.state_file.exists():
            self._load(json.loads(self.state_file.read_text()))

    # -- lifecycle -------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the seeded objects: no jobs, no launches, default settings."""
        from .seed import seed

        with self.lock:
            self.data: dict[str, dict[int, dict]] = {kind: {} for kind in KINDS}
            self.sequences: dict[str, int] = {}
            self.settings = Settings()
            self.launches: list[dict] = []
            self.sessions: dict[str, int] = {}
            self.clock.offset = 0.0
            seed(self, self.objects)

    def save(self) -> None:
        """Writes the state file atomically (no-op without one)."""
        if not self.state_file:
            return
        with self.lock:
            state = {
                "data": {kind: list(items.values()) for kind, items in self.data.items()},
                "sequences": self.sequences, "settings": asdict(self.settings), "launches": self.launches,
                "clock_offset": self.clock.offset,
            }
            tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
            tmp.write_text(json.dumps(state, sort_keys=True))
            os.replace(tmp, self.state_file)

    def _load(self, state: dict) -> None:
        self.data = {kind: {obj["id"]: obj for obj in state["data"].get(kind, [])} for kind in KINDS}
        self.sequences = state.get("sequences", {})
        self.settings = Settings()
        self.settings.update(state.get("settings", {}))
        self.launches = state.get("launches", [])
        self.clock.offset = state.get("clock_offset", 0.0)

    # -- objects ---------------------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        sequence = SEQUENCE.get(kind, kind)
        self.sequences[sequence] = self.sequences.get(sequence, 0) + 1
        return self.sequences[sequence]

    def add(self, kind: str, obj: dict) -> dict:
        """Stores ``obj`` with a fresh id and created/modified instants; returns it."""
        with self.lock:
            now = self.clock.now()
            obj = dict(obj)
            obj["id"] = self.next_id(kind)
            obj.setdefault("created", now)
            obj.setdefault("modified", obj["created"])
            obj.setdefault("description", "")
            self.data[kind][obj["id"]] = obj
            return obj

    def get(self, kind: str, obj_id) -> dict | None:
        try:
            return self.data[kind].get(int(obj_id))
        except (TypeError, ValueError):
            return None

    def find(self, kind: str, name_or_id) -> dict | None:
        """By id (an int or a string of digits) or by exact name (``username`` for users)."""
        if isinstance(name_or_id, int) or (isinstance(name_or_id, str) and name_or_id.isdigit()):
            found = self.get(kind, name_or_id)
            if found:
                return found
        key = "username" if kind == "users" else "name"
        return next((o for o in self.data[kind].values() if o.get(key) == name_or_id), None)

    def all(self, kind: str) -> list[dict]:
        return list(self.data[kind].values())

    def admin(self) -> dict:
        return self.find("users", self.admin_username) or next(iter(self.data["users"].values()))

    def new_token(self, user_id: int, description: str = "", scope: str = "write") -> dict:
        """A personal access token (what ``POST /api/v2/tokens/`` creates)."""
        return self.add("tokens", {"token": secrets.token_urlsafe(24), "user": user_id,
                                   "description": description, "scope": scope})

    def token_user(self, value: str) -> dict | None:
        if self.token and secrets.compare_digest(value, self.token):
            return self.admin()
        for token in self.data["tokens"].values():
            if secrets.compare_digest(value, token["token"]):
                return self.get("users", token["user"])
        return None

    def snapshot(self, kind: str) -> list[dict]:
        """Deep copies, for callers outside the lock."""
        with self.lock:
            return copy.deepcopy(self.all(kind))
