"""Where the simulator (like a live 10.15) departs from the official swagger files.

One entry per (method, path template as the client writes it). Each says how
to map the real answer onto what the swagger describes, and where the
behaviour comes from. ``tests/contract`` uses this table: an answer must
validate against the spec once mapped, and an entry whose raw answer already
validates fails the test, so the table never lists a deviation that is not one.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Deviation:
    source: str
    statuses: dict[int, int] = field(default_factory=dict)  # observed -> declared by the spec
    unwrap: str | None = None  # the spec describes the value under this key
    each: bool = False  # the spec describes one element; the answer is a list of them
    item_schema: bool = False  # the spec declares an array; the answer wraps it under ``unwrap``

    def spec_status(self, status: int) -> int:
        return self.statuses.get(status, status)

    def instances(self, body) -> list:
        value = body.get(self.unwrap) if self.unwrap and isinstance(body, dict) else body
        if self.each:
            return list(value or [])
        return [value]

    def schema(self, schema: dict) -> dict:
        if self.item_schema and schema.get("type") == "array":
            return schema.get("items", {})
        return schema


DEVIATIONS: dict[tuple[str, str], Deviation] = {}

DEVIATIONS.update({
    ("POST", "/apis"): Deviation(
        "LIVE-NOTES.md and CONTRACT.md §0/§1.1: a live 10.15 answers 201 (the swagger says 200).",
        statuses={201: 200}),
    ("POST", "/apis/{id}/versions"): Deviation(
        "LIVE-NOTES.md, versioning: the new version answers 201 (the swagger says 200).",
        statuses={201: 200}),
    ("GET", "/apis/{id}/applications"): Deviation(
        "CONTRACT.md §1.3: the list comes as {\"applications\": [...]} (the swagger declares a bare array).",
        unwrap="applications"),
    ("GET", "/policyStages"): Deviation(
        "CONTRACT.md §6.1: {\"stages\": [{stageKey, policyActionTemplates, sequence}]} "
        "(the swagger declares a bare array).",
        unwrap="stages"),
    ("GET", "/policies"): Deviation(
        "CONTRACT.md §6.2 and §0 (envelope table): {\"policy\": [...]} (the swagger declares a bare array), "
        "as GET /policyActions answers {\"policyAction\": [...]}.",
        unwrap="policy", item_schema=False),
    ("GET", "/policyActions"): Deviation(
        "LIVE-NOTES.md envelopes and CONTRACT.md §6.2: {\"policyAction\": [...]} (singular key, list value; "
        "the swagger declares a bare array).",
        unwrap="policyAction"),
    ("GET", "/alias"): Deviation(
        "CONTRACT.md §2 (Software AG's configure-apigateway role and the official Postman collection): "
        "{\"alias\": [...]}; the swagger's bare array is wrong.",
        unwrap="alias"),
    ("GET", "/strategies"): Deviation(
        "LIVE-NOTES.md: the list is a bare JSON array of strategies (the swagger declares one "
        "OneOfStrategyModel object); each element is checked against it.",
        each=True),
    ("POST", "/applications"): Deviation(
        "CONTRACT.md §3 [3p-live]: a live 10.15 answers 201 (the swagger says 200).",
        statuses={201: 200}),
    ("PUT", "/applications/{id}/apis"): Deviation(
        "CONTRACT.md §3 [3p-live]: a live 10.15 answers 204 without a body (the swagger says 200).",
        statuses={204: 200}),
})
