"""The store's contract on real databases, SQLite and PostgreSQL alike: dedupe, coalescing, serialisation,
group commit; then what only PostgreSQL (several replicas) adds: claims never shared, expired leases taken
back, one router, arrival order, and a server restart survived by the same store object."""
from __future__ import annotations

import secrets
import threading
import time

import psycopg
import pytest

from webhook_receiver.dispatch.dispatcher import Dispatcher
from webhook_receiver.launchers import JobStatus
from webhook_receiver.store import JobRequest, NewEvent, SqliteStore, StoreUnavailable
from webhook_receiver.store.postgres import PostgresStore


@pytest.fixture
def pg_schema(request):
    """(url, schema): a fresh PostgreSQL schema for one test, dropped at its end."""
    url = request.getfixturevalue("postgres_service")["STOA_RECEIVER_DATABASE_URL"]
    schema = "test_" + secrets.token_hex(6)
    yield url, schema
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request, tmp_path):
    """``open_store(**kwargs)``: a store on this test's database (the same one at each call); closed at the end."""
    opened = []
    if request.param == "sqlite":
        def make(**kwargs):
            return SqliteStore(tmp_path / "r.db", **kwargs)
    else:
        url, schema = request.getfixturevalue("pg_schema")

        def make(**kwargs):
            return PostgresStore(url, schema=schema, **kwargs)

    def opener(**kwargs):
        store = make(**kwargs)
        opened.append(store)
        return store

    opener.kind = request.param
    yield opener
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store):
    return open_store()


@pytest.fixture
def pg_stores(pg_schema):
    """``pg_stores(**kwargs)``: PostgresStore instances (replicas) on one fresh schema; closed at the end."""
    url, schema = pg_schema
    opened = []

    def make(**kwargs):
        opened.append(PostgresStore(url, schema=schema, **kwargs))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


def event(key: str | None = None, after: str = "b" * 40) -> NewEvent:
    return NewEvent(source="gitlab", kind="push", delivery_key=key, project="p", ref="refs/heads/main",
                    before="a" * 40, after=after, status="accepted", reason=None, summary={}, body=b"{}")


def deploy(api: str, ref: str) -> JobRequest:
    return JobRequest(job="deploy_api", tenant="t", api=api, environment="dev", ref=ref, rule="api-changed",
                      paths=[f"tenants/t/apis/{api}/openapi.yaml"])


def _route(store, event_id, *requests):
    return store.record_routing(event_id, "routed", {"requests": [{} for _ in requests]}, list(requests), "tr",
                                None).result()


# -- the contract, both stores ---------------------------------------------------------------------------

def test_one_delivery_key_is_stored_once_even_when_sent_concurrently(store):
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.add_event(event("same")).result()))
               for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for _id, _trace, duplicate in results if not duplicate) == 1
    assert len({event_id for event_id, _t, _d in results}) == 1
    assert store.query("SELECT deliveries FROM events")[0]["deliveries"] == 40


def test_many_concurrent_events_are_all_stored_and_survive_a_reopen(open_store):
    store = open_store()
    futures = [store.add_event(event(f"k{n}")) for n in range(500)]
    ids = {f.result()[0] for f in futures}
    assert len(ids) == 500
    assert store.commits < 500, "group commit: one transaction acknowledged several deliveries"
    store.close()
    reopened = open_store()
    assert reopened.query("SELECT COUNT(*) AS n FROM events")[0]["n"] == 500
    assert [e["id"] for e in reopened.pending_events(1000)] == [f.result()[0] for f in futures], "arrival order"


def test_a_failing_operation_does_not_undo_the_others_of_its_transaction(store):
    def broken(conn):
        conn.execute("INSERT INTO events (id, source, kind, status, trace_id, received_at) VALUES "
                     "('x', 'gitlab', 'push', 'accepted', 't', 0)")
        raise RuntimeError("boom")

    failing = store.submit(broken)
    fine = store.add_event(event("ok"))
    with pytest.raises(RuntimeError):
        failing.result()
    assert not fine.result()[2]
    assert [r["id"] for r in store.query("SELECT id FROM events")] == [fine.result()[0]]


def test_the_ingest_inbox_never_waits_for_the_store_lock_and_stores_each_delivery_once(tmp_path, monkeypatch):
    """stoa-receiver serve's two processes: the ingest writes deliveries into its inbox while another process holds
    the store's write lock; the worker moves them into events in arrival order; a re-sent delivery is a duplicate
    before the move, after it, and after the moved rows were deleted from the inbox."""
    import sqlite3

    from webhook_receiver.store import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "PRUNE_EVERY", 0.0)  # the ingest deletes moved rows at each delivery
    ingest = SqliteStore(tmp_path / "receiver.db", inbox="write")
    worker = SqliteStore(tmp_path / "receiver.db", inbox="move")
    cli = SqliteStore(tmp_path / "receiver.db")
    try:
        holder = sqlite3.connect(tmp_path / "receiver.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the worker's write lock, held
        try:
            began = time.monotonic()
            first = [ingest.add_event(event(f"k{n}")).result(5) for n in range(3)]
            again = ingest.add_event(event("k1")).result(5)
            assert time.monotonic() - began < 2, "an acknowledgement waited for the store's write lock"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert [duplicate for _i, _t, duplicate in first] == [False] * 3
        assert again == (first[1][0], first[1][1], True)
        assert cli.stats()["events"] == {"accepted": 3} and cli.stats()["inbox_pending"] == 3, "stored, not moved"
        assert cli.event(first[2][0])["status"] == "accepted"
        assert [e["id"] for e in worker.pending_events()] == [e for e, _t, _d in first], "arrival order"
        assert cli.stats()["inbox_pending"] == 0
        assert ingest.add_event(event("k2")).result(5)[:3] == (first[2][0], first[2][1], True), "after the move"
        assert ingest.add_event(event("k3")).result(5)[2] is False
        inbox = sqlite3.connect(tmp_path / "receiver.inbox.db")
        assert [r[0] for r in inbox.execute("SELECT delivery_key FROM inbox")] == ["k3"], "moved rows deleted"
        assert ingest.add_event(event("k0")).result(5)[:3] == (first[0][0], first[0][1], True), "after deletion"
        worker.pending_events()
        deliveries = {r["delivery_key"]: r["deliveries"] for r in cli.query("SELECT delivery_key, deliveries"
                                                                             " FROM events")}
        assert deliveries == {"k0": 2, "k1": 2, "k2": 2, "k3": 1}
    finally:
        for store in (ingest, worker, cli):
            store.close()


def test_the_ingest_event_loop_commits_its_deliveries_in_groups_and_answers_only_once_committed(tmp_path):
    """InboxCommitter: deliveries awaited in one event loop share transactions; each future resolves only after its
    COMMIT (read back from another connection at that moment), a re-sent key is a duplicate even within a group."""
    import asyncio
    import sqlite3

    ingest = SqliteStore(tmp_path / "receiver.db", inbox="write")
    reader = sqlite3.connect(tmp_path / "receiver.inbox.db", check_same_thread=False)
    seen_committed = []

    async def deliver(key: str):
        answer = await ingest.add_event_async(event(key))
        seen_committed.append(reader.execute("SELECT COUNT(*) FROM inbox WHERE id = ?", (answer[0],)).fetchone()[0])
        return answer

    async def burst():
        return await asyncio.gather(*(deliver(f"k{n % 150}") for n in range(300)))

    try:
        answers = asyncio.run(burst())
        assert sum(1 for _e, _t, duplicate in answers if not duplicate) == 150
        assert {a[0] for a in answers[:150]} == {a[0] for a in answers[150:]}, "the re-sent keys got the first ids"
        assert seen_committed == [1] * 300, "answered before its row was committed"
        assert ingest.commits < 100, "group commit"
    finally:
        reader.close()
        ingest.close()


def test_the_heartbeats_queue_health_agrees_with_the_full_stats(store):
    """queue_health (read every 0.1-0.5 s by the worker's heartbeat, through indexes only) must give what stats (a
    count of every row) gives, as requests wait, retry, run, die and succeed."""
    def agree():
        health, stats = store.queue_health(), store.stats()
        assert health == {key: stats[key] for key in health}
        return health

    assert agree() == {"queue_depth": 0, "dead_letters": 0, "outbox_pending": 0, "oldest_unpublished_seconds": 0.0}
    event_ids = [store.add_event(event(str(n))).result()[0] for n in range(4)]
    for n, event_id in enumerate(event_ids):
        _route(store, event_id, deploy(f"api-{n}", "c1"))
    assert agree()["queue_depth"] == 4
    first, second, third = store.claim(3, lease=60)
    store.retry_later(first["id"], 60, "503")
    store.finish(second["id"], "dead", error="refused 5 times")
    store.mark_running(third["id"], "job-3", 60)
    store.finish(third["id"], "successful")
    assert agree() == {"queue_depth": 2, "dead_letters": 1, "outbox_pending": 0, "oldest_unpublished_seconds": 0.0}


def test_the_pushes_starting_or_ending_at_a_commit_are_found_through_an_index(tmp_path):
    """Routing asks, for each push that does not continue its branch's chain, which stored pushes start or end at
    a commit: a scan of every event (28 ms a push at 10,000 events) unless SQLite uses the push_events_by_* indexes."""
    store = SqliteStore(tmp_path / "r.db")
    try:
        store.add_event(event("1")).result()
        conn, statements = store._reader(), []  # noqa: SLF001 - this thread's connection, traced
        conn.set_trace_callback(statements.append)
        assert store.known_befores("p", "refs/heads/main", ["a" * 40]) == {"a" * 40}
        assert store.known_afters("p", "refs/heads/main", ["a" * 40]) == set()
        conn.set_trace_callback(None)
        looked_up = [sql for sql in statements if "FROM events" in sql]
        assert len(looked_up) == 2
        for sql in looked_up:
            plan = " ".join(row["detail"] for row in store.query("EXPLAIN QUERY PLAN " + sql))
            assert "USING INDEX push_events_by_" in plan, plan
    finally:
        store.close()


def test_waiting_requests_coalesce_to_the_newest_commit_and_run_one_at_a_time(store):
    e1, _, _ = store.add_event(event("1")).result()
    e2, _, _ = store.add_event(event("2")).result()
    e3, _, _ = store.add_event(event("3")).result()
    assert _route(store, e1, deploy("x", "c1"))[0][1] == "created"
    assert _route(store, e2, deploy("x", "c2"), deploy("y", "c2")) [0][1] == "coalesced"
    waiting = store.query("SELECT key, ref FROM job_requests WHERE state = 'waiting' ORDER BY key")
    assert waiting == [{"key": "deploy_api|t|x|dev", "ref": "c2"}, {"key": "deploy_api|t|y|dev", "ref": "c2"}]
    claimed = store.claim(10, lease=60)
    assert {c["key"] for c in claimed} == {"deploy_api|t|x|dev", "deploy_api|t|y|dev"}
    assert all(c["launch_id"] for c in claimed)
    # While x is launched, a new change to x waits; it is not claimed until x ends.
    assert _route(store, e3, deploy("x", "c3"))[0][1] == "created"
    assert store.claim(10, lease=60) == []
    x = next(c for c in claimed if c["api"] == "x")
    store.mark_running(x["id"], "job-1", 60)
    assert store.claim(10, lease=60) == []
    store.finish(x["id"], "successful")
    (next_x,) = store.claim(10, lease=60)
    assert next_x["ref"] == "c3" and next_x["launch_id"] != x["launch_id"]
    explained = store.request(x["id"])["events"]
    assert [(e["event_id"], e["how"]) for e in explained] == [(e1, "created"), (e2, "coalesced")]
    assert store.event(e2)["requests"][0]["how"] == "coalesced"


def test_a_retry_keeps_its_launch_id_and_the_store_refuses_two_launched_requests_per_key(store):
    e1, _, _ = store.add_event(event("1")).result()
    _route(store, e1, deploy("x", "c1"))
    (first,) = store.claim(1, lease=60)
    store.retry_later(first["id"], 0, "503")
    (again,) = store.claim(1, lease=60)
    assert again["id"] == first["id"] and again["launch_id"] == first["launch_id"] and again["attempts"] == 2
    with pytest.raises(Exception, match="UNIQUE|unique constraint"):
        store.write(lambda conn: conn.execute(
            "INSERT INTO job_requests (key, job, vars, state, not_before, trace_id, event_id, created_at, updated_at)"
            " VALUES ('deploy_api|t|x|dev', 'deploy_api', '{}', 'running', 0, 't', 'e', 0, 0)"))


def test_an_expired_lease_is_taken_back_a_live_one_is_not(open_store):
    now = [1000.0]
    store = open_store(clock=lambda: now[0])
    e1, _, _ = store.add_event(event("1")).result()
    _route(store, e1, deploy("x", "c1"), deploy("y", "c1"), deploy("z", "c1"))
    x, y, z = sorted(store.claim(3, lease=60), key=lambda r: r["api"])
    store.mark_running(x["id"], "job-x", 60)
    store.mark_running(z["id"], "job-z", 600)
    now[0] += 30
    store.renew([y["id"]], 60)  # y renewed (to 1090): alive
    now[0] += 40                 # 1070: x's lease (1060) expired, y's (1090) and z's (1600) not
    assert [r["id"] for r in store.reclaim_expired(60)] == [x["id"]]
    now[0] += 30                 # 1100: y (launching, not renewed since) expired too
    (taken,) = store.reclaim_expired(60)
    assert taken["id"] == y["id"] and taken["state"] == "launching"
    assert store.request(y["id"])["state"] == "retrying" and store.request(x["id"])["state"] == "running"
    assert store.request(x["id"])["lease_until"] == 1070 + 60
    (again,) = store.claim(1, lease=60)
    assert again["id"] == y["id"] and again["launch_id"] == y["launch_id"] and again["attempts"] == 2


def test_heartbeats_and_pokes_round_trip(store):
    store.heartbeat("worker", True, {"queue_depth": 3})
    store.poke("poll")
    beat = store.heartbeat_of("worker")
    assert beat["ok"] is True and beat["details"] == {"queue_depth": 3} and store.poke_at("poll") > 0
    assert store.heartbeat_of("other") is None and store.poke_at("other") is None


def test_the_sqlite_writer_waits_for_another_process_transaction_and_commits_just_after_it(tmp_path):
    """The ingest and worker processes share the file: the writer waits for the other's transaction (no
    error), and goes on within milliseconds of its end (SQLite's own busy handler sleeps 25 to 100 ms at a time once it has waited a while)."""
    import sqlite3

    store = SqliteStore(tmp_path / "r.db")
    try:
        store.add_event(event("before")).result(10)  # the schema exists
        other = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        pending = store.add_event(event("during"))
        time.sleep(0.3)
        assert not pending.done(), "the write lock is another process's: nothing may commit"
        other.execute("COMMIT")
        released = time.monotonic()
        event_id, _trace, duplicate = pending.result(10)
        waited = time.monotonic() - released
        assert not duplicate and store.event(event_id)["delivery_key"] == "during"
        # Measured: 2-5 ms on a loaded machine; 39-45 ms with SQLite's own busy handler.
        assert waited < 0.02, f"committed {waited * 1000:.0f} ms after the lock was released"
        other.close()
    finally:
        store.close()


def test_a_store_written_by_an_older_receiver_is_upgraded_in_place(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE branch_heads (project TEXT NOT NULL, ref TEXT NOT NULL, sha TEXT NOT NULL,"
                      " event_id TEXT NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (project, ref));"
                      "INSERT INTO branch_heads VALUES ('p', 'refs/heads/main', 'abc', 'ev-1', 0);")
    old.commit()
    old.close()
    store = SqliteStore(path)
    try:
        assert store.branch_head("p", "refs/heads/main") == ("abc", None, None)
        assert store.query("PRAGMA user_version")[0]["user_version"] == 2
    finally:
        store.close()


# -- PostgreSQL: several replicas ----------------------------------------------------------------------------

def test_postgres_schema_is_versioned_and_created_once_by_replicas_starting_together(pg_stores):
    started, failures = [], []

    def start():
        try:
            started.append(pg_stores())
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and len(started) == 4
    assert started[0].query("SELECT version FROM schema_version") == [{"version": 1}]
    started[0].write(lambda conn: conn.execute("UPDATE schema_version SET version = 99"))
    with pytest.raises(StoreUnavailable, match="newer than this receiver"):
        pg_stores()


def test_opening_a_store_beside_running_replicas_takes_no_table_lock(pg_stores, pg_schema):
    """`stoa-receiver status` (or a replica starting) opens the store while others write: a schema already at its
    version is only read. Found by the benchmark: the DDL's CREATE INDEX IF NOT EXISTS waited for the writers'
    locks and ended in "deadlock detected"."""
    url, schema = pg_schema
    pg_stores().add_event(event("first")).result(10)  # the schema exists, at its version
    with psycopg.connect(url, options=f"-c search_path={schema}") as writer:  # a replica's open write transaction
        writer.execute("UPDATE events SET deliveries = deliveries + 1")
        opened: list = []
        thread = threading.Thread(target=lambda: opened.append(pg_stores()), daemon=True)
        thread.start()
        thread.join(5)
        assert opened, "opening the store waited for another transaction's table lock"
        writer.rollback()
    assert opened[0].event(opened[0].query("SELECT id FROM events")[0]["id"])["delivery_key"] == "first"


def test_two_replicas_claiming_at_once_never_get_the_same_request(pg_stores):
    a, b = pg_stores(replica="a"), pg_stores(replica="b")
    e1, _, _ = a.add_event(event("1")).result()
    apis = [f"api{n}" for n in range(300)]
    _route(a, e1, *(deploy(api, "c1") for api in apis))
    # One key with a waiting and a retrying request: only one of them may ever be launched.
    (first,) = [r for r in a.claim(1, lease=60)]
    a.retry_later(first["id"], 0, "503")
    _route(a, e1, deploy(first["api"], "c2"))
    got = {"a": [], "b": []}
    errors = []

    def claimer(store, name):
        try:
            while True:
                rows = store.claim(3, lease=60)
                if not rows:
                    return
                got[name].extend(rows)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(s, n)) for s, n in ((a, "a"), (b, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    ids_a, ids_b = [r["id"] for r in got["a"]], [r["id"] for r in got["b"]]
    assert ids_a and ids_b, "both replicas claimed work"
    assert not set(ids_a) & set(ids_b) and len(ids_a + ids_b) == len(set(ids_a + ids_b)), "a request claimed twice"
    assert len(ids_a + ids_b) == 300, "every key claimed once (the second request of the reused key waits)"
    owners = {r["id"]: r["owner"] for r in a.query("SELECT id, owner FROM job_requests WHERE state = 'launching'")}
    assert all(owners[i] == "a" for i in ids_a) and all(owners[i] == "b" for i in ids_b)


def test_a_dead_replicas_claims_are_taken_back_by_another_and_followed_not_relaunched(pg_stores):
    now = [1000.0]
    dead = pg_stores(replica="dead", clock=lambda: now[0])
    alive = pg_stores(replica="alive", clock=lambda: now[0])
    e1, _, _ = dead.add_event(event("1")).result()
    _route(dead, e1, deploy("x", "c1"), deploy("y", "c1"))
    x, y = sorted(dead.claim(2, lease=60), key=lambda r: r["api"])
    dead.mark_running(x["id"], "job-x", 60)  # x launched and running, y left half-launched: then "dead" stops
    assert alive.reclaim_expired(60) == [], "live leases are not taken"
    now[0] += 61

    class Launcher:
        name, capacity = "fake", 4

        def __init__(self):
            self.launched, self.found = [], []

        def launch(self, row, extra_vars):
            self.launched.append(row["id"])
            return f"job-{row['api']}-new"

        def find(self, row):
            self.found.append(row["id"])
            return None

        def poll(self, ids):
            return {i: JobStatus("successful") for i in ids}

        def close(self):
            pass

    launcher = Launcher()
    config = type("D", (), {"lease_seconds": 60, "max_attempts": 3, "backoff_initial": 0.01, "backoff_max": 0.01,
                            "job_timeout": 3600})()
    dispatcher = Dispatcher(alive, launcher, {"deploy_api": {"vars": ["tenant_id", "api_name", "environment"]}},
                            gitops_repo="r", dispatch_config=config, poll_interval=0)
    dispatcher.last_reclaim = 0.0
    try:
        dispatcher.step()  # reclaims, launches y (after a look-up), polls both
    finally:
        dispatcher._pool.shutdown()  # noqa: SLF001
    assert launcher.found == [y["id"]], "a half-done launch is looked up before launching again"
    assert launcher.launched == [y["id"]], "x (running elsewhere) is followed, not launched again"
    assert alive.request(x["id"])["state"] == "successful" and alive.request(y["id"])["state"] == "successful"
    assert alive.request(y["id"])["launch_id"] == y["launch_id"]
    assert alive.request(y["id"])["external_id"] == "job-y-new" and alive.request(x["id"])["external_id"] == "job-x"


def test_a_restarted_replica_takes_back_its_own_claims_at_once_not_the_others(pg_stores):
    mine, other = pg_stores(replica="me"), pg_stores(replica="other")
    e1, _, _ = mine.add_event(event("1")).result()
    _route(mine, e1, deploy("x", "c1"), deploy("y", "c1"))
    (x,) = mine.claim(1, lease=600)
    (y,) = other.claim(1, lease=600)
    mine.mark_running(x["id"], "job-x", 600)
    again = pg_stores(replica="me")  # the same receiver, restarted
    assert [r["id"] for r in again.reclaim_expired(600, own=True)] == [x["id"]]
    assert again.request(y["id"])["state"] == "launching" and again.request(y["id"])["owner"] == "other"


def test_one_router_at_a_time_across_replicas(pg_stores):
    a, b = pg_stores(replica="a"), pg_stores(replica="b")
    assert a.routing_lock() and a.routing_lock()
    assert not b.routing_lock()
    a.close()  # the holder dies: its session, and the lock, end
    deadline = time.monotonic() + 5
    while not b.routing_lock():
        assert time.monotonic() < deadline, "the routing lock was not released by the closed replica"
        time.sleep(0.05)
    assert not pg_stores(replica="c").routing_lock()


def test_unrouted_events_are_read_only_once_no_smaller_seq_is_still_uncommitted(pg_stores, pg_schema):
    store = pg_stores()
    url, schema = pg_schema
    with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}") as other:
        # Another replica's write in flight: it holds the arrival-order lock and took the smaller seq.
        other.execute("BEGIN")
        other.execute("SELECT pg_advisory_xact_lock_shared(%s)", (store._order_key,))  # noqa: SLF001
        other.execute("INSERT INTO events (id, source, kind, status, trace_id, received_at)"
                      " VALUES ('ev-first', 'gitlab', 'push', 'accepted', 't', 0)")
        later, _, _ = store.add_event(event("later")).result()
        read = []
        reader = threading.Thread(target=lambda: read.append([e["id"] for e in store.pending_events()]))
        reader.start()
        reader.join(0.5)
        assert reader.is_alive() and not read, "read while an earlier event was still uncommitted"
        other.execute("COMMIT")
        reader.join(10)
    assert read == [["ev-first", later]]


def test_a_postgres_restart_fails_writes_then_the_same_store_reconnects(pg_stores):
    from local_services import registry

    store = pg_stores()
    before, _, _ = store.add_event(event("before")).result()
    assert store.routing_lock()
    registry.down(["postgres"])
    try:
        with pytest.raises(StoreUnavailable):
            store.add_event(event("during")).result(30)
        with pytest.raises(StoreUnavailable):
            store.query("SELECT 1")
        assert not store.routing_lock()
    finally:
        registry.up(["postgres"])
    after, _, duplicate = store.add_event(event("after")).result(30)
    assert not duplicate
    assert [e["id"] for e in store.pending_events()] == [before, after], "nothing of the failed write was stored"
    assert store.add_event(event("during")).result(30)[2] is False, "the failed delivery was not stored"
    assert store.routing_lock()
