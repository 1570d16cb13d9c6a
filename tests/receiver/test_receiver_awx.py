"""Dispatch through the AWX launcher (awxkit) against the AWX simulator, which behaves like AWX 24.6.1
(strict filters: no extra_vars filtering), with failure injection: coalescing, one launch per request,
lost answers, 503 windows, dead letters and replay, templates that would drop variables."""
from __future__ import annotations

import concurrent.futures
import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

import awx_simulator
from conftest import TOKEN, push_body, receiver_config_for
from load_repo import TENANT, api_name, build
from webhook_receiver import config as receiver_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def awx():
    token = secrets.token_urlsafe(16)
    sim, server = awx_simulator.start(port=0, token=token)
    sim.configure(strict_filters=True, pending_seconds=0.02, running_seconds=0.2)
    yield sim
    server.shutdown()
    server.server_close()


def awx_config(tmp_path, remote, awx, **dispatch):
    return receiver_config_for(tmp_path, remote, launcher={"type": "awx", "awx": {
        "url": awx.url, "token": awx.token, "poll_interval": 0.1}},
        dispatch={"concurrency": 16, "backoff_initial": 0.1, "backoff_max": 0.5, **dispatch})


def post_chain(receiver, shas, indexes, workers=8):
    """Posts push i (shas[i-1] -> shas[i]) for each i, concurrently; returns the answers by i."""
    def post(i):
        return i, receiver.post(push_body(shas[i - 1], shas[i]), key=f"push-{i}")

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(post, indexes))


def deploy_jobs(awx) -> list[dict]:
    return [j for j in awx.find_jobs(template="Deploy API")]


def test_500_pushes_for_one_api_coalesce_into_one_or_two_launches(tmp_path, awx, start_receiver):
    remote, shas = build(tmp_path / "repo", 500, apis=1)
    awx.configure(running_seconds=10)  # a deploy takes seconds: the burst arrives while the first one runs
    receiver = start_receiver(awx_config(tmp_path, remote, awx))
    answers = post_chain(receiver, shas, range(1, 501))
    assert all(a.status_code == 202 for a in answers.values())
    receiver.wait_idle(timeout=180)
    launches = deploy_jobs(awx)
    assert 1 <= len(launches) <= 2, len(launches)
    newest = json.loads(launches[-1]["extra_vars"])["gitops_ref"]
    assert newest == shas[-1], "the newest commit is what ends deployed"
    # Every event is explained: it created a request, was coalesced into one, or arrived after a newer commit
    # of the same API had been requested (superseded: recorded, never deployed over the newer one).
    linked = {r["event_id"]: (r["how"], r["state"]) for r in receiver.store.query(
        "SELECT re.event_id, re.how, r.state FROM request_events re JOIN job_requests r ON r.id = re.request_id")}
    outcomes = {"created": 0, "coalesced": 0, "superseded": 0}
    for event in receiver.store.list_events(limit=1000):
        if event["id"] in linked:
            how, state = linked[event["id"]]
            assert state == "successful"
            outcomes[how] += 1
        else:
            (note,) = event["decision"]["not_launched"]
            assert note["reason"].startswith("superseded:"), event
            outcomes["superseded"] += 1
    assert sum(outcomes.values()) == 500 and outcomes["created"] == len(launches)
    print(f"\n500 pushes for one API: {len(launches)} launch(es); {outcomes}")


def test_50_pushes_for_50_apis_launch_50_jobs_each_once(tmp_path, awx, start_receiver):
    remote, shas = build(tmp_path / "repo", 50)
    receiver = start_receiver(awx_config(tmp_path, remote, awx))
    post_chain(receiver, shas, range(1, 51))
    receiver.wait_idle(timeout=120)
    launches = deploy_jobs(awx)
    apis = sorted(json.loads(j["extra_vars"])["api_name"] for j in launches)
    assert apis == [api_name(n) for n in range(50)]
    assert all(json.loads(j["extra_vars"])["tenant_id"] == TENANT for j in launches)
    assert {j["status"] for j in launches} == {"successful"}


def test_a_launch_whose_answer_is_lost_is_not_launched_again(tmp_path, awx, start_receiver):
    remote, shas = build(tmp_path / "repo", 1)
    awx.faults.lose_answers(1)
    receiver = start_receiver(awx_config(tmp_path, remote, awx))
    post_chain(receiver, shas, [1])
    receiver.wait_idle(timeout=60)
    (request,) = receiver.store.query("SELECT * FROM job_requests")
    assert request["state"] == "successful"
    assert awx.launch_count(launch_id=request["launch_id"]) == 1
    assert len(deploy_jobs(awx)) == 1
    assert receiver.metric("stoa_receiver_launches_total", outcome="found_existing") == 1


def test_a_503_window_delays_launches_and_loses_none(tmp_path, awx, start_receiver):
    remote, shas = build(tmp_path / "repo", 5)
    awx.faults.error(503, seconds=1.5, only="launch")
    receiver = start_receiver(awx_config(tmp_path, remote, awx))
    post_chain(receiver, shas, range(1, 6))
    receiver.wait_idle(timeout=60)
    rows = receiver.store.query("SELECT * FROM job_requests")
    assert len(rows) == 5 and {r["state"] for r in rows} == {"successful"}
    assert max(r["attempts"] for r in rows) > 1, "the window was hit"
    for row in rows:
        assert awx.launch_count(launch_id=row["launch_id"]) == 1
    assert receiver.metric("stoa_receiver_launches_total", outcome="retry") >= 5


def run_cli(config_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "stoa-receiver"), "--config", str(config_path), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def write_config(tmp_path: Path, remote: Path, awx, max_attempts: int = 8) -> Path:
    path = tmp_path / "receiver.yml"
    import yaml

    path.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": 0}, "state_dir": str(tmp_path / "receiver"),
        "gitlab": {"project": "platform/stoa-gitops", "project_id": 4242, "secret_tokens": ["env:TEST_GITLAB_TOKEN"]},
        "gitops": {"repository": str(remote)},
        "launcher": {"type": "awx", "awx": {"url": awx.url, "token": "env:TEST_AWX_TOKEN", "poll_interval": 0.1}},
        "dispatch": {"max_attempts": max_attempts, "backoff_initial": 0.05, "backoff_max": 0.1}}))
    return path


def test_dead_letters_are_listed_and_replayed_once(tmp_path, awx, start_receiver, monkeypatch):
    remote, shas = build(tmp_path / "repo", 1)
    monkeypatch.setenv("TEST_GITLAB_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_AWX_TOKEN", awx.token)
    path = write_config(tmp_path, remote, awx, max_attempts=2)
    awx.faults.error(503, seconds=30, only="launch")
    receiver = start_receiver(receiver_config.load(path))
    post_chain(receiver, shas, [1])
    receiver.wait_idle(timeout=30)
    (dead,) = receiver.store.list_requests("dead")
    assert dead["attempts"] == 2 and "503" in dead["last_error"]
    listed = run_cli(path, "dead-letters")
    assert f"request {dead['id']}" in listed.stdout and "503" in listed.stdout
    status = run_cli(path, "status")
    assert "dead letters:     1" in status.stdout
    awx.faults.clear()
    replayed = run_cli(path, "replay", str(dead["id"]))
    assert replayed.returncode == 0, replayed.stderr
    receiver.service.dispatcher.wake()
    receiver.wait_idle(timeout=30)
    states = sorted(r["state"] for r in receiver.store.query("SELECT state FROM job_requests"))
    assert states == ["replayed", "successful"]
    assert len(deploy_jobs(awx)) == 1


def test_a_template_that_would_drop_variables_fails_check_config_and_start_up(tmp_path, awx, monkeypatch):
    remote, _shas = build(tmp_path / "repo", 1)
    monkeypatch.setenv("TEST_GITLAB_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_AWX_TOKEN", awx.token)
    path = write_config(tmp_path, remote, awx)
    assert run_cli(path, "check-config").returncode == 0
    awx.update_job_template("Sync Alias", ask_variables_on_launch=False)
    checked = run_cli(path, "check-config")
    assert checked.returncode == 1
    assert "AWX job template 'Sync Alias' (job sync_alias) does not prompt for variables on launch" in checked.stdout
    assert "environment" in checked.stdout and "gitops_ref" in checked.stdout
    served = run_cli(path, "serve")
    assert served.returncode == 1 and "'Sync Alias'" in served.stderr and "not started" in served.stderr
    assert awx.token not in checked.stdout + served.stdout + served.stderr


def test_an_awx_notification_makes_the_dispatcher_poll_at_once(tmp_path, awx, start_receiver):
    remote, shas = build(tmp_path / "repo", 1)
    awx.configure(running_seconds=1.0)  # still running at the first poll, which follows the launch
    config = receiver_config_for(tmp_path, remote, launcher={"type": "awx", "awx": {
        "url": awx.url, "token": awx.token, "poll_interval": 60, "notification_token": "notify-secret"}})
    receiver = start_receiver(config)
    post_chain(receiver, shas, [1])
    import time

    deadline = time.monotonic() + 20
    while not deploy_jobs(awx) or deploy_jobs(awx)[0]["status"] != "successful":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # the first poll (at launch) has passed: the next one is a minute away
    (request,) = receiver.store.query("SELECT state FROM job_requests")
    assert request["state"] == "running"
    refused = receiver.http.post(f"{receiver.url}/hooks/awx-notification", json={"id": 1},
                                 headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert refused.status_code == 401
    answer = receiver.http.post(f"{receiver.url}/hooks/awx-notification", json={"id": 1, "status": "successful"},
                                headers={"Authorization": "Bearer notify-secret"}, timeout=5)
    assert answer.status_code == 202
    receiver.wait_idle(timeout=5)
    assert receiver.store.query("SELECT state FROM job_requests")[0]["state"] == "successful"


def test_traces_follow_a_push_from_receipt_to_results(tmp_path, awx, start_receiver):
    remote, shas = build(tmp_path / "repo", 2)
    receiver = start_receiver(awx_config(tmp_path, remote, awx))
    answers = post_chain(receiver, shas, [1, 2], workers=1)
    receiver.wait_idle(timeout=30)
    trace_id = answers[2].json()["trace_id"]
    trace = receiver.http.get(f"{receiver.url}/traces/{trace_id}", timeout=5).json()
    assert trace["trigger"] == "gitlab-push" and trace["status"] == "successful"
    assert trace["git"]["commit"] == shas[2] and trace["apis"] == [api_name(1)] and trace["tenants"] == [TENANT]
    assert [s["step"] for s in trace["steps"]] == ["received", "routed", "queued", "launched", "finished"]
    listed = receiver.http.get(f"{receiver.url}/traces", params={"tenant": TENANT, "status": "successful"},
                               timeout=5).json()
    assert {t["trace_id"] for t in listed} == {a.json()["trace_id"] for a in answers.values()}
    assert receiver.http.get(f"{receiver.url}/traces", params={"tenant": "nobody"}, timeout=5).json() == []
    assert receiver.http.get(f"{receiver.url}/traces", params={"status": "bogus"}, timeout=5).status_code == 400
    page = receiver.http.get(f"{receiver.url}/ui/traces/{trace_id}", timeout=5)
    assert page.status_code == 200 and "<ol class=\"timeline\"" in page.text and shas[2][:12] in page.text
    assert receiver.http.get(f"{receiver.url}/ui/traces/tr-none", timeout=5).status_code == 404
