"""Rows the store takes and gives: events to add, job requests routing asks for."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TERMINAL = frozenset({"successful", "failed", "dead", "canceled"})


@dataclass
class NewEvent:
    """An authenticated delivery to store. ``body`` is the raw bytes (None for ignored ones)."""

    source: str
    kind: str
    delivery_key: str | None
    project: str
    ref: str | None
    before: str | None
    after: str | None
    status: str
    reason: str | None
    summary: dict[str, Any]
    body: bytes | None
    trace_id: str | None = None         # the sender's (a Kafka request's); else the receiver makes one


@dataclass
class JobRequest:
    """What routing asks for: one job on one (tenant, api, environment) at one commit."""

    job: str
    tenant: str | None = None
    api: str | None = None
    environment: str | None = None
    ref: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    rule: str = ""
    paths: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return "|".join((self.job, self.tenant or "", self.api or "", self.environment or ""))
