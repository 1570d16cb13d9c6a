"""store.url: the configuration picks PostgreSQL, and two receivers (two state_dirs) share one database:
every push stored once, routed once by whichever holds the routing lock, every job launched once."""
from __future__ import annotations

import secrets

import psycopg
import pytest

from conftest import push_body, receiver_config_for
from webhook_receiver import config as receiver_config
from webhook_receiver.launchers import JobStatus
from webhook_receiver.store import SqliteStore, open_store
from webhook_receiver.store.postgres import PostgresStore

BASE = {"gitlab": {"project": "p/r", "secret_tokens": ["s"]}, "gitops": {"repository": "/tmp/r.git"}}


@pytest.mark.parametrize("store, message", [
    ({"url": "mysql://x"}, "r.yml: store.url: must be a postgresql:// URL"),
    ({"url": "env:NOT_SET_ANYWHERE_PG"}, "r.yml: store.url: env:NOT_SET_ANYWHERE_PG is not set in the environment"),
    ({"url": 5}, "r.yml: store.url: must be str, not int"),
    ({"schema": "x"}, "r.yml: store.schema: applies to PostgreSQL only"),
    ({"url": "postgresql://h/db", "schema": "Bad-Name"}, "r.yml: store.schema: must be a lower-case SQL identifier"),
    ({"uri": "postgresql://h/db"}, "r.yml: store.uri: unknown setting (a typo?)"),
])
def test_store_configuration_errors_name_the_field(store, message):
    with pytest.raises(receiver_config.ConfigError) as error:
        receiver_config.from_mapping({**BASE, "store": store}, origin="r.yml")
    assert message in str(error.value)


def test_the_store_url_is_a_secret_and_selects_postgres(monkeypatch, tmp_path, postgres_service):
    url = postgres_service["STOA_RECEIVER_DATABASE_URL"]
    monkeypatch.setenv("RECEIVER_TEST_DB", url)
    schema = "test_" + secrets.token_hex(6)
    loaded = receiver_config.from_mapping({**BASE, "state_dir": str(tmp_path), "store": {
        "url": "env:RECEIVER_TEST_DB", "schema": schema}}, origin="r.yml")
    password = url.split(":")[2].split("@")[0]
    assert url not in repr(loaded) and password in loaded.secrets()
    store = open_store(loaded)
    try:
        assert isinstance(store, PostgresStore) and store.schema == schema and str(tmp_path) in store.replica
    finally:
        store.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    default = open_store(receiver_config.from_mapping({**BASE, "state_dir": str(tmp_path)}, origin="r.yml"))
    try:
        assert type(default) is SqliteStore and default.path == tmp_path / "receiver.db"
    finally:
        default.close()


class CountingLauncher:
    """Records every launch, across the receivers sharing it; jobs end successfully at the first poll."""

    name, capacity = "counting", 8

    def __init__(self, launched: list):
        self.launched = launched

    def check(self, jobs):
        return []

    def launch(self, row, extra_vars):
        self.launched.append(row["launch_id"])
        return f"job-{row['id']}"

    def find(self, row):
        return f"job-{row['id']}" if row["launch_id"] in self.launched else None

    def poll(self, ids):
        return {i: JobStatus("successful") for i in ids}

    def close(self):
        pass


@pytest.fixture
def shared_schema(postgres_service):
    """(url, schema), dropped after the receivers using it stopped (requested before start_receiver)."""
    url = postgres_service["STOA_RECEIVER_DATABASE_URL"]
    schema = "test_" + secrets.token_hex(6)
    yield url, schema
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_two_receivers_share_one_postgres_store(shared_schema, tmp_path, gitops, start_receiver):
    url, schema = shared_schema
    launched: list[str] = []
    receivers = []
    for name in ("a", "b"):
        config = receiver_config_for(tmp_path / name, gitops.remote, store={"url": url, "schema": schema})
        receivers.append(start_receiver(config, launcher=CountingLauncher(launched)))
    a, b = receivers
    assert a.store.replica != b.store.replica
    before = gitops.head()
    event_ids = []
    for n in range(6):
        after = gitops.commit(gitops.touch_api("tenant-demo", ("petstore-api", "weather-api")[n % 2], f"change {n}"))
        target = (a, b)[n % 2]
        answer = target.post(push_body(before, after), key=f"push-{n}")
        assert answer.status_code == 202, answer.text
        event_ids.append(answer.json()["event_id"])
        # The same delivery re-sent to the other receiver is stored once.
        again = (b, a)[n % 2].post(push_body(before, after), key=f"push-{n}")
        assert again.status_code == 200 and again.json()["event_id"] == event_ids[-1]
        before = after
    for event_id in event_ids:
        assert a.wait_routed(event_id)["status"] == "routed"
    a.wait_idle(60)
    rows = a.store.query("SELECT key, state, launch_id FROM job_requests ORDER BY id")
    assert rows and all(r["state"] == "successful" for r in rows)
    assert sorted(launched) == sorted(r["launch_id"] for r in rows), "each request launched exactly once"
    assert {r["key"] for r in rows} == {f"deploy_api|tenant-demo|{api}|dev" for api in ("petstore-api", "weather-api")}
    holders = [r for r in receivers if r.service.store._holds_routing]  # noqa: SLF001
    assert len(holders) == 1, "one router at a time"
