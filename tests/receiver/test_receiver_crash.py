"""kill -9 of the receiver while 2,000 pushes for distinct APIs are posted, then a restart.

Clients retry on connection errors (with the same Idempotency-Key, as GitLab's resend
does). Afterwards every event answered 2xx must be stored, and launched exactly once or
accounted for (coalesced, superseded, covered by a full reconcile, ignored, dead-lettered);
no launch id may have started two AWX jobs. The counts are printed.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

import awx_simulator
from conftest import TOKEN, push_body
from load_repo import build

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 2000
KILL_AFTER = 700


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ReceiverProcess:
    def __init__(self, config: Path, port: int, log: Path):
        self.config, self.port, self.log = config, port, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "stoa-receiver"), "--config", str(self.config), "serve"], cwd=ROOT,
            env={**os.environ, "CRASH_GITLAB_TOKEN": TOKEN}, stdout=self.log.open("a"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("the receiver did not start")

    def kill9(self) -> None:
        """SIGKILL to the receiver's ingest and worker processes at once: a crash, nothing stops cleanly."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the worker, reparented, is gone once the group is empty
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # the ingest process stops its worker
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def awx():
    sim, server = awx_simulator.start(port=0)
    sim.configure(strict_filters=True, pending_seconds=0.02, running_seconds=0.1)
    yield sim
    server.shutdown()
    server.server_close()


def test_kill_9_while_2000_pushes_are_posted_loses_nothing_and_launches_nothing_twice(tmp_path, awx):
    remote, shas = build(tmp_path / "repo", EVENTS)
    port = free_port()
    config = tmp_path / "receiver.yml"
    state = tmp_path / "receiver"
    config.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": port}, "state_dir": str(state),
        "gitlab": {"project": "platform/stoa-gitops", "project_id": 4242, "secret_tokens": ["env:CRASH_GITLAB_TOKEN"]},
        "gitops": {"repository": str(remote)},
        "launcher": {"type": "awx", "awx": {"url": awx.url, "token": awx.token, "poll_interval": 0.2}},
        "dispatch": {"concurrency": 32, "backoff_initial": 0.2, "backoff_max": 2.0}}))
    receiver = ReceiverProcess(config, port, tmp_path / "receiver.log")
    receiver.start()

    acked: dict[int, str] = {}
    lock = threading.Lock()
    next_index = iter(range(1, EVENTS + 1))
    retries = [0]
    deadline = time.monotonic() + 240

    def client():
        session = requests.Session()
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            body = json.dumps(push_body(shas[index - 1], shas[index])).encode()
            while time.monotonic() < deadline:
                try:
                    answer = session.post(f"http://127.0.0.1:{port}/hooks/gitlab", data=body, timeout=10, headers={
                        "Content-Type": "application/json", "X-Gitlab-Token": TOKEN, "X-Gitlab-Event": "Push Hook",
                        "Idempotency-Key": f"push-{index}"})
                except requests.RequestException:
                    answer = None
                if answer is not None and answer.status_code in (200, 202):
                    with lock:
                        acked[index] = answer.json()["event_id"]
                    break
                with lock:
                    retries[0] += 1
                session = requests.Session()
                time.sleep(0.05)

    clients = [threading.Thread(target=client) for _ in range(8)]
    for thread in clients:
        thread.start()
    while len(acked) < KILL_AFTER:
        time.sleep(0.005)
    receiver.kill9()
    killed_at = len(acked)
    receiver.start()
    for thread in clients:
        thread.join()
    try:
        assert len(acked) == EVENTS, f"only {len(acked)} deliveries acknowledged before the deadline"
        db = sqlite3.connect(f"file:{state / 'receiver.db'}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        # Deliveries are written to the ingest process's inbox, then moved into events by the worker.
        db.execute(f"ATTACH DATABASE 'file:{state / 'receiver.inbox.db'}?mode=ro' AS inbox")
        wait_until = time.monotonic() + 240
        while time.monotonic() < wait_until:
            busy = db.execute("SELECT (SELECT COUNT(*) FROM events WHERE status = 'accepted') +"
                              " (SELECT COUNT(*) FROM inbox.inbox WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM"
                              "  inbox_moved WHERE name = 'events')) +"
                              " (SELECT COUNT(*) FROM job_requests WHERE state IN"
                              "  ('waiting', 'retrying', 'launching', 'running'))").fetchone()[0]
            if not busy:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the receiver did not finish its work")
        events = {r["id"]: r for r in db.execute("SELECT * FROM events")}
        lost = [i for i, event_id in acked.items() if event_id not in events]
        assert not lost, f"acknowledged but not stored: {lost[:10]}"
        linked = {r["event_id"] for r in db.execute("SELECT event_id FROM request_events")}
        requests_ = list(db.execute("SELECT * FROM job_requests"))
        outcome = {"launched (created a request)": 0, "coalesced": 0, "superseded": 0, "covered by full reconcile": 0,
                   "full reconcile": 0, "ignored": 0}
        hows = {r["event_id"]: r["how"] for r in db.execute("SELECT event_id, how FROM request_events")}
        for event_id in acked.values():
            event = events[event_id]
            decision = json.loads(event["decision"] or "{}")
            if event["status"] == "ignored":
                outcome["ignored"] += 1
            elif decision.get("mode") == "covered":
                outcome["covered by full reconcile"] += 1
            elif event_id in linked:
                key = "full reconcile" if decision.get("mode") == "full_reconcile" else (
                    "coalesced" if hows[event_id] == "coalesced" else "launched (created a request)")
                outcome[key] += 1
            else:
                reasons = [n["reason"] for n in decision.get("not_launched", [])]
                assert reasons and all(r.startswith("superseded") for r in reasons), (event_id, decision)
                outcome["superseded"] += 1
        states: dict[str, int] = {}
        for row in requests_:
            states[row["state"]] = states.get(row["state"], 0) + 1
        counters = awx.counters()
        twice = {launch: n for launch, n in counters["jobs_by_launch_id"].items() if n > 1}
        by_request = {r["launch_id"]: r for r in requests_}
        unknown = set(counters["jobs_by_launch_id"]) - set(by_request)
        # A Full Deploy (a full reconcile after the restart) runs Deploy API jobs of its own, without api_name.
        jobs = [job for job in awx.find_jobs(template="Deploy API") if job["launch_type"] != "workflow"]
        deployed = {}
        for job in jobs:
            variables = json.loads(job["extra_vars"])
            deployed.setdefault((variables["api_name"], variables["gitops_ref"]), []).append(job["id"])
        print(f"\nkill -9 after {killed_at} acknowledged deliveries; client retries {retries[0]}")
        print(f"acknowledged {len(acked)}, stored {len(events)}, lost {len(lost)}")
        print(f"events: {outcome}")
        print(f"job requests by state: {states}; AWX jobs {counters['jobs']}, launched twice {len(twice)}")
        assert not twice, f"launched twice: {list(twice)[:5]}"
        assert not unknown, "an AWX job that no request accounts for"
        assert all(len(ids) == 1 for ids in deployed.values()), "the same API and commit deployed twice"
        assert set(states) <= {"successful", "dead"}, states
        for row in requests_:
            if row["state"] == "successful":
                assert counters["jobs_by_launch_id"].get(row["launch_id"]) == 1, dict(row)
            else:  # dead letters must say why, and be replayable
                assert row["last_error"], dict(row)
        assert sum(outcome.values()) == EVENTS
    finally:
        receiver.stop()
