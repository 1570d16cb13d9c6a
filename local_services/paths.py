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


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte, atomically (tmp file + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
