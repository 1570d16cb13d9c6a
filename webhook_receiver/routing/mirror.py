"""A bare mirror of the GitOps repository: changed paths come from Git, never from ``commits[]``.

GitLab lists at most 20 commits in a push hook (``total_commits_count`` has the real
number), so the only trustworthy list of changed files is ``git diff before..after``
in a copy of the repository (shared/gitlab/edge-cases/01).

Fetching is git's own (``git clone --mirror`` / ``git fetch``: the credentials and
transports operators configure for git). Reading, which happens several times per event,
is done in-process with pygit2 (libgit2): a process per diff, ancestry check or file read
cost 2-3 ms each and made routing the receiver's bottleneck (measured: 6.5 ms per event
with subprocesses); the diff itself reads only the changed part of each tree (tree_diff.py).
Paths are bytes decoded with surrogateescape, so any name (unicode,
spaces, newlines) stays exact. Fetches are batched: one fetch serves every pending event.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading

import pygit2

# libgit2 caches no tree over 4 KB by default; a tenant's apis/ folder is bigger, and consecutive pushes read the
# same trees: cache them (measured on 2,000 APIs in one folder: an existence check 0.52 -> 0.03 ms).
pygit2.settings.cache_object_limit(pygit2.enums.ObjectType.TREE, 4 * 1024 * 1024)
from dataclasses import dataclass
from pathlib import Path

from .tree_diff import RawTrees, tree_changes

ZERO_SHA = "0" * 40


def scrub(text: str) -> str:
    """Removes credentials from URLs in git's messages (``https://user:token@host`` -> ``https://***@host``)."""
    return re.sub(r"://[^/@\s]+@", "://***@", text)


class MirrorError(RuntimeError):
    """Git failed (fetch, diff, show); the message has git's own words, never credentials."""


@dataclass
class Change:
    """One changed path: ``status`` is A (added), M (modified), D (deleted), T (type changed)."""

    status: str
    path: str


class GitMirror:
    """``git clone --mirror`` of ``url`` in ``path``; thread-safe (one git operation at a time per mirror)."""

    def __init__(self, url: str, path: Path):
        self.url, self.path = url, Path(path)
        self._lock = threading.Lock()
        self._repo: pygit2.Repository | None = None
        self.fetches = 0
        self._raw_trees = RawTrees()  # kept across fetches: an object id's content never changes

    def _repository(self) -> pygit2.Repository:
        """The pygit2 view of the mirror, reopened after each fetch (so new packs are seen)."""
        if self._repo is None:
            self._repo = pygit2.Repository(str(self.path))
        return self._repo

    def _commit(self, sha: str) -> pygit2.Commit | None:
        try:
            found = self._repository().get(sha)
        except (ValueError, KeyError):
            return None
        return found if isinstance(found, pygit2.Commit) else None

    def _git(self, *args: str, check: bool = True, input_bytes: bytes | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        done = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, input=input_bytes,
                              env=env, check=False, timeout=300)
        if check and done.returncode:
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise MirrorError(f"git {args[0]} failed: {scrub(message[-1]) if message else done.returncode}")
        return done

    def ensure(self) -> None:
        """Creates the mirror on first use (a bare clone with every branch and tag)."""
        with self._lock:
            if (self.path / "HEAD").exists():
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(["git", "clone", "--quiet", "--mirror", self.url, str(self.path)],
                                  capture_output=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, check=False,
                                  timeout=600)
            if done.returncode:
                lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
                raise MirrorError("git clone of the GitOps repository failed: "
                                  + scrub(lines[-1] if lines else str(done.returncode)))
            self.fetches += 1

    def reachable(self) -> bool | str:
        """True, or what git says when listing the repository's refs fails (``git ls-remote``)."""
        done = subprocess.run(["git", "ls-remote", "--heads", self.url], capture_output=True, check=False,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, timeout=60)
        if done.returncode == 0:
            return True
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return scrub(lines[-1] if lines else f"git ls-remote exited {done.returncode}")

    def fetch(self) -> None:
        """``git fetch --prune``: every branch and tag as the remote has them now."""
        self.ensure()
        with self._lock:
            self._git("fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
            self._repo = None
            self.fetches += 1

    def missing(self, shas: list[str]) -> set[str]:
        """Which of these commits the mirror does not have."""
        wanted = [s for s in dict.fromkeys(shas) if s and s != ZERO_SHA]
        if not wanted:
            return set()
        self.ensure()
        with self._lock:
            return {sha for sha in wanted if not _is_hex(sha) or self._commit(sha) is None}

    def is_ancestor(self, older: str, newer: str) -> bool:
        """Whether ``older`` is reachable from ``newer`` (``git merge-base --is-ancestor``; equal counts)."""
        if older == newer:
            return True
        with self._lock:
            try:
                return self._repository().descendant_of(newer, older)
            except (ValueError, KeyError, pygit2.GitError) as exc:
                raise MirrorError(f"ancestry of {older[:12]} and {newer[:12]}: {exc}") from None

    def changes(self, before: str, after: str) -> list[Change]:
        """Paths that differ between two commits (A, M, D; a rename is a deletion and an addition), in path order,
        as libgit2's diff gives them, read by :func:`tree_diff.tree_changes` (only the changed part of each tree)."""
        with self._lock:
            repo = self._repository()
            try:
                old, new = repo.get(before), repo.get(after)
                if not isinstance(old, pygit2.Commit) or not isinstance(new, pygit2.Commit):
                    raise KeyError("not a commit")
                found = tree_changes(repo, old.tree_id, new.tree_id, self._raw_trees)
            except (ValueError, KeyError, pygit2.GitError) as exc:
                raise MirrorError(f"diff {before[:12]}..{after[:12]}: {exc}") from None
            return [Change(status, path) for status, path in found]

    def all_paths(self, commit: str) -> list[str]:
        """Every file of a commit (for a full reconcile)."""
        with self._lock:
            found = self._commit(commit)
            if found is None:
                raise MirrorError(f"no commit {commit[:12]} in the mirror")
            out: list[str] = []
            _walk(self._repository(), found.tree, "", out)
            return out

    def _blob(self, commit: str, path: str):
        found = self._commit(commit)
        if found is None:
            return None
        try:
            entry = found.tree[path]
        except (KeyError, ValueError):
            return None
        return self._repository().get(entry.id)

    def read(self, commit: str, path: str) -> bytes | None:
        """A file's bytes at a commit, or None when it does not exist there."""
        with self._lock:
            blob = self._blob(commit, path)
            return blob.data if isinstance(blob, pygit2.Blob) else None

    def exists(self, commit: str, path: str) -> bool:
        with self._lock:
            return self._blob(commit, path) is not None

    def tip(self, branch: str) -> str:
        """The SHA of ``refs/heads/<branch>`` in the mirror, or "" when the branch does not exist."""
        with self._lock:
            try:
                return str(self._repository().references[f"refs/heads/{branch}"].resolve().target)
            except (KeyError, ValueError):
                return ""


def _walk(repo, tree, prefix: str, out: list[str]) -> None:
    for entry in tree:
        name = entry.raw_name.decode("utf-8", "surrogateescape") if hasattr(entry, "raw_name") else entry.name
        if entry.type_str == "tree":
            _walk(repo, repo.get(entry.id), f"{prefix}{name}/", out)
        else:
            out.append(prefix + name)


def _is_hex(sha: str) -> bool:
    return 4 <= len(sha) <= 64 and all(c in "0123456789abcdef" for c in sha.lower())
