"""What a GitLab delivery is: its kind, its project, its dedupe key, and whether it concerns us.

Facts used (shared/infra/03-gitlab-webhooks.md):

- route on the body's ``object_kind`` (push, tag_push, merge_request, ...), not on
  ``X-Gitlab-Event``: a system hook sends ``X-Gitlab-Event: System Hook`` for every kind;
- ``Idempotency-Key`` (== ``webhook-id`` with signing) is kept when a delivery is re-sent:
  it is the dedupe key;
- the project is ``project.path_with_namespace`` / ``project.id`` (``project_id`` on pushes).
"""
from __future__ import annotations

import hashlib
import re
from typing import Any, Mapping

from ..store.model import NewEvent

ZERO_SHA = "0" * 40
ROUTED_KINDS = frozenset({"push", "tag_push", "merge_request"})
SOURCE = "gitlab"


class BadDelivery(ValueError):
    """A body that is not a GitLab event we can read; ``reason`` is a metric label."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def delivery_key(headers: Mapping[str, str]) -> str | None:
    """The key GitLab keeps across re-sends: Idempotency-Key, else webhook-id (same value when signing).

    GitLab sends UUIDs; a longer key is stored as its SHA-256, never cut (two keys must not collide)."""
    key = (headers.get("Idempotency-Key") or headers.get("webhook-id") or "").strip()
    if not key:
        return None
    return key if len(key) <= 200 else "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")  # SHA-1, or SHA-256 repositories


def _project_of(body: dict) -> tuple[str, int | None]:
    project = body.get("project") if isinstance(body.get("project"), dict) else {}
    path = project.get("path_with_namespace") or body.get("path_with_namespace") or ""
    pid = project.get("id", body.get("project_id"))
    return (path if isinstance(path, str) else ""), (pid if isinstance(pid, int) and not isinstance(pid, bool) else None)


def is_our_project(body: dict, project: str, project_id: int | None) -> bool:
    path, pid = _project_of(body)
    if project_id is not None and pid is not None:
        return pid == project_id
    return bool(path) and path == project


def classify(headers: Mapping[str, str], body: Any, project: str, project_id: int | None,
             raw: bytes | None = None) -> NewEvent:
    """The event to store for an already-parsed JSON ``body``: ``status`` ``accepted`` (ours, to be routed,
    with the ``raw`` body) or ``ignored`` (recorded with its ``reason``, without the body). Raises
    :class:`BadDelivery` for a body that is no GitLab event, or for a project hook of another project (a
    misconfigured hook: 4xx so GitLab shows it failing)."""
    if not isinstance(body, dict):
        raise BadDelivery("not_an_object", "the body is JSON but not an object")
    kind = body.get("object_kind") or body.get("event_name")
    if not isinstance(kind, str) or not kind:
        raise BadDelivery("no_object_kind", "the body has no object_kind: not a GitLab event")
    path, pid = _project_of(body)
    system_hook = (headers.get("X-Gitlab-Event") or "").lower() == "system hook"
    key = delivery_key(headers)
    common = dict(source=SOURCE, kind=kind[:64], delivery_key=key,
                  project=path or (str(pid) if pid is not None else ""))
    if not is_our_project(body, project, project_id):
        if system_hook:
            # A system hook delivers every project's events: not an error, just not ours.
            return NewEvent(**common, ref=None, before=None, after=None, status="ignored",
                            reason="other_project", summary={}, body=None)
        raise BadDelivery("unknown_project", f"project {common['project'] or '?'} (id {pid}) is not the GitOps "
                          f"project {project}" + (f" (id {project_id})" if project_id is not None else "")
                          + ": check the webhook's project")
    ref = body.get("ref") if isinstance(body.get("ref"), str) else None
    before, after = body.get("before"), body.get("after")
    if kind in ("push", "tag_push"):
        # GitLab always sends full SHAs (all zeros for a creation or a deletion): anything else is not GitLab's.
        for name, value in (("before", before), ("after", after)):
            if not isinstance(value, str) or not SHA.match(value):
                raise BadDelivery("bad_field", f"{name} must be a full commit SHA (40 hex digits), not {value!r:.60}")
        if not isinstance(ref, str) or not ref.startswith("refs/"):
            raise BadDelivery("bad_field", f"ref must be refs/heads/<branch> or refs/tags/<tag>, not {ref!r:.60}")
    else:
        before = before if isinstance(before, str) else None
        after = after if isinstance(after, str) else None
    summary = summarise(kind, body)
    if kind not in ROUTED_KINDS:
        return NewEvent(**common, ref=ref, before=before, after=after, status="ignored",
                        reason=f"object_kind {kind} is not routed", summary=summary, body=None)
    return NewEvent(**common, ref=ref, before=before, after=after, status="accepted", reason=None,
                    summary=summary, body=raw)


def summarise(kind: str, body: dict) -> dict[str, Any]:
    """The few fields an operator reads in ``stoa-receiver events`` (the body itself is stored whole)."""
    if kind in ("push", "tag_push"):
        commits = body.get("commits") if isinstance(body.get("commits"), list) else []
        last = commits[-1] if commits and isinstance(commits[-1], dict) else {}
        author = last.get("author") if isinstance(last.get("author"), dict) else {}
        count = body.get("total_commits_count", len(commits))
        return {"user": _text(body.get("user_username")), "commits": count if isinstance(count, int) else None,
                "message": _text(last.get("title")) or _text(last.get("message")),
                "author": _text(author.get("name")), "checkout_sha": _text(body.get("checkout_sha"))}
    if kind == "merge_request":
        attrs = body.get("object_attributes") if isinstance(body.get("object_attributes"), dict) else {}
        iid = attrs.get("iid")
        return {"action": _text(attrs.get("action")), "iid": iid if isinstance(iid, int) else None,
                "target_branch": _text(attrs.get("target_branch")),
                "merge_commit_sha": _text(attrs.get("merge_commit_sha"))}
    return {}


def _text(value: Any, limit: int = 200) -> str | None:
    """A payload string for display, or None when the field is absent or not a string (never a crash)."""
    return value[:limit] if isinstance(value, str) and value else None
