"""The SQLite store's contract on a real database file: dedupe, coalescing, serialisation, group commit."""
from __future__ import annotations

import threading

import pytest

from webhook_receiver.store import JobRequest, NewEvent, SqliteStore


@pytest.fixture
def store(tmp_path):
    opened = SqliteStore(tmp_path / "r.db")
    yield opened
    opened.close()


def event(key: str | None = None, after: str = "b" * 40) -> NewEvent:
    return NewEvent(source="gitlab", kind="push", delivery_key=key, project="p", ref="refs/heads/main",
                    before="a" * 40, after=after, status="accepted", reason=None, summary={}, body=b"{}")


def deploy(api: str, ref: str) -> JobRequest:
    return JobRequest(job="deploy_api", tenant="t", api=api, environment="dev", ref=ref, rule="api-changed",
                      paths=[f"tenants/t/apis/{api}/openapi.yaml"])


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


def test_many_concurrent_events_are_all_stored_and_survive_a_reopen(tmp_path):
    store = SqliteStore(tmp_path / "r.db")
    futures = [store.add_event(event(f"k{n}")) for n in range(500)]
    ids = {f.result()[0] for f in futures}
    assert len(ids) == 500
    assert store.commits < 500, "group commit: one transaction acknowledged several deliveries"
    store.close()
    reopened = SqliteStore(tmp_path / "r.db")
    assert reopened.query("SELECT COUNT(*) AS n FROM events")[0]["n"] == 500
    reopened.close()


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


def _route(store, event_id, *requests):
    return store.record_routing(event_id, "routed", {"requests": [{} for _ in requests]}, list(requests), "tr",
                                None).result()


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


def test_a_retry_keeps_its_launch_id_and_the_store_refuses_two_launched_requests_per_key(store):
    e1, _, _ = store.add_event(event("1")).result()
    _route(store, e1, deploy("x", "c1"))
    (first,) = store.claim(1, lease=60)
    store.retry_later(first["id"], 0, "503")
    (again,) = store.claim(1, lease=60)
    assert again["id"] == first["id"] and again["launch_id"] == first["launch_id"] and again["attempts"] == 2
    with pytest.raises(Exception, match="UNIQUE"):
        store.write(lambda conn: conn.execute(
            "INSERT INTO job_requests (key, job, vars, state, not_before, trace_id, event_id, created_at, updated_at)"
            " VALUES ('deploy_api|t|x|dev', 'deploy_api', '{}', 'running', 0, 't', 'e', 0, 0)"))


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
