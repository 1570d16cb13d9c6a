"""The local PostgreSQL (the webhook receiver's multi-replica store), through the launcher."""
from __future__ import annotations

import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from local_services import paths, registry
from local_services.postgres import Postgres
from local_services.process import pid_alive, port_is_bound

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the postmaster's workers run in sessions of their own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_receiver_database_url_connects_and_selects_1(postgres_service):
    url = postgres_service["STOA_RECEIVER_DATABASE_URL"]
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == (
        "postgresql", "127.0.0.1", Postgres().port, "/stoa_receiver")
    assert parts.username == postgres_service["PGUSER"] == "stoa_receiver"
    assert parts.password == postgres_service["PGPASSWORD"]
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "stoa_receiver", "stoa_receiver")
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        # The receiver creates its own tables: it owns the database.
        table = f"t_{uuid.uuid4().hex[:8]}"
        conn.execute(f"CREATE TEMP TABLE {table} (id int)")
    # The same server through libpq's own variables.
    with psycopg.connect(host=postgres_service["PGHOST"], port=postgres_service["PGPORT"],
                         user=postgres_service["PGUSER"], password=postgres_service["PGPASSWORD"],
                         dbname=postgres_service["PGDATABASE"], connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_only_the_password_opens_it_and_the_password_file_is_private(postgres_service):
    port = Postgres().port
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host="127.0.0.1", port=port, user="stoa_receiver", password="wrong",
                        dbname="stoa_receiver", connect_timeout=5)
    # The superuser has no password: it cannot log in over TCP at all.
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=port, user="postgres", password="", dbname="postgres",
                        connect_timeout=5)
    secret = paths.STATE_DIR / "postgres" / "receiver-password"
    assert secret.read_text().strip() == postgres_service["PGPASSWORD"]
    assert secret.stat().st_mode & 0o077 == 0
    assert (paths.STATE_DIR / "postgres" / "data").stat().st_mode & 0o077 == 0


def test_skip_locked_queue_and_listen_notify(postgres_service):
    """The two features the receiver's multi-replica store is built on."""
    url = postgres_service["STOA_RECEIVER_DATABASE_URL"]
    table, channel = f"q_{uuid.uuid4().hex[:8]}", f"c_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
        admin.execute(f"INSERT INTO {table} SELECT generate_series(1, 3)")
        try:
            claim = f"SELECT id FROM {table} ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
            # lock_timeout: a claim that waited for the other replica's row would fail, not hang.
            with psycopg.connect(url, options="-c lock_timeout=5s") as one, \
                    psycopg.connect(url, options="-c lock_timeout=5s") as two:
                assert one.execute(claim).fetchone() == (1,)
                assert two.execute(claim).fetchone() == (2,), "a row locked by another replica is skipped"
                one.rollback()
                assert one.execute(claim).fetchone() == (1,), "a rolled back claim is free again"

            with psycopg.connect(url, autocommit=True) as listener:
                listener.execute(f"LISTEN {channel}")
                sender = threading.Timer(0.2, lambda: admin.execute(
                    "SELECT pg_notify(%s, %s)", (channel, "event-42")))
                sender.start()
                got = [(n.channel, n.payload) for n in listener.notifies(timeout=10, stop_after=1)]
                sender.join()
            assert got == [(channel, "event-42")]
        finally:
            admin.execute(f"DROP TABLE {table}")


def test_data_survives_down_and_up_and_down_leaves_nothing(postgres_service):
    service = Postgres()
    table, marker = f"keep_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with psycopg.connect(postgres_service["STOA_RECEIVER_DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (marker text)")
        conn.execute(f"INSERT INTO {table} VALUES (%s)", (marker,))
        # A client still connected at `down` must not hold the shutdown up.
        postmaster = service.pid()
        workers = _children(postmaster)
        assert postmaster and len(workers) >= 3, (postmaster, workers)  # checkpointer, walwriter, this session...

        assert "postgres" in registry.down(["postgres"])
    assert not pid_alive(postmaster)
    assert [w for w in workers if pid_alive(w)] == [], "every server process must be gone"
    assert not port_is_bound(service.port)
    assert not service.pid_file.exists()
    assert registry.status()["postgres"] == "stopped"
    assert "STOA_RECEIVER_DATABASE_URL" not in registry.read_env_file()

    outcome = registry.up(["postgres"])[0]
    assert outcome.started
    again = registry.read_env_file()
    assert again["STOA_RECEIVER_DATABASE_URL"] == postgres_service["STOA_RECEIVER_DATABASE_URL"]
    with psycopg.connect(again["STOA_RECEIVER_DATABASE_URL"], autocommit=True) as conn:
        assert conn.execute(f"SELECT marker FROM {table}").fetchall() == [(marker,)]
        conn.execute(f"DROP TABLE {table}")


def test_a_killed_server_starts_again_with_its_data(postgres_service):
    """kill -9 of the postmaster (a crash): `up` starts it again; WAL recovery keeps committed rows."""
    import os
    import signal
    import time

    service = Postgres()
    table, marker = f"crash_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with psycopg.connect(postgres_service["STOA_RECEIVER_DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (marker text)")
        conn.execute(f"INSERT INTO {table} VALUES (%s)", (marker,))
        postmaster = service.pid()
        workers = _children(postmaster)
        os.kill(postmaster, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(pid_alive(p) for p in [postmaster, *workers]):
            time.sleep(0.1)
        assert not any(pid_alive(p) for p in [postmaster, *workers]), "workers exit when the postmaster dies"
    assert registry.status()["postgres"] == "stopped"

    # Where the dead postmaster's parent is gone, its zombie can linger until init reaps it, and
    # postgres takes a lock file naming a zombie for a running server: hold one and point the lock at it.
    import subprocess
    import sys

    zombie = subprocess.Popen(service._as_server_user([sys.executable, "-c", "pass"]))  # the server's user
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.05)
    lock = service.data_dir / "postmaster.pid"
    lines = lock.read_text().splitlines()
    lock.write_text("\n".join([str(zombie.pid), *lines[1:]]) + "\n")
    try:
        assert registry.up(["postgres"])[0].started
    finally:
        zombie.wait()
    with psycopg.connect(registry.read_env_file()["STOA_RECEIVER_DATABASE_URL"], autocommit=True) as conn:
        assert conn.execute(f"SELECT marker FROM {table}").fetchall() == [(marker,)]
        conn.execute(f"DROP TABLE {table}")
    this_start = service.log_file.read_text().rsplit("==== ", 1)[-1]
    assert "database system was interrupted" in this_start, this_start
