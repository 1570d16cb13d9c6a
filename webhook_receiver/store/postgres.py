"""PostgreSQL store: the SQLite store's contract, shared by several receivers (replicas).

What differs from :class:`SqliteStore` (design/receiver-models.md §1, procrastinate, and "What to take"):

- **same contract**: every public method, same semantics and return shapes. The dialect-neutral queries are
  SqliteStore's own (inherited), run through a connection adapter that turns ``?`` into psycopg's ``%s``; what
  PostgreSQL must do differently is overridden here;
- **one writer thread, group commit**: deliveries arriving together are inserted in ONE transaction (one
  WAL flush acknowledges many), each operation in its own SAVEPOINT, as in SQLite;
- **dedupe across replicas**: ``INSERT ... ON CONFLICT (delivery_key) DO UPDATE``: two replicas receiving
  the same delivery at once store it once (the second waits for the first's commit, then counts a delivery);
- **claims**: ``SELECT ... FOR UPDATE SKIP LOCKED``: two replicas never claim the same request; a claim that
  would break "one launched request per key" (another replica claimed the key's other request meanwhile) is
  skipped, not an error. Each claim names its ``owner`` (the replica) and carries a lease (``lease_until``),
  renewed while the job is followed; :meth:`reclaim_expired` takes back claims whose lease expired (a dead
  replica), and at start-up a replica takes back its own claims at once;
- **one router**: :meth:`routing_lock` is a session advisory lock (``pg_try_advisory_lock``) on a connection of
  its own; the replica holding it routes, the others skip routing until they get it (it is released when the
  holder's session ends: the replica died, or PostgreSQL restarted). Arrival order: every write transaction
  holds a shared transaction-level advisory lock, and the router waits on the exclusive one before reading the
  unrouted events, so that no event with a smaller ``seq`` can still be uncommitted when it reads;
- **outages**: if PostgreSQL cannot take a write, the futures fail with :class:`StoreUnavailable` (the ingest
  answers 503); the next write or read opens a new connection: no new store object is needed.

Times are epoch seconds from ``clock`` (each replica's own clock: keep them NTP-synchronised; leases are
minutes long). Several receiver deployments can share one database with different ``schema`` names.
"""
from __future__ import annotations

import functools
import hashlib
import queue
import secrets
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

import psycopg
from psycopg import errors, sql as pgsql

from .model import NewEvent
from .sqlite import SqliteStore, StoreUnavailable, _loads, _row, _take_back, event_row, \
    insert_event_sql, new_event_id, new_trace_id, publish_received

SCHEMA = Path(__file__).resolve().parent / "schema_postgres.sql"
SCHEMA_VERSION = 1
CONNECT_TIMEOUT = 5  # seconds: a PostgreSQL that does not answer makes a write fail quickly (503), not hang


@functools.lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` as ``%%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _lock_key(*parts: str) -> int:
    """A stable signed 64-bit advisory lock key."""
    return int.from_bytes(hashlib.sha256(":".join(parts).encode()).digest()[:8], "big", signed=True)


class _Conn:
    """What the store's operations see: ``execute(sql, params)`` with ``?`` placeholders, like sqlite3."""

    def __init__(self, raw: psycopg.Connection):
        self.raw = raw

    def execute(self, sql: str, params: Iterable = ()):
        return self.raw.execute(_pg(sql), tuple(params))


class PostgresStore(SqliteStore):
    """The receiver's store in a PostgreSQL database (``url``; tables in ``schema``, default ``public``).

    ``replica`` names this receiver among those sharing the database (its claims' owner, its heartbeats);
    the ingest and worker processes of one receiver use the same name."""

    shared = True
    _INSERTION_ORDER = "seq"

    def __init__(self, url: str, clock: Callable[[], float] = time.time, outbox: bool = False,
                 schema: str | None = None, replica: str | None = None):
        self.url, self.schema = url, schema
        self.replica = replica or "receiver-" + secrets.token_hex(4)
        self.outbox = outbox
        self.clock = clock
        self.path = None
        self.commits = 0
        self._ops: queue.SimpleQueue = queue.SimpleQueue()
        self._local = threading.local()
        self._closed = False
        self._all_conns: list[psycopg.Connection] = []
        self._conns_lock = threading.Lock()
        namespace = schema or "public"
        self._order_key = _lock_key("stoa-receiver", namespace, "arrival-order")
        self._router_key = _lock_key("stoa-receiver", namespace, "router")
        self._schema_key = _lock_key("stoa-receiver", namespace, "schema")
        self._lock_conn: psycopg.Connection | None = None
        self._lock_mutex = threading.Lock()
        self._holds_routing = False
        try:
            self._writer_conn: psycopg.Connection | None = self._connect()
            self._create_schema(self._writer_conn)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"PostgreSQL store unavailable: {_why(exc)}") from exc
        self._writer = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self._writer.start()

    # -- connections --------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection:
        options = {}
        if self.schema:
            options["options"] = f"-c search_path={self.schema}"
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                               application_name=f"stoa-receiver {self.replica}"[:63], **options)
        with self._conns_lock:
            self._all_conns = [c for c in self._all_conns if not c.closed] + [conn]
        return conn

    def _create_schema(self, conn: psycopg.Connection) -> None:
        """Tables, indexes and the version row, once, even when several replicas start together.

        A schema already at SCHEMA_VERSION is only read: its DDL (CREATE INDEX IF NOT EXISTS takes a SHARE lock
        on each table before it finds the index there) would wait for, and deadlock with, the running replicas'
        writes; `stoa-receiver status` during a load failed so ("deadlock detected")."""
        with conn.transaction():
            table = conn.execute("SELECT to_regclass('schema_version')").fetchone()[0]
            found = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] if table else None
        if found is not None and found > SCHEMA_VERSION:
            raise StoreUnavailable(f"the database's schema is version {found}, newer than this receiver's "
                                   f"({SCHEMA_VERSION}): upgrade the receiver")
        if found == SCHEMA_VERSION:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._schema_key,))
            if self.schema:
                conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(self.schema)))
            conn.execute(SCHEMA.read_text())
            found = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
            if found is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
            elif found > SCHEMA_VERSION:
                raise StoreUnavailable(f"the database's schema is version {found}, newer than this receiver's "
                                       f"({SCHEMA_VERSION}): upgrade the receiver")

    def _reader(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = self._connect()
        return conn

    def query(self, sql: str, params: Iterable = ()) -> list[dict]:
        """Reads on this thread's connection; a connection lost (PostgreSQL restarted) is opened again once."""
        params = tuple(params)
        for attempt in (1, 2):
            if self._closed:
                raise StoreUnavailable("the store is closed")
            try:
                cursor = self._reader().execute(_pg(sql), params)
                return [_row(cursor, r) for r in cursor.fetchall()] if cursor.description else []
            except psycopg.OperationalError as exc:
                self._drop(getattr(self._local, "conn", None))
                self._local.conn = None
                if attempt == 2:
                    raise StoreUnavailable(f"PostgreSQL store unavailable: {_why(exc)}") from exc
        raise AssertionError("unreachable")

    @staticmethod
    def _drop(conn: psycopg.Connection | None) -> None:
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    # -- the writer -------------------------------------------------------------------------------
    def _write_loop(self) -> None:
        while True:
            group = self._next_group()
            if group is None:
                return
            results = []
            try:
                if self._writer_conn is None or self._writer_conn.closed or self._writer_conn.broken:
                    self._drop(self._writer_conn)
                    self._writer_conn = None
                    self._writer_conn = self._connect()
                raw = self._writer_conn
                conn = _Conn(raw)
                raw.execute("BEGIN")
                # Arrival order for the router (pending_events): it waits for every write holding this.
                raw.execute("SELECT pg_advisory_xact_lock_shared(%s)", (self._order_key,))
                for op, future in group:
                    raw.execute("SAVEPOINT op")
                    try:
                        results.append((future, True, op(conn)))
                        raw.execute("RELEASE SAVEPOINT op")
                    except psycopg.OperationalError:
                        raise  # the connection, not the operation: the whole group fails
                    except Exception as exc:  # the operation's own failure: undo it, keep the others
                        raw.execute("ROLLBACK TO SAVEPOINT op")
                        raw.execute("RELEASE SAVEPOINT op")
                        results.append((future, False, exc))
                raw.execute("COMMIT")
                self.commits += 1
            except psycopg.Error as exc:
                conn_ok = self._writer_conn is not None and not self._writer_conn.closed \
                    and not self._writer_conn.broken
                if conn_ok:
                    try:
                        self._writer_conn.execute("ROLLBACK")
                    except psycopg.Error:
                        conn_ok = False
                if not conn_ok:  # opened again for the next group
                    self._drop(self._writer_conn)
                    self._writer_conn = None
                failure = StoreUnavailable(f"the store could not commit: {_why(exc)}")
                for _op, future in group:
                    future.set_exception(failure)
                continue
            for future, ok, value in results:
                (future.set_result if ok else future.set_exception)(value)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._ops.put(None)
            self._writer.join(10)
            with self._conns_lock:
                conns, self._all_conns = self._all_conns, []
            for conn in conns:
                self._drop(conn)
            self._lock_conn = None

    # -- events -----------------------------------------------------------------------------------
    def add_event(self, event: NewEvent):
        """Future of ``(event_id, trace_id, duplicate)``; resolves once committed. A delivery key is stored once
        even when two replicas receive it at the same moment (the unique index decides)."""
        now = self.clock()

        def op(conn: _Conn):
            event_id, trace_id = new_event_id(), event.trace_id or new_trace_id()
            row = event_row(event, event_id, trace_id, now)
            if event.delivery_key:
                stored_id, stored_trace = conn.execute(
                    insert_event_sql("events") + " ON CONFLICT (delivery_key) DO UPDATE"
                    " SET deliveries = events.deliveries + 1 RETURNING id, trace_id", row).fetchone()
                if stored_id != event_id:
                    return stored_id, stored_trace, True
            else:
                conn.execute(insert_event_sql("events"), row)
            if self.outbox and event.status == "accepted":
                publish_received(conn, row, event.summary)
            return event_id, trace_id, False

        return self.submit(op)

    def pending_events(self, limit: int = 200) -> list[dict]:
        """Accepted events not routed yet, in arrival order. First waits until no write transaction is in
        flight (they hold the arrival-order lock shared): an event that took a smaller ``seq`` but is not
        committed yet would otherwise be routed after a later one. Writes begun after the wait take larger
        ``seq``s (the sequence only grows)."""
        self.query("SELECT pg_advisory_xact_lock(?)", (self._order_key,))
        return super().pending_events(limit)

    # -- job requests -------------------------------------------------------------------------------
    def claim(self, limit: int, lease: float) -> list[dict]:
        """Like SqliteStore.claim, across replicas: rows another replica is claiming are skipped (SKIP LOCKED),
        and a key whose other request another replica just launched is skipped (its unique index refuses)."""
        now = self.clock()

        def op(conn: _Conn):
            cursor = conn.execute(
                "SELECT * FROM job_requests r WHERE state IN ('waiting', 'retrying') AND not_before <= ?"
                " AND NOT EXISTS (SELECT 1 FROM job_requests x WHERE x.key = r.key"
                "                 AND x.state IN ('launching', 'running'))"
                " ORDER BY not_before, id LIMIT ? FOR UPDATE OF r SKIP LOCKED", (now, limit * 4))
            claimed, keys = [], set()
            for row in [_row(cursor, r) for r in cursor.fetchall()]:
                if row["key"] in keys or len(claimed) >= limit:
                    continue  # a waiting and a retrying request of one key: the older goes first, alone
                keys.add(row["key"])
                launch_id = row["launch_id"] or "launch-" + secrets.token_hex(10)
                conn.execute("SAVEPOINT claim_one")
                try:
                    conn.execute("UPDATE job_requests SET state = 'launching', attempts = attempts + 1,"
                                 " launch_id = ?, lease_until = ?, owner = ?, updated_at = ? WHERE id = ?",
                                 (launch_id, now + lease, self.replica, now, row["id"]))
                except errors.UniqueViolation:  # another replica launched this key's other request meanwhile
                    conn.execute("ROLLBACK TO SAVEPOINT claim_one")
                    conn.execute("RELEASE SAVEPOINT claim_one")
                    continue
                conn.execute("RELEASE SAVEPOINT claim_one")
                row.update(state="launching", attempts=row["attempts"] + 1, launch_id=launch_id,
                           owner=self.replica, vars=_loads(row["vars"], {}))
                claimed.append(row)
            return claimed

        return self.write(op)

    def reclaim_expired(self, lease: float, own: bool = False) -> list[dict]:
        """Takes back claims whose lease expired (their replica died), and with ``own=True`` (this replica's
        start-up) also every claim this replica held before it restarted. Rows being taken back by another
        replica are skipped. A running job gets this replica as owner and a new lease, and is returned for the
        caller to follow; a launch left half-done goes back to ``retrying`` (looked up before a new attempt)."""
        now = self.clock()

        def op(conn: _Conn):
            mine = " OR owner = ?" if own else ""
            cursor = conn.execute(
                f"SELECT * FROM job_requests WHERE state IN ('launching', 'running') AND (lease_until < ?{mine})"
                " ORDER BY id FOR UPDATE SKIP LOCKED", (now, self.replica) if own else (now,))
            rows = [_row(cursor, r) for r in cursor.fetchall()]
            for row in rows:
                _take_back(conn, row, now, lease, ", owner = ?", (self.replica,))
            return rows

        return self.write(op)

    def routing_lock(self) -> bool:
        """True while this replica holds the router's advisory lock (taken here when free). The lock lives on a
        connection of its own: if that connection is lost, so is the lock, and it is tried again."""
        with self._lock_mutex:
            if self._closed:
                return False
            try:
                if self._lock_conn is not None and not self._lock_conn.closed and not self._lock_conn.broken:
                    if self._holds_routing:
                        self._lock_conn.execute("SELECT 1")  # still connected, so still held
                        return True
                else:
                    self._drop(self._lock_conn)
                    self._holds_routing, self._lock_conn = False, None
                    self._lock_conn = self._connect()
                self._holds_routing = bool(self._lock_conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (self._router_key,)).fetchone()[0])
            except psycopg.Error:
                self._drop(self._lock_conn)
                self._holds_routing, self._lock_conn = False, None
            return self._holds_routing

    # -- between the ingest and the worker process of one replica -------------------------------------
    def heartbeat(self, name: str, ok: bool, details: dict) -> None:
        super().heartbeat(f"{self.replica}/{name}", ok, details)

    def heartbeat_of(self, name: str) -> dict | None:
        return super().heartbeat_of(f"{self.replica}/{name}")


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


__all__ = ["PostgresStore", "SCHEMA_VERSION"]
