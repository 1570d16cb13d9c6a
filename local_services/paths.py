"""Where the launcher keeps things.

- ``.cache/``: downloads and unpacked distributions; survives ``services-down``.
- ``.stoa/``: running state (pid files, logs, data, generated credentials)
  and ``services.env``, the one file that tells everybody the endpoints.
Both live in the repository root and are git-ignored.
"""
import os
from pathlib import Path

REPO_ROOT = Path(os.environ.get("STOA_ROOT", Path(__file__).resolve().parent.parent))
CACHE_DIR = Path(os.environ.get("STOA_CACHE_DIR", REPO_ROOT / ".cache"))
STATE_DIR = Path(os.environ.get("STOA_STATE_DIR", REPO_ROOT / ".stoa"))
ENV_FILE = STATE_DIR / "services.env"
JAVA_FILES = Path(__file__).resolve().parent / "java"


def state(*parts: str) -> Path:
    path = STATE_DIR.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def state_dir(*parts: str) -> Path:
    path = STATE_DIR.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache(*parts: str) -> Path:
    path = CACHE_DIR.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
