"""A background server process: start detached, wait for health, stop cleanly.

Each service subclass says how to prepare (download, configure), which
command to run, which ports it binds and how to tell it is healthy; this
class does the rest the same way for all of them.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import paths


class ServiceError(RuntimeError):
    """A service could not be prepared, started or stopped."""


def port_is_bound(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie answers kill(0) but is dead: look at its state.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def group_members_alive(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes of process group ``pgid``, read from /proc.

    ``killpg`` returns before the signal has done its work, so whoever needs the group
    gone waits on this rather than on the leader alone.
    """
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, ppid, pgrp (proc(5)).
        if fields[0] != "Z" and int(fields[2]) == pgid:
            alive.append(int(entry.name))
    return alive


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log yet)"


@dataclass
class Service:
    """Base class; subclasses set ``name``, ``ports`` and the hooks below."""

    name: str = ""
    ports: tuple[int, ...] = ()
    start_timeout: float = 120.0
    extra_env: dict[str, str] = field(default_factory=dict)

    # -- hooks ------------------------------------------------------------
    def prepare(self) -> None:
        """Download and configure; must be idempotent and quick when done."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def healthy(self) -> bool:
        raise NotImplementedError

    def after_start(self) -> None:
        """Runs once the service is healthy (create topics, enable engines...)."""

    def endpoints(self) -> dict[str, str]:
        """Environment variables describing how to reach the service."""
        return {}

    # -- mechanics ----------------------------------------------------------
    @property
    def log_file(self) -> Path:
        return paths.state("logs", f"{self.name}.log")

    @property
    def pid_file(self) -> Path:
        return paths.state("run", f"{self.name}.pid")

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> bool:
        """Start unless already running. Returns True when it started it."""
        if self.running():
            return False
        busy = [p for p in self.ports if port_is_bound(p)]
        if busy:
            raise ServiceError(
                f"{self.name}: port(s) {busy} on 127.0.0.1 are taken by a process this "
                f"project did not start; stop it or set the STOA_*_PORT variables"
            )
        self.prepare()
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child
        log.write(f"\n==== {time.strftime('%F %T')} starting {self.name}\n".encode())
        log.flush()
        env = {**os.environ, **self.extra_env}
        proc = subprocess.Popen(  # noqa: S603 - fixed argv built by us
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=paths.state_dir(self.name),
            env=env,
            start_new_session=True,  # own process group: stop() kills the whole tree
        )
        log.close()
        self.pid_file.write_text(str(proc.pid))
        return True

    def wait_healthy(self) -> None:
        self.wait_until(self.healthy, "healthy")

    def wait_until(self, check: Callable[[], bool], what: str) -> None:
        """Poll ``check`` (an exception counts as "not yet") until it is true, for at most
        ``start_timeout`` seconds; ServiceError with the log's tail when the process dies or time is up."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise ServiceError(
                    f"{self.name} exited during start-up; last lines of {self.log_file}:\n"
                    f"{tail(self.log_file)}"
                )
            try:
                if check():
                    return
            except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
                pass
            time.sleep(0.5)
        raise ServiceError(
            f"{self.name} not {what} after {self.start_timeout:.0f}s; last lines of "
            f"{self.log_file}:\n{tail(self.log_file)}"
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the process group. Returns True when something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and pid_alive(pid):
                time.sleep(0.2)
            if not pid_alive(pid):
                break
        # Children that outlived the leader are still in its group: kill them and wait until
        # the kernel has taken them down (killpg only queues the signal).
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and group_members_alive(pid):
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(port_is_bound(p) for p in self.ports):
            time.sleep(0.2)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> str:
        if not self.running():
            return "stopped"
        try:
            return "healthy" if self.healthy() else "starting"
        except Exception:  # noqa: BLE001
            return "starting"
