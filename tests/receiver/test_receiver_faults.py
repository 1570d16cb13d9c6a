"""The faults the receiver survives, on real processes: `stoa-receiver serve` subprocesses on a fresh PostgreSQL
schema each, the AWX simulator (strict filters, as AWX 24.6.1), the real Kafka broker and PostgreSQL server.

1. ``kill -9`` of one of two replicas (the one routing) while pushes and Kafka requests flow: the other takes
   back its expired leases and finishes the work;
2. AWX answering 503, then refusing connections: launches wait and retry; those that exceed ``max_attempts``
   are dead letters, and ``stoa-receiver replay`` runs each once;
3. PostgreSQL restarted while deliveries are posted: 2xx only for what is stored, 503 otherwise, and the
   receiver recovers by itself;
4. the Kafka broker restarted during consumption and result publishing: no request lost, results delayed.

Each test prints one line of counts. In every one: zero acknowledged events lost, zero launched twice.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import requests
import yaml
from psycopg.rows import dict_row

import awx_simulator
from conftest import TOKEN, push_body
from load_repo import TENANT, api_name, build
from test_receiver_crash import ReceiverProcess, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STOA_RECEIVER = str(Path(sys.executable).parent / "stoa-receiver")
BUSY = "('waiting', 'retrying', 'launching', 'running')"


# -- fixtures and helpers ----------------------------------------------------------------------------------------
@pytest.fixture
def awx():
    sim, server = awx_simulator.start(port=0)
    sim.configure(strict_filters=True, pending_seconds=0.05, running_seconds=0.5)
    yield sim
    sim.faults.clear()
    server.shutdown()
    server.server_close()


class Fleet:
    """Receivers of one test: configurations, processes, the shared schema, the CLI."""

    def __init__(self, url: str, schema: str, root: Path, logs: Path):
        self.url, self.schema, self.root, self.logs = url, schema, root, logs
        self.processes: list[ReceiverProcess] = []

    def receiver(self, name: str, remote: Path, awx, dispatch: dict | None = None, kafka: dict | None = None,
                 start: bool = True) -> ReceiverProcess:
        port = free_port()
        config = self.root / f"{name}.yml"
        data = {
            "listen": {"host": "127.0.0.1", "port": port}, "state_dir": str(self.root / name),
            "gitlab": {"project": "platform/stoa-gitops", "project_id": 4242,
                       "secret_tokens": ["env:CRASH_GITLAB_TOKEN"]},
            "gitops": {"repository": str(remote)},
            "store": {"url": "env:FAULTS_DATABASE_URL", "schema": self.schema},
            "launcher": {"type": "awx", "awx": {"url": awx.url, "token": awx.token, "poll_interval": 0.2}},
            "dispatch": {"concurrency": 16, "backoff_initial": 0.2, "backoff_max": 1.0, **(dispatch or {})}}
        if kafka:
            data["kafka"] = kafka
        config.write_text(yaml.safe_dump(data))
        process = ReceiverProcess(config, port, self.logs / f"{name}.log")
        process.name = name
        self.processes.append(process)
        if start:
            process.start()
        return process

    def replica_name(self, process: ReceiverProcess) -> str:
        from webhook_receiver.store import replica_name
        return replica_name(type("C", (), {"state_dir": self.root / process.name})())

    def db(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, row_factory=dict_row,
                               options=f"-c search_path={self.schema}")

    def rows(self, sql: str, params=()) -> list[dict]:
        """Reads; PostgreSQL restarting (this test, or another session sharing the server) is waited for."""
        return retry_while_restarting(lambda: self._rows(sql, params))

    def _rows(self, sql: str, params) -> list[dict]:
        with self.db() as conn:
            return conn.execute(sql, params).fetchall()

    def cli(self, process: ReceiverProcess, *args: str) -> str:
        done = subprocess.run([STOA_RECEIVER, "--config", str(process.config), *args], cwd=ROOT, env=os.environ,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def wait_done(self, timeout: float, kafka_events: int = 0) -> None:
        """Until nothing is unrouted, waiting or running (and ``kafka_events`` requests are stored)."""
        deadline = time.monotonic() + timeout
        while True:
            row = self.rows(f"SELECT (SELECT COUNT(*) FROM events WHERE status = 'accepted') AS unrouted,"
                            f" (SELECT COUNT(*) FROM job_requests WHERE state IN {BUSY}) AS busy,"
                            " (SELECT COUNT(*) FROM events WHERE source = 'kafka') AS kafka")[0]
            if not row["unrouted"] and not row["busy"] and row["kafka"] >= kafka_events:
                return
            if time.monotonic() > deadline:
                tails = {p.name: p.log.read_text()[-1500:] for p in self.processes if p.log.exists()}
                raise AssertionError(f"the receivers did not finish within {timeout} s: {row}; logs: {tails}")
            time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture
def fleet(postgres_service, tmp_path, monkeypatch):
    url = postgres_service["STOA_RECEIVER_DATABASE_URL"]
    monkeypatch.setenv("FAULTS_DATABASE_URL", url)
    schema = "faults_" + secrets.token_hex(5)
    # Short state directories: a replica is named host:state_dir, and PostgreSQL keeps 63 characters of it
    # in application_name, which tells the replicas apart (who holds the routing lock).
    root = Path(tempfile.mkdtemp(prefix="stoa-f-"))
    group = Fleet(url, schema, root, tmp_path)
    yield group
    group.stop()
    shutil.rmtree(root, ignore_errors=True)

    def drop() -> None:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    retry_while_restarting(drop)


def retry_while_restarting(action, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            return action()
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def requests_topic(kafka_service):
    from confluent_kafka.admin import AdminClient, NewTopic

    servers = kafka_service["KAFKA_BOOTSTRAP_SERVERS"]
    name = f"deploy-requests-faults-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": servers, "log_level": 2})  # quiet while the broker restarts
    wanted, deadline = [NewTopic(name, 2, 1), NewTopic(f"{name}.dlq", 1, 1)], time.monotonic() + 90
    while wanted:  # the shared broker may be restarting (another session's test): bounded patience
        failed = []
        for topic, future in admin.create_topics(wanted, operation_timeout=20).items():
            try:
                future.result(30)
            except Exception as exc:  # noqa: BLE001
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    assert time.monotonic() < deadline, f"topic {topic} not created: {exc}"
                    failed.append(next(t for t in wanted if t.topic == topic))
        wanted = failed
        if wanted:
            time.sleep(1)
    yield servers, name
    try:
        for future in AdminClient({"bootstrap.servers": servers, "log_level": 2}).delete_topics([name, f"{name}.dlq"]).values():
            future.result(30)
    except Exception:  # noqa: BLE001 - the broker may have been restarted; a leftover topic is harmless
        pass


def kafka_request(n: int, tag: str) -> dict:
    """A deploy request for an API no push touches (environment staging): its own key, its own job."""
    return {"id": f"req-{uuid.uuid4()}", "type": "deploy", "tenant_id": TENANT, "api_name": f"kafka-{tag}-{n:03d}",
            "api_version": "1.0.0", "environment": "staging", "trace_id": f"kafka-{uuid.uuid4().hex[:16]}",
            "user_id": "cpi-admin", "timestamp": "2026-11-29T20:00:00Z", "payload": {}}


class Pushes:
    """Clients posting push ``i`` (``shas[i-1] -> shas[i]``, API ``i - 1`` changed) with ``Idempotency-Key``.

    Client ``c`` posts to ``ports[i % len(ports)]``; after a failure (no answer, or an answer other than 2xx) it
    sends the same delivery again, to the next port. Every answer is recorded with its time."""

    def __init__(self, shas: list[str], ports: list[int], indexes, clients: int = 8, pace: float = 0.0,
                 retry_pause: float = 0.05, timeout: float = 90):
        self.shas, self.ports, self.pace, self.retry_pause = shas, ports, pace, retry_pause
        self.acked: dict[int, str] = {}
        self.answers: list[tuple[float, int, int | None, str | None]] = []  # (when, index, status|None, event_id)
        self.retries = 0
        self._lock = threading.Lock()
        self._next = iter(list(indexes))
        self._deadline = time.monotonic() + timeout
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def start(self) -> Pushes:
        for thread in self.threads:
            thread.start()
        return self

    def join(self) -> None:
        for thread in self.threads:
            thread.join(max(1.0, self._deadline - time.monotonic() + 15))

    def _client(self) -> None:
        session = requests.Session()
        while True:
            with self._lock:
                index = next(self._next, None)
            if index is None:
                return
            body = json.dumps(push_body(self.shas[index - 1], self.shas[index])).encode()
            target = index % len(self.ports)
            while time.monotonic() < self._deadline:
                try:
                    answer = session.post(
                        f"http://127.0.0.1:{self.ports[target]}/hooks/gitlab", data=body, timeout=15, headers={
                            "Content-Type": "application/json", "X-Gitlab-Token": TOKEN,
                            "X-Gitlab-Event": "Push Hook", "Idempotency-Key": f"push-{index}"})
                    status = answer.status_code
                    event_id = answer.json().get("event_id") if status in (200, 202) else None
                except (requests.RequestException, ValueError):
                    status = event_id = None
                with self._lock:
                    self.answers.append((time.monotonic(), index, status, event_id))
                    if event_id:
                        self.acked[index] = event_id
                if event_id:
                    break
                with self._lock:
                    self.retries += 1
                target = (target + 1) % len(self.ports)
                session = requests.Session()
                time.sleep(self.retry_pause)
            if self.pace:
                time.sleep(self.pace)


def deploy_jobs(awx) -> dict[tuple, list[int]]:
    """Deploy API jobs by (api, commit) and by trace id."""
    jobs: dict[tuple, list[int]] = {}
    for job in awx.find_jobs(template="Deploy API"):
        variables = json.loads(job["extra_vars"])
        jobs.setdefault(("api", variables["api_name"], variables["gitops_ref"]), []).append(job["id"])
        jobs.setdefault(("trace", variables["trace_id"]), []).append(job["id"])
    return jobs


def launched_twice(awx) -> dict[str, int]:
    return {launch: n for launch, n in awx.counters()["jobs_by_launch_id"].items() if n > 1}


def report(title: str, **counts) -> None:
    print(f"\n[faults] {title}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))


# -- 1. kill -9 of one of two replicas ---------------------------------------------------------------------------
PUSHES = 300
KAFKA_REQUESTS = 40
KILL_AFTER = 100


def router_holder(fleet: Fleet, replicas: list[ReceiverProcess]) -> ReceiverProcess | None:
    """The replica whose session holds the routing advisory lock (pg_locks splits the 64-bit key in two)."""
    from webhook_receiver.store.postgres import _lock_key

    key = _lock_key("stoa-receiver", fleet.schema, "router") & 0xFFFFFFFFFFFFFFFF
    rows = fleet.rows("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                      " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s"
                      " AND l.objsubid = 1", (key >> 32, key & 0xFFFFFFFF))
    names = {r["application_name"] for r in rows}
    for process in replicas:
        if f"stoa-receiver {fleet.replica_name(process)}"[:63] in names:
            return process
    return None


def test_kill_9_of_one_of_two_replicas_the_other_finishes_the_work(tmp_path, awx, fleet, requests_topic):
    servers, topic = requests_topic
    awx.configure(running_seconds=1.0)  # jobs still running when their replica dies: followed by the other
    remote, shas = build(tmp_path / "repo", PUSHES)
    kafka = {"bootstrap_servers": servers, "requests_topic": topic, "dead_letter_topic": f"{topic}.dlq",
             "group_id": f"faults-{uuid.uuid4().hex[:8]}"}
    replicas = [fleet.receiver(name, remote, awx, dispatch={"lease_seconds": 3}, kafka=kafka) for name in "ab"]
    names = {fleet.replica_name(p) for p in replicas}
    assert len({f"stoa-receiver {n}"[:63] for n in names}) == 2

    from confluent_kafka import Producer

    produced: list[dict] = []
    unflushed: list[int] = []
    pushes = Pushes(shas, [p.port for p in replicas], range(1, PUSHES + 1), clients=4, pace=0.01)

    def produce() -> None:  # in step with the pushes: requests flow before and after the kill
        producer = Producer({"bootstrap.servers": servers, "log_level": 2})
        deadline = time.monotonic() + 90
        for n in range(KAFKA_REQUESTS):
            while len(pushes.acked) < n * PUSHES // KAFKA_REQUESTS and time.monotonic() < deadline:
                time.sleep(0.01)
            body = kafka_request(n, "kill")
            producer.produce(topic, json.dumps(body).encode(), key=body["trace_id"].encode())
            producer.poll(0)
            produced.append(body)
        unflushed.append(producer.flush(30))

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    pushes.start()
    deadline = time.monotonic() + 60
    while len(pushes.acked) < KILL_AFTER:
        assert time.monotonic() < deadline, f"only {len(pushes.acked)} pushes acknowledged"
        time.sleep(0.005)
    # The victim: the replica routing (it holds the lock between passes, not at every instant) while it has
    # claims in flight (on a busy machine its dispatcher may be between jobs): looked for during 10 s at most.
    deadline, victim, claims = time.monotonic() + 10, None, 0
    while time.monotonic() < deadline and not (victim is not None and claims > 0):
        victim = router_holder(fleet, replicas)
        in_flight = [] if victim is None else fleet.rows(
            "SELECT id, launch_id FROM job_requests WHERE state IN ('launching', 'running') AND owner = %s",
            (fleet.replica_name(victim),))
        claims = len(in_flight)
    assert victim is not None, "one replica holds the routing lock"
    killed_at, produced_at = len(pushes.acked), len(produced)
    victim.kill9()
    killed, killed_monotonic = time.time(), time.monotonic()
    assert killed_at < PUSHES and produced_at < KAFKA_REQUESTS, "pushes and requests still flowing at the kill"
    survivor = next(p for p in replicas if p is not victim)
    pushes.join()
    producer.join(60)
    assert len(pushes.acked) == PUSHES, f"only {len(pushes.acked)} of {PUSHES} pushes acknowledged"
    assert len(produced) == KAFKA_REQUESTS and unflushed == [0], unflushed
    # The dead replica's partition goes to the survivor once the group coordinator gives up on it
    # (kafka.session_timeout, 10 s by default; librdkafka's own default is 45 s).
    fleet.wait_done(120, kafka_events=KAFKA_REQUESTS)
    assert survivor.process.poll() is None
    taken_back = survivor.log.read_text().count("taken back (")
    last_request = fleet.rows("SELECT MAX(received_at) AS t FROM events WHERE source = 'kafka'")[0]["t"] - killed

    events = {r["id"]: r for r in fleet.rows("SELECT id, source, status FROM events")}
    lost = [i for i, event_id in pushes.acked.items() if event_id not in events]
    states: dict[str, int] = {}
    for row in fleet.rows("SELECT state, COUNT(*) AS n FROM job_requests GROUP BY state"):
        states[row["state"]] = row["n"]
    who = {fleet.replica_name(victim): "killed", fleet.replica_name(survivor): "survivor"}
    owners = {who.get(r["owner"], r["owner"]): r["n"] for r in fleet.rows("SELECT owner, COUNT(*) AS n FROM job_requests GROUP BY owner")}
    jobs = deploy_jobs(awx)
    twice = launched_twice(awx)
    counters = awx.counters()
    push_jobs = [len(jobs.get(("api", api_name(i - 1), shas[i]), [])) for i in pushes.acked]
    kafka_jobs = [len(jobs.get(("trace", body["trace_id"]), [])) for body in produced]
    report("kill -9 of one of two replicas", acknowledged=f"{len(pushes.acked)} pushes + {len(produced)} Kafka requests",
           stored=len(events), launched=counters["jobs"], launched_twice=len(twice), lost=len(lost),
           dead_letters=states.get("dead", 0),
           details=f"(killed the router after {killed_at} acks and {produced_at} requests, with {claims} claims in flight; client retries "
                   f"{pushes.retries}; requests by state {states}; requests by last owner {owners}; taken back by the survivor {taken_back}; last Kafka request stored "
                   f"{last_request:.0f} s after the kill)")
    assert not lost, f"acknowledged but not stored: {lost[:10]}"
    assert not twice, f"launched twice: {list(twice)[:5]}"
    odd = [(i, api_name(i - 1), shas[i][:12], n) for i, n in zip(pushes.acked, push_jobs) if n != 1]
    odd_jobs = [(j["id"], json.loads(j["extra_vars"]).get("gitops_ref", "")[:12]) for _i, api, _s, _n in odd
                for j in awx.find_jobs(template="Deploy API") if json.loads(j["extra_vars"]).get("api_name") == api]
    odd_rows = [fleet.rows("SELECT id, state, ref, attempts, external_id, owner, event_id FROM job_requests"
                           " WHERE api = %s", (api,)) for _i, api, _s, _n in odd]
    odd_events = [fleet.rows("SELECT e.id, e.status, e.reason, e.decision, e.deliveries, e.route_attempts, e.received_at,"
                             " e.routed_at, re.request_id, re.how FROM events e LEFT JOIN request_events re ON"
                             " re.event_id = e.id WHERE e.id = %s", (pushes.acked[i],)) for i, _a, _s, _n in odd]
    odd_answers = [[a for a in pushes.answers if a[1] == i] for i, _a, _s, _n in odd]
    assert not odd, (f"pushes without exactly one job: {odd[:5]}; their API's jobs {odd_jobs}; requests {odd_rows}; "
                     f"events {odd_events}; answers (monotonic, index, status, event id) {odd_answers}; "
                     f"killed at monotonic {killed_monotonic}")
    assert kafka_jobs.count(1) == KAFKA_REQUESTS, f"Kafka requests without exactly one job: {kafka_jobs}"
    assert counters["jobs_by_template"] == {"Deploy API": PUSHES + KAFKA_REQUESTS}, counters["jobs_by_template"]
    assert states == {"successful": PUSHES + KAFKA_REQUESTS}, states
    # The victim's claims in flight at the kill: each ended successful under the survivor, its job launched once.
    assert claims > 0, "the kill happened while the victim had claims in flight"
    # Its partitions moved within kafka.session_timeout (10 s) and a margin: 43-44 s with librdkafka's default.
    assert last_request < 35, f"the last Kafka request was stored {last_request:.0f} s after the kill"
    after = {r["id"]: r for r in fleet.rows("SELECT id, state, owner FROM job_requests WHERE id = ANY(%s)",
                                            ([c["id"] for c in in_flight],))}
    jobs_of = counters["jobs_by_launch_id"]
    assert all(after[c["id"]]["state"] == "successful" and who.get(after[c["id"]]["owner"]) == "survivor"
               and jobs_of.get(c["launch_id"]) == 1 for c in in_flight), (in_flight, after)


# -- 2. AWX unavailable ------------------------------------------------------------------------------------------
WAVE = 10
ERROR_SECONDS, REFUSE_SECONDS = 8.0, 8.0   # 503 answers, then connections refused: 16 s without AWX
WAVE_2_AT = 13.0                           # seconds into the outage
MAX_ATTEMPTS, BACKOFF_INITIAL, BACKOFF_MAX = 7, 0.5, 2.0
# With equal jitter, MAX_ATTEMPTS attempts span between sum(base/2) and sum(base) of the 6 delays:
# 4.75 s to 9.5 s (plus dispatch steps). Wave 1 (at 0 s) is dead well before 16 s; wave 2 (at 13 s) cannot be.
FASTEST_DEATH = sum(min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** a) / 2 for a in range(MAX_ATTEMPTS - 1))
assert WAVE_2_AT + FASTEST_DEATH > ERROR_SECONDS + REFUSE_SECONDS + 1


def test_awx_unavailable_launches_wait_and_retry_and_dead_letters_replay_once(tmp_path, awx, fleet):
    remote, shas = build(tmp_path / "repo", 2 * WAVE)
    receiver = fleet.receiver("r", remote, awx, dispatch={
        "max_attempts": MAX_ATTEMPTS, "backoff_initial": BACKOFF_INITIAL, "backoff_max": BACKOFF_MAX})
    began = time.monotonic()
    awx.faults.error(503, seconds=ERROR_SECONDS)
    first = Pushes(shas, [receiver.port], range(1, WAVE + 1), clients=2).start()
    first.join()
    time.sleep(max(0.0, began + ERROR_SECONDS - time.monotonic()))
    awx.faults.refuse(REFUSE_SECONDS)
    time.sleep(max(0.0, began + WAVE_2_AT - time.monotonic()))
    second = Pushes(shas, [receiver.port], range(WAVE + 1, 2 * WAVE + 1), clients=2).start()
    second.join()
    time.sleep(max(0.0, began + ERROR_SECONDS + REFUSE_SECONDS - 0.5 - time.monotonic()))
    jobs_during_outage = awx.counters()["jobs"]
    dead_during_outage = fleet.rows("SELECT COUNT(*) AS n FROM job_requests WHERE state = 'dead'")[0]["n"]
    fleet.wait_done(60)

    acked = {**first.acked, **second.acked}
    assert len(acked) == 2 * WAVE
    requests_ = fleet.rows("SELECT id, api, ref, state, attempts, last_error, launch_id FROM job_requests ORDER BY id")
    counters = awx.counters()
    jobs_of = counters["jobs_by_launch_id"]
    wave_1 = {api_name(i - 1) for i in first.acked}
    exceeded = {r["id"] for r in requests_ if r["attempts"] >= MAX_ATTEMPTS and not jobs_of.get(r["launch_id"])}
    dead = json.loads(fleet.cli(receiver, "dead-letters", "--json", "--limit", "500"))
    dead_ids = {d["id"] for d in dead}
    retried_then_ran = [r for r in requests_ if r["api"] not in wave_1]
    assert dead_ids == exceeded, (dead_ids, exceeded)
    assert {r["api"] for r in requests_ if r["id"] in dead_ids} == wave_1, "wave 1 exceeded the retry policy"
    assert all(f"(after {MAX_ATTEMPTS} attempts)" in d["last_error"] for d in dead), [d["last_error"] for d in dead]
    assert len(retried_then_ran) == WAVE
    for row in retried_then_ran:  # every first attempt fell in the outage: they waited, retried, ran once
        assert row["state"] == "successful" and row["attempts"] > 1, row
        assert jobs_of.get(row["launch_id"]) == 1, row

    for request_id in sorted(dead_ids):
        assert "asked again" in fleet.cli(receiver, "replay", str(request_id))
    fleet.wait_done(60)
    jobs = deploy_jobs(awx)
    per_push = [len(jobs.get(("api", api_name(i - 1), shas[i]), [])) for i in acked]
    states = {}
    for row in fleet.rows("SELECT state, COUNT(*) AS n FROM job_requests GROUP BY state"):
        states[row["state"]] = row["n"]
    stored = fleet.rows("SELECT id FROM events")
    lost = [i for i, event_id in acked.items() if event_id not in {e["id"] for e in stored}]
    twice = launched_twice(awx)
    report("AWX unavailable (503, then refused)", acknowledged=len(acked), stored=len(stored),
           launched=awx.counters()["jobs"], launched_twice=len(twice), lost=len(lost), dead_letters=len(dead_ids),
           details=f"(outage {ERROR_SECONDS + REFUSE_SECONDS:g} s; jobs during it {jobs_during_outage}; "
                   f"dead by its end {dead_during_outage}; replayed {len(dead_ids)}; requests by state {states})")
    assert jobs_during_outage == 0 and dead_during_outage == WAVE
    assert not lost and not twice
    assert per_push == [1] * (2 * WAVE), per_push
    assert states == {"replayed": WAVE, "successful": 2 * WAVE}, states
    assert json.loads(fleet.cli(receiver, "dead-letters", "--json")) == [], "replayed: off the dead-letter list"


# -- 3. PostgreSQL restarted -------------------------------------------------------------------------------------
FLOWING, TAIL = 260, 40


def test_a_postgres_restart_answers_503_or_stores_and_the_receiver_recovers_by_itself(tmp_path, awx, fleet):
    from local_services import registry

    remote, shas = build(tmp_path / "repo", FLOWING + TAIL)
    receiver = fleet.receiver("r", remote, awx, dispatch={"lease_seconds": 5})
    pushes = Pushes(shas, [receiver.port], range(1, FLOWING + 1), clients=3, pace=0.05, retry_pause=0.2,
                    timeout=90).start()
    deadline = time.monotonic() + 30
    while len(pushes.acked) < 40:
        assert time.monotonic() < deadline, "deliveries are not acknowledged"
        time.sleep(0.01)
    down_at = time.monotonic()
    try:
        registry.down(["postgres"])
        time.sleep(1.0)
    finally:
        registry.up(["postgres"])
    up_at = time.monotonic()
    pushes.join()
    # Later deliveries: each acknowledged at its first post, by the same receiver process.
    tail = Pushes(shas, [receiver.port], range(FLOWING + 1, FLOWING + TAIL + 1), clients=1).start()
    tail.join()
    assert receiver.process.poll() is None, "the receiver kept running"
    fleet.wait_done(90)

    statuses: dict[str, int] = {}
    for _when, _index, status, _event in pushes.answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    acked = {**pushes.acked, **tail.acked}
    answered_2xx = {event for _w, _i, status, event in pushes.answers + tail.answers if status in (200, 202)}
    stored = {r["id"] for r in fleet.rows("SELECT id FROM events")}
    not_stored = answered_2xx - stored
    jobs = deploy_jobs(awx)
    per_push = [len(jobs.get(("api", api_name(i - 1), shas[i]), [])) for i in acked]
    twice = launched_twice(awx)
    dead = fleet.rows("SELECT COUNT(*) AS n FROM job_requests WHERE state = 'dead'")[0]["n"]
    report("PostgreSQL restarted", acknowledged=len(acked), stored=len(stored), launched=awx.counters()["jobs"],
           launched_twice=len(twice), lost=len(not_stored), dead_letters=dead,
           details=f"(down/up {up_at - down_at:.1f} s; answers while flowing {statuses}; "
                   f"tail {len(tail.answers)} posts, retries {tail.retries})")
    assert set(statuses) <= {"200", "202", "503"}, f"only 2xx or 503: {statuses}"
    assert statuses.get("503", 0) > 0, "the restart was seen by deliveries"
    assert not not_stored, f"2xx for events that are not stored: {sorted(not_stored)[:5]}"
    assert len(acked) == FLOWING + TAIL
    assert tail.retries == 0 and [a[2] for a in tail.answers] == [202] * TAIL, "recovered without a restart"
    assert not twice and per_push == [1] * (FLOWING + TAIL), [n for n in per_push if n != 1]
    assert dead == 0


def test_a_store_unreachable_when_the_dispatcher_starts_delays_dispatch_and_does_not_end_it():
    """Found by the test above in a full run: PostgreSQL restarted while the worker process was starting, its
    dispatcher's start-up recovery raised StoreUnavailable outside the loop's guard, and the thread ended for good
    (every push routed, none ever launched, /readyz still ready). Deterministic here with a store that fails once."""
    from webhook_receiver.config import DispatchConfig
    from webhook_receiver.dispatch.dispatcher import Dispatcher
    from webhook_receiver.store import StoreUnavailable

    class StoreDownAtFirst:
        shared = True

        def __init__(self):
            self.failures, self.claims = 1, 0

        def reclaim_expired(self, lease, own=False):
            if self.failures:
                self.failures -= 1
                raise StoreUnavailable("the store could not commit: server closed the connection unexpectedly")
            return []

        def claim(self, limit, lease):
            self.claims += 1
            return []

    launcher = type("Launcher", (), {"name": "none", "capacity": 1})()
    store = StoreDownAtFirst()
    dispatcher = Dispatcher(store, launcher, {}, gitops_repo="", dispatch_config=DispatchConfig(), poll_interval=0.1)
    thread = threading.Thread(target=dispatcher.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not store.claims and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    dispatcher.stop()
    thread.join(5)
    assert store.failures == 0 and store.claims > 0, "the dispatcher claims once the store answers again"


# -- 4. the Kafka broker restarted ------------------------------------------------------------------------------
STREAM = 40          # requests, one every 0.1 s, before, during (buffered by the producer) and after the outage


def read_results(servers: str, traces: set[str], timeout: float = 60) -> dict[str, list[str]]:
    """deploy-results message ids by trace id, for ``traces``: the topic read from its start to its end."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": servers, "group.id": f"faults-{uuid.uuid4()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest", "log_level": 2})
    found: dict[str, list[str]] = {}
    try:
        partitions = consumer.list_topics("deploy-results", timeout=10).topics["deploy-results"].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition("deploy-results", p), timeout=10)[1]
                for p in partitions}
        consumer.assign([TopicPartition("deploy-results", p, 0) for p in partitions])
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < len(ends) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            if message.offset() >= ends[message.partition()] - 1:
                done.add(message.partition())
            value = json.loads(message.value())
            if value.get("trace_id") in traces:
                assert dict(message.headers())["message_id"].decode() == value["id"]
                found.setdefault(value["trace_id"], []).append(value["id"])
        assert len(done) == len(ends), "deploy-results read to its end"
    finally:
        consumer.close()
    return found


def test_a_kafka_restart_loses_no_request_and_delays_results(tmp_path, awx, fleet, requests_topic):
    from confluent_kafka import Producer

    from local_services import registry

    servers, topic = requests_topic
    awx.configure(running_seconds=1.0)
    remote, _shas = build(tmp_path / "repo", 1)
    receiver = fleet.receiver("r", remote, awx, kafka={
        "bootstrap_servers": servers, "requests_topic": topic, "dead_letter_topic": f"{topic}.dlq",
        "group_id": f"faults-{uuid.uuid4().hex[:8]}"})
    produced: list[dict] = []
    undelivered: list[str] = []

    def produce() -> None:  # librdkafka keeps what it cannot send yet, and sends it once the broker is back
        producer = Producer({"bootstrap.servers": servers, "enable.idempotence": True,
                             "message.timeout.ms": 120000, "log_level": 2})
        for n in range(STREAM):
            body = kafka_request(n, "restart")
            producer.produce(topic, json.dumps(body).encode(), key=body["trace_id"].encode(),
                             on_delivery=lambda error, _m: error and undelivered.append(str(error)))
            producer.poll(0)
            produced.append(body)
            time.sleep(0.1)
        producer.flush(120)

    producing = threading.Thread(target=produce, daemon=True)
    producing.start()
    deadline = time.monotonic() + 30
    while not fleet.rows("SELECT 1 FROM job_requests WHERE state = 'running'"):  # consuming and launching
        assert time.monotonic() < deadline, "no request consumed"
        time.sleep(0.05)
    consumed_before = fleet.rows("SELECT COUNT(*) AS n FROM events WHERE source = 'kafka'")[0]["n"]
    down_at = time.monotonic()
    try:
        registry.down(["kafka"])
        time.sleep(1.5)  # jobs end meanwhile: their results wait in the outbox
        pending_during = fleet.rows("SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL"
                                    " AND topic = 'deploy-results'")[0]["n"]
    finally:
        registry.up(["kafka"])
        registry.get("kafka").after_start()  # the design's topics, each partition answering
    up_at = time.monotonic()
    producing.join(150)
    assert not producing.is_alive() and not undelivered, undelivered
    fleet.wait_done(90, kafka_events=STREAM)
    assert receiver.process.poll() is None, "the receiver kept running"
    deadline = time.monotonic() + 60
    while fleet.rows("SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL")[0]["n"]:
        assert time.monotonic() < deadline, "the outbox was not published after the broker came back"
        time.sleep(0.2)

    traces = {body["trace_id"] for body in produced}
    results = read_results(servers, traces)
    jobs = deploy_jobs(awx)
    per_request = [len(jobs.get(("trace", t), [])) for t in traces]
    twice = launched_twice(awx)
    kafka_events = fleet.rows("SELECT SUM(deliveries) AS deliveries, COUNT(*) AS n FROM events"
                              " WHERE source = 'kafka'")[0]
    distinct = {t: len(set(ids)) for t, ids in results.items()}
    report("Kafka broker restarted", acknowledged=f"{len(produced)} requests produced", stored=kafka_events["n"],
           launched=awx.counters()["jobs"], launched_twice=len(twice), lost=STREAM - sum(n == 1 for n in per_request),
           dead_letters=fleet.rows("SELECT COUNT(*) AS n FROM job_requests WHERE state = 'dead'")[0]["n"],
           details=f"(down/up {up_at - down_at:.1f} s after {consumed_before} consumed; deliveries "
                   f"{kafka_events['deliveries']}; results pending during the outage {pending_during}; "
                   f"deploy-results messages {sum(len(i) for i in results.values())}, distinct ids "
                   f"{sum(distinct.values())})")
    assert pending_during > 0, "results were waiting while the broker was down"
    assert kafka_events["n"] == STREAM
    assert not twice and per_request == [1] * STREAM, per_request
    assert set(results) == traces, f"results missing for {len(traces - set(results))} requests"
    assert set(distinct.values()) == {1}, "one result per job (distinct message ids)"
