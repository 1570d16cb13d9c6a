"""Routing: a stored event becomes job requests, with the reason for every launch and non-launch.

Order of checks for a push (issue 13 §2, shared/gitlab/edge-cases/README.md):

1. not the GitOps branch, a tag, a merge request, a branch deletion (``after`` all zeros):
   nothing is launched, the event is recorded as ignored with the reason; the zero SHA
   is never fetched or read;
2. ``before`` must be the last ``after`` routed for the branch, or the ``after`` of another
   push we stored (deliveries can arrive out of order); otherwise pushes were missed (GitLab
   sends no hook for a push of more than 3 refs): **full reconcile**; the same when
   ``before`` is unknown to the mirror, is all zeros (branch created), or is not an ancestor
   of ``after`` (force push);
3. otherwise the changed paths are ``git diff before..after`` (never ``commits[]``) and the
   rules turn them into requests, merged by key.

A request whose commit is older than one already requested for its key is *superseded*
(recorded, not launched): a late delivery never deploys over a newer commit.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any


from .. import _collection  # noqa: F401  (the collection's module_utils: one reader of GitOps YAML)
from ..store import JobRequest
from .mirror import ZERO_SHA, GitMirror, MirrorError
from .rules import Rule

from ansible_collections.stoa.platform.plugins.module_utils import gitops_yaml  # noqa: E402  (after _collection)

log = logging.getLogger("stoa.receiver.routing")
NEVER_BY_DEPLOY = frozenset({"prod"})  # production: promote (or delete) with an approved promotion request


@dataclass
class Decision:
    """What routing decided for one event: ``status`` routed | ignored, the requests and the explanation."""

    status: str
    reason: str | None = None
    mode: str = "diff"                  # diff | full_reconcile | none
    requests: list[JobRequest] = field(default_factory=list)
    explain: list[dict[str, Any]] = field(default_factory=list)  # one entry per request, and per non-launch
    paths_changed: int = 0
    branch_head: str | None = None      # new head of the branch, when it moves
    reconciled: str | None = None       # the commit a full reconcile brings everything to
    base: str | None = None             # new start of the branch's record (first push, or one just before it)

    def as_record(self) -> dict:
        return {"mode": self.mode, "reason": self.reason, "paths_changed": self.paths_changed,
                "requests": [{"key": r.key, "job": r.job, "tenant": r.tenant, "api": r.api,
                              "environment": r.environment, "ref": r.ref, "rule": r.rule, "paths": r.paths[:10],
                              "path_count": len(r.paths)} for r in self.requests],
                "not_launched": self.explain}


class Router:
    """Decides events one at a time, in arrival order (one router per store)."""

    def __init__(self, store, mirror: GitMirror, rules: list[Rule], *, project: str, branch: str,
                 auto_environments: list[str], prune_on_removal: bool = False, gap_grace: float = 5.0,
                 clock=time.time):
        self.store, self.mirror, self.rules = store, mirror, rules
        self.gap_grace, self.clock = gap_grace, clock
        self.project, self.branch = project, branch
        self.auto_environments = list(auto_environments)
        self.prune_on_removal = prune_on_removal
        self.wake = threading.Event()

    # -- the decision ---------------------------------------------------------------------------
    def decide(self, event: dict) -> Decision:
        if event["source"] == "kafka":
            return self._decide_request(event)
        kind, ref = event["kind"], event["ref"] or ""
        before, after = event["before_sha"], event["after_sha"]
        if kind == "merge_request":
            return Decision("ignored", "merge request events launch nothing: the merge commit arrives as its own push",
                            mode="none")
        if kind == "tag_push":
            return Decision("ignored", f"tag push ({ref}): tags launch nothing", mode="none")
        if kind != "push":
            return Decision("ignored", f"object_kind {kind} is not routed", mode="none")
        if ref != f"refs/heads/{self.branch}":
            return Decision("ignored", f"push to {ref or 'no ref'}: only refs/heads/{self.branch} is routed",
                            mode="none")
        if not after or after == ZERO_SHA:
            return Decision("ignored", f"branch {self.branch} deleted (after is all zeros): nothing to deploy",
                            mode="none")
        if self.mirror.missing([after]):
            self.mirror.fetch()
            if self.mirror.missing([after]):
                head = self._branch_tip()
                return self._full(event, head, f"commit {after[:12]} is not in the repository (rewritten since?)")
        head, reconciled, base = self.store.branch_head(self.project, ref)
        if not before or before == ZERO_SHA:
            return self._full(event, after, "branch created (before is all zeros)")
        if self.mirror.missing([before]):
            return self._full(event, after, f"before {before[:12]} is unknown to the repository (force push?)")
        if not self.mirror.is_ancestor(before, after):
            return self._full(event, after, f"history rewritten: {before[:12]} is not an ancestor of {after[:12]}")
        if reconciled and self.mirror.is_ancestor(after, reconciled):
            return Decision("routed", f"covered: the full reconcile at {reconciled[:12]} includes {after[:12]}",
                            mode="covered", branch_head=head)
        # A push that continues the chain (before == head) cannot also end before its start, and asking libgit2
        # would walk the whole chain routed so far (is_ancestor(after, base)): 22% of a busy worker's samples.
        extends_back = head is not None and before != head and self._extends_back(ref, after, base)
        if head is not None and before != head and not extends_back \
                and not self.store.known_afters(self.project, ref, [before]):
            if self.clock() - event["received_at"] < self.gap_grace:
                # Deliveries can arrive out of order: give the push that ends at `before` a moment to arrive.
                return Decision("deferred", f"waiting up to {self.gap_grace:g} s for the push ending at {before[:12]}",
                                mode="none")
            return self._full(event, after, f"missed pushes: before {before[:12]} is not the last routed commit "
                              f"{head[:12]} nor the after of a push received")
        changes = self.mirror.changes(before, after)
        decision = Decision("routed", mode="diff", paths_changed=len(changes))
        self._apply_rules(decision, changes, before, after)
        decision.branch_head = self._advance(head, after)
        if head is None or extends_back:
            decision.base = before
        return decision

    # -- Kafka deploy requests -------------------------------------------------------------------
    def _decide_request(self, event: dict) -> Decision:
        """A ``deploy-requests`` message (already validated by the consumer) names its job directly.

        Without ``payload.gitops_ref`` the job works from the branch's newest commit, resolved now, so that
        coalescing with a push keeps the newest commit. ``deploy`` never reaches prod: a promote does."""
        request = json.loads(event["body"])
        kind, environment = request["type"], request["environment"]
        payload = request.get("payload") or {}
        if kind == "deploy" and environment in NEVER_BY_DEPLOY:
            return Decision("ignored", f"a deploy request does not reach {environment}: send a promote request "
                            "with an approved promotion_request_id", mode="none")
        ref = payload.get("gitops_ref") or self._branch_tip() or None  # the caller fetched for this batch
        variables = {"deploy": {"api_version": request.get("api_version")},
                     "promote": {"promotion_request_id": payload.get("promotion_request_id")},
                     "rollback": {"target_ref": payload.get("target_ref")},
                     "delete": {"api_version": request.get("api_version"),
                                "promotion_request_id": payload.get("promotion_request_id")},
                     "sync": {"prune": bool(payload.get("prune", False))}}[kind]
        job = {"deploy": "deploy_api", "promote": "promote", "rollback": "rollback", "delete": "delete_api",
               "sync": "sync_gateway"}[kind]
        scoped = kind != "sync"
        decision = Decision("routed", mode="request")
        decision.requests.append(JobRequest(
            job=job, tenant=request.get("tenant_id") if scoped else None, api=request.get("api_name") if scoped
            else None, environment=environment, ref=ref, rule=f"kafka-{kind}",
            vars={k: v for k, v in variables.items() if v is not None}))
        return decision

    def _branch_tip(self) -> str:
        return self.mirror.tip(self.branch)

    def _extends_back(self, ref: str, after: str, base: str | None) -> bool:
        """A push older than the chain routed so far, trusted like the first one routed (whose ``before`` is the
        chain's start, ``base``): it ends at ``base``, or it ends before ``base`` where a stored push starts (the
        first deliveries arrived out of order: P4 routed first, P2 after P1 although P1 is not routed yet)."""
        if not base:
            return False
        if after == base:
            return True
        # The stored-push look-up first: an index read, where the ancestry walk is as long as the chain.
        return (bool(self.store.known_befores(self.project, ref, [after]))
                and self.mirror.is_ancestor(after, base))

    def _advance(self, head: str | None, after: str) -> str:
        """The branch head moves forward only: a late, older delivery does not move it back."""
        if head is None or head == after or self.mirror.is_ancestor(head, after):
            return after
        return head

    # -- full reconcile ----------------------------------------------------------------------------
    def _full(self, event: dict, commit: str, reason: str) -> Decision:
        decision = Decision("routed", reason=reason, mode="full_reconcile")
        if not commit:
            decision.status, decision.mode = "ignored", "none"
            decision.reason = reason + "; the branch does not exist any more: nothing to reconcile"
            return decision
        for environment in self.auto_environments:
            decision.requests.append(JobRequest(job="full_deploy", environment=environment, ref=commit,
                                                rule="full-reconcile", paths=[]))
        decision.requests.append(JobRequest(job="iam_sync", ref=commit, rule="full-reconcile"))
        # Approvals made during the gap: every request still approved at this commit is promoted.
        for path in self.mirror.all_paths(commit):
            if path.startswith("requests/prod/") and path.endswith(".yaml"):
                request = self._yaml(commit, path)
                if _state(request) == "approved":
                    self._add_promote(decision, request, path, commit, "full-reconcile")
        decision.branch_head = decision.reconciled = commit
        self._supersede_older(decision)
        log.info("full reconcile", extra={"event_id": event["id"], "trace_id": event["trace_id"], "reason": reason})
        return decision

    # -- rules ----------------------------------------------------------------------------------
    def _apply_rules(self, decision: Decision, changes, before: str, after: str) -> None:
        merged: dict[str, JobRequest] = {}
        for change in changes:
            for rule in self.rules:
                if change.status[:1] not in rule.on and not (change.status == "T" and "M" in rule.on):
                    continue
                captured = rule.captures(change.path)
                if captured is None:
                    continue
                for request in self._candidates(decision, rule, captured, change.path, before, after):
                    existing = merged.get(request.key)
                    if existing:
                        if change.path not in existing.paths:
                            existing.paths.append(change.path)
                    else:
                        request.paths = [change.path]
                        merged[request.key] = request
        decision.requests = list(merged.values())
        self._supersede_older(decision)
        if not decision.requests and not decision.explain:
            decision.explain.append({"reason": f"{decision.paths_changed} changed path(s), none matched a rule"})

    def _candidates(self, decision: Decision, rule: Rule, captured: dict, path: str, before: str, after: str):
        tenant, api = captured.get("tenant"), captured.get("api")
        if rule.only_if == "api_exists_after" and not self.mirror.exists(after, f"tenants/{tenant}/apis/{api}/api.yaml"):
            return []  # the API was removed: api-removed handles it
        if rule.only_if == "request_approved":
            request = self._yaml(after, path)
            was = _state(self._yaml(before, path))
            if _state(request) != "approved" or was == "approved":
                self._note(decision, rule, path, f"state {was or 'new'} -> {_state(request) or '?'}: "
                           "only a move to approved launches Promote")
                return []
            promote = self._promote(request, path, after, rule.name)
            if promote is None:
                self._note(decision, rule, path, "approved, but the file lacks metadata.tenant, metadata.id or "
                           "spec.target.name: fix the file")
                return []
            return [promote]
        if rule.only_if == "tenant_added":
            return [JobRequest(job=rule.job, tenant=t, ref=after, rule=rule.name)
                    for t in sorted(_tenant_ids(self._yaml(after, path)) - _tenant_ids(self._yaml(before, path)))]
        variables = {k: (self.prune_on_removal if v == "{prune_on_removal}" else v) for k, v in rule.vars.items()}
        if rule.environments == "none":
            return [JobRequest(job=rule.job, tenant=tenant, api=api, ref=after, vars=variables, rule=rule.name)]
        if rule.environments == "captured":
            candidates = [captured["environment"]]
        else:
            commit = before if rule.environments == "api_files_before" else after
            candidates = [e for e in self.auto_environments
                          if self.mirror.exists(commit, f"tenants/{tenant}/apis/{api}/environments/{e}.yaml")]
            if not candidates:
                self._note(decision, rule, path, f"{tenant}/{api} has no environment file for the auto "
                           f"environments ({', '.join(self.auto_environments)})")
        out = []
        for environment in candidates:
            if environment not in self.auto_environments:
                self._note(decision, rule, path, f"{environment} is not an auto environment "
                           f"({', '.join(self.auto_environments)}): a push does not deploy there")
                continue
            out.append(JobRequest(job=rule.job, tenant=tenant if rule.job != "sync_gateway" else None,
                                  api=api if rule.job != "sync_gateway" else None, environment=environment,
                                  ref=after, vars=dict(variables), rule=rule.name))
        return out

    def _promote(self, request: dict, path: str, commit: str, rule: str) -> JobRequest | None:
        """Promote for an approved request file, or None when the file lacks what Promote needs."""
        meta = _mapping(request.get("metadata"))
        target = _mapping(_mapping(request.get("spec")).get("target"))
        tenant, api, request_id = meta.get("tenant"), target.get("name"), meta.get("id")
        if not all(isinstance(v, str) and v for v in (tenant, api, request_id)):
            return None
        return JobRequest(job="promote", tenant=tenant, api=api, environment="prod",
                          ref=commit, vars={"promotion_request_id": request_id}, rule=rule, paths=[path])

    def _add_promote(self, decision: Decision, request: dict, path: str, commit: str, rule: str) -> None:
        promote = self._promote(request, path, commit, rule)
        if promote is None:
            decision.explain.append({"rule": rule, "path": path, "reason": "an approved request without "
                                     "metadata.tenant, metadata.id or spec.target.name: fix the file"})
        else:
            decision.requests.append(promote)

    def _note(self, decision: Decision, rule: Rule, path: str, reason: str) -> None:
        entry = {"rule": rule.name, "path": path, "reason": reason}
        if entry not in decision.explain and len(decision.explain) < 200:
            decision.explain.append(entry)

    def _supersede_older(self, decision: Decision) -> None:
        """Drops requests whose commit is older than the newest already requested for their key, when that newer
        commit is still on the branch (after a force push back, the discarded commits supersede nothing)."""
        kept, tip = [], self._branch_tip()
        for request in decision.requests:
            newest = self.store.key_ref(request.key)
            if newest and request.ref and newest != request.ref and self.mirror.is_ancestor(request.ref, newest) \
                    and tip and self.mirror.is_ancestor(newest, tip):
                decision.explain.append({"rule": request.rule, "key": request.key,
                                         "reason": f"superseded: {newest[:12]}, newer than {request.ref[:12]}, "
                                                   "was already requested"})
                continue
            kept.append(request)
        decision.requests = kept

    def _yaml(self, commit: str, path: str) -> Any:
        """A GitOps file at a commit, read as the collection reads it (gitops_yaml: YAML 1.2, duplicate keys and
        non-mappings refused, bounded), so that routing never sees a value the jobs would read otherwise. None
        when the file is absent or refused: the validator and the job report it; routing reads what it can."""
        if not commit or commit == ZERO_SHA:
            return None
        raw = self.mirror.read(commit, path)
        if raw is None:
            return None
        try:
            return gitops_yaml.load_with_lines(raw.decode("utf-8"))[0]
        except (gitops_yaml.YamlFileError, UnicodeDecodeError) as exc:
            log.warning("a GitOps file routing reads is refused; its job will say why",
                        extra={"commit": commit, "path": path, "reason": str(exc)[:300]})
            return None


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _state(request: Any) -> str | None:
    state = _mapping(_mapping(request).get("status")).get("state")
    return state if isinstance(state, str) else None


def _tenant_ids(registry: Any) -> set[str]:
    tenants = _mapping(registry).get("tenants")
    return {t["id"] for t in (tenants if isinstance(tenants, list) else [])
            if isinstance(t, dict) and isinstance(t.get("id"), str)}


__all__ = ["Decision", "Router", "MirrorError"]
