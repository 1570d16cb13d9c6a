"""What a tester meeting the receiver for the first time broke, each now a test."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import awx_simulator
from conftest import TOKEN, push_body, receiver_config_for
from gitops_remote import git

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def receiver(gitops, tmp_path, start_receiver):
    return start_receiver(receiver_config_for(tmp_path, gitops.remote, routing={"gap_grace": 0.2}), dispatch=False)


def routed(receiver, before, after, key=None):
    answer = receiver.post(push_body(before, after), key=key)
    assert answer.status_code == 202, answer.text
    return receiver.wait_routed(answer.json()["event_id"])


def test_a_malformed_approved_request_file_is_explained_and_routing_goes_on(receiver, gitops):
    start = gitops.head()
    bad = gitops.commit({"requests/prod/2026/11/PR-2026-0002.yaml": yaml.safe_dump(
        {"metadata": [1, 2], "spec": "oops", "status": {"state": "approved"}})})
    event = routed(receiver, start, bad)
    assert event["status"] == "routed" and "lacks metadata.tenant" in json.dumps(event["decision"])
    alias = gitops.commit({"aliases/dev/petstore-backend.yaml":
                           (gitops.work / "aliases/dev/petstore-backend.yaml").read_text() + "\n# next\n"})
    assert routed(receiver, bad, alias)["status"] == "routed"
    assert "sync_alias|||dev" in receiver.requests_by_key()


def test_a_force_push_back_to_the_reconciled_commit_is_a_full_reconcile(receiver, gitops):
    h0 = gitops.head()
    assert routed(receiver, "0" * 40, h0)["decision"]["mode"] == "full_reconcile"  # branch created
    c1 = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "c1"))
    routed(receiver, h0, c1)
    git("reset", "--quiet", "--hard", h0, cwd=gitops.work)
    gitops.push("--force")
    event = routed(receiver, c1, h0)
    assert event["decision"]["mode"] == "full_reconcile" and "history rewritten" in event["reason"]


def test_commits_discarded_by_a_force_push_supersede_nothing(receiver, gitops):
    c1 = gitops.head()
    c2 = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "c2"))
    routed(receiver, c1, c2)
    c3 = gitops.commit({"iam/global-admins.yaml": (gitops.work / "iam/global-admins.yaml").read_text() + "\n# c3\n"})
    routed(receiver, c2, c3)
    c4 = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "c4"))
    routed(receiver, c3, c4)
    git("reset", "--quiet", "--hard", c2, cwd=gitops.work)
    gitops.push("--force")
    event = routed(receiver, c4, c2)
    assert event["decision"]["mode"] == "full_reconcile"
    keys = {r["key"] for r in event["decision"]["requests"]}
    assert {"iam_sync|||", "full_deploy|||dev"} <= keys, event["decision"]


def test_replay_asks_again_at_the_newest_commit_of_its_key(receiver, gitops):
    c0 = gitops.head()
    c1 = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "c1"))
    routed(receiver, c0, c1)
    (first,) = receiver.store.claim(1, 60)
    receiver.store.finish(first["id"], "dead", error="503 (after 8 attempts)")
    c2 = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "c2"))
    routed(receiver, c1, c2)
    (second,) = receiver.store.claim(1, 60)
    receiver.store.finish(second["id"], "successful")
    request_id, _how = receiver.store.requeue(first["id"], first["event_id"])
    assert receiver.store.request(request_id)["ref"] == c2, "never the dead letter's older commit"


def test_a_template_that_stops_prompting_gets_its_job_canceled(tmp_path, gitops, start_receiver):
    sim, server = awx_simulator.start(port=0)
    try:
        sim.configure(strict_filters=True, running_seconds=5)
        receiver = start_receiver(receiver_config_for(tmp_path, gitops.remote, launcher={
            "type": "awx", "awx": {"url": sim.url, "token": sim.token, "poll_interval": 0.1}}))
        sim.update_job_template("Deploy API", ask_variables_on_launch=False)
        before = gitops.head()
        after = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "x"))
        receiver.post(push_body(before, after))
        receiver.wait_idle(timeout=30)
        (dead,) = receiver.store.list_requests("dead")
        assert "started without the extra vars" in dead["last_error"] and "was canceled" in dead["last_error"]
        (job,) = sim.find_jobs(template="Deploy API")
        assert job["status"] == "canceled"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("change, status", [
    ({"commits": [{"title": 5, "message": {"a": 1}, "author": "x"}], "user_username": ["x"]}, 202),
    ({"before": 5}, 400), ({"after": None}, 400), ({"after": "4565395"}, 400), ({"ref": 7}, 400),
])
def test_odd_field_types_are_read_or_refused_never_a_5xx(receiver, gitops, change, status):
    body = {**push_body(gitops.head(), gitops.head()), **change}
    answer = receiver.post(body, key=f"odd-{json.dumps(change)}")
    assert answer.status_code == status, answer.text


def test_deep_nesting_and_utf16_are_not_json(receiver):
    deep = b"[" * 100_000 + b"]" * 100_000
    assert receiver.post(deep).status_code == 400
    utf16 = json.dumps({"object_kind": "push"}).encode("utf-16")
    assert receiver.post(utf16).status_code == 400


def test_long_idempotency_keys_never_collide(receiver, gitops):
    body = push_body(gitops.head(), gitops.head())
    first = receiver.post(body, key="k" * 200 + "-one")
    second = receiver.post(body, key="k" * 200 + "-two")
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["event_id"] != second.json()["event_id"]


def cli(config: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "stoa-receiver"), "--config", str(config), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env=env)


def write_config(tmp_path: Path, repository: str, port: int = 0) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "receiver.yml"
    path.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": port}, "state_dir": str(tmp_path / "state"),
        "gitlab": {"project": "platform/stoa-gitops", "project_id": 4242, "secret_tokens": [TOKEN]},
        "gitops": {"repository": repository}}))
    return path


def test_events_print_any_stored_text(tmp_path, gitops, start_receiver):
    path = write_config(tmp_path, str(gitops.remote))
    from webhook_receiver import config as receiver_config

    receiver = start_receiver(receiver_config.load(path), dispatch=False)
    body = {**push_body(gitops.head(), gitops.head()), "user_username": "\ud800"}
    raw = json.dumps(body).encode()  # \ud800 stays escaped: valid JSON
    event_id = receiver.post(raw, key="surrogate").json()["event_id"]
    receiver.wait_routed(event_id)
    for args in (("events",), ("events", event_id)):
        shown = cli(path, *args)
        assert shown.returncode == 0 and event_id in shown.stdout, shown.stderr


def test_start_up_problems_are_messages_not_tracebacks(tmp_path, gitops):
    missing = write_config(tmp_path, str(tmp_path / "no-such-repo.git"))
    checked = cli(missing, "check-config")
    assert checked.returncode == 1 and "gitops.repository" in checked.stdout, checked.stdout
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = write_config(tmp_path / "busy", str(gitops.remote), port=taken.getsockname()[1])
        served = cli(busy, "serve")
    assert served.returncode == 1 and "cannot listen on 127.0.0.1" in served.stderr, served.stderr
    assert "Traceback" not in served.stderr + checked.stdout + checked.stderr
