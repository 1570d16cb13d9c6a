"""A real bare Git remote holding the example GitOps repository, for the tests of jobs and promotion requests."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gitops"


def git(*args: str, cwd) -> str:
    return subprocess.run(["git", "-c", "user.name=seed", "-c", "user.email=seed@stoa.local", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


def make_remote(tmp_path: Path) -> Path:
    """``tmp_path/remote.git``: examples/gitops committed once on main."""
    seed = tmp_path / "seed"
    shutil.copytree(EXAMPLE, seed)
    git("init", "--quiet", "--initial-branch=main", cwd=seed)
    git("add", ".", cwd=seed)
    git("commit", "--quiet", "-m", "seed", cwd=seed)
    bare = tmp_path / "remote.git"
    git("clone", "--quiet", "--bare", str(seed), str(bare), cwd=tmp_path)
    return bare
