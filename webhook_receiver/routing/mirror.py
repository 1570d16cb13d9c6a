"""A bare mirror of the GitOps repository: changed paths come from Git, never from ``commits[]``.

GitLab lists at most 20 commits in a push hook (``total_commits_count`` has the real
number), so the only trustworthy list of changed files is ``git diff before..after``
in a copy of the repository (shared/gitlab/edge-cases/01).

Git is run as a subprocess: it is the reference implementation, and its ``-z`` output
keeps any path (unicode, spaces, newlines) exact. Fetches are batched: one fetch serves
every pending event whose commits are missing.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

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
        self.fetches = 0

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

    def fetch(self) -> None:
        """``git fetch --prune``: every branch and tag as the remote has them now."""
        self.ensure()
        with self._lock:
            self._git("fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
            self.fetches += 1

    def missing(self, shas: list[str]) -> set[str]:
        """Which commits the mirror does not have (one ``git cat-file --batch-check`` for all)."""
        wanted = [s for s in dict.fromkeys(shas) if s and s != ZERO_SHA]
        if not wanted:
            return set()
        self.ensure()
        with self._lock:
            done = self._git("cat-file", "--batch-check", input_bytes=("\n".join(wanted) + "\n").encode(), check=False)
        result = set()
        for sha, line in zip(wanted, done.stdout.decode().splitlines()):
            if line.endswith(" missing") or not line.split(" ")[1:2] == ["commit"]:
                result.add(sha)
        return result

    def is_ancestor(self, older: str, newer: str) -> bool:
        with self._lock:
            done = self._git("merge-base", "--is-ancestor", older, newer, check=False)
        if done.returncode not in (0, 1):
            raise MirrorError(f"git merge-base failed for {older[:12]}..{newer[:12]}")
        return done.returncode == 0

    def changes(self, before: str, after: str) -> list[Change]:
        """Paths that differ between two commits, renames as a deletion and an addition."""
        with self._lock:
            done = self._git("diff", "--name-status", "-z", "--no-renames", "--no-ext-diff", before, after)
        fields = done.stdout.decode("utf-8", "surrogateescape").split("\0")
        return [Change(status[:1], path) for status, path in zip(fields[0::2], fields[1::2]) if path]

    def all_paths(self, commit: str) -> list[str]:
        """Every file of a commit (for a full reconcile, or a branch created from nothing)."""
        with self._lock:
            done = self._git("ls-tree", "-r", "-z", "--name-only", commit)
        return [p for p in done.stdout.decode("utf-8", "surrogateescape").split("\0") if p]

    def read(self, commit: str, path: str) -> bytes | None:
        """A file's bytes at a commit, or None when it does not exist there."""
        with self._lock:
            done = self._git("cat-file", "blob", f"{commit}:{path}", check=False)
        return done.stdout if done.returncode == 0 else None

    def exists(self, commit: str, path: str) -> bool:
        with self._lock:
            done = self._git("cat-file", "-e", f"{commit}:{path}", check=False)
        return done.returncode == 0
