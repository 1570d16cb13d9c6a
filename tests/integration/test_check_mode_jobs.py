"""Check mode predicts the job (issue 18, points 1 and 3).

Each job playbook runs with ``--check --diff`` and then for real, against the gateway simulator and a real bare
GitOps remote, on a fresh job work directory and after changes pushed to Git (new version, changed alias, changed
spec then rollback without target_ref, a new API); both runs must report the same per-object operations, and the
check run must send no write to the gateway. Operations are read from the ansible.posix.json callback: every
module result (and every entry of a set module's ``results``) that has an ``operations`` list, keyed by task and
object name.

Also: gateway_api with a document whose ``$ref`` points to nothing, against an active API, writes nothing (no PUT,
POST or DELETE in the simulator's request log, so no deactivation either) and names the file and the pointer of the
``$ref`` without printing the document.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import stoa_tools  # noqa: F401
from gitops_remote import git, make_remote
from vault_helpers import ensure_secret
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient

ROOT = Path(__file__).resolve().parents[2]
PETSTORE = "tenants/tenant-demo/apis/petstore-api"
SKIPPED = {"invocation", "diff", "existing", "end_state", "before", "after", "summary"}


@pytest.fixture
def remote(tmp_path):
    return make_remote(tmp_path)


@pytest.fixture
def weather_key(vault_service):
    ensure_secret(vault_service, "dev/weather-api", {"api_key": "k-" + os.urandom(6).hex()})
    return vault_service


def run(playbook, tmp_path, sim, *extra, check=False, services=None):
    """ansible-playbook as AWX runs it (a fresh process, the job's work dir), output as JSON."""
    env = {**os.environ, **(services or {}), "STOA_WORK_DIR": str(tmp_path / "work"),
           "STOA_GATEWAY_DEV_URL": sim.url, "STOA_GATEWAY_DEV_PASSWORD": sim.password,
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_FORCE_COLOR": "0"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    args = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/dev", f"playbooks/{playbook}"]
    args += ["--check", "--diff"] if check else []
    for item in extra:
        args += ["-e", item]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, ("check " if check else "real ") + playbook + ": " + done.stdout[-6000:] + done.stderr[-2000:]
    return json.loads(done.stdout[done.stdout.index("{"):])


def operations(report):
    """{(task, object path): operations} for every result holding an ``operations`` list, in both kinds of run."""
    found = {}

    def walk(node, key):
        if isinstance(node, dict):
            if isinstance(node.get("operations"), list):
                found[key] = list(node["operations"])
            for name, value in node.items():
                if name not in SKIPPED and isinstance(value, (dict, list)):
                    walk(value, key + (name,))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                label = value.get("name") or value.get("item", {}).get("metadata", {}).get("name") \
                    if isinstance(value, dict) and isinstance(value.get("item", {}), dict) else None
                walk(value, key + (label or index,))

    for play in report["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                walk(result, (task["task"]["name"], host))
    return found


def predicts(playbook, tmp_path, sim, *extra, services=None):
    """Check run then real run: the same operations, none written by the check run. Returns the operations."""
    sim.clear_log()
    checked = operations(run(playbook, tmp_path, sim, *extra, check=True, services=services))
    assert sim.non_get_requests() == [], f"{playbook} --check wrote to the gateway"
    real = operations(run(playbook, tmp_path, sim, *extra, services=services))
    assert checked == real, f"{playbook}: check mode predicted {checked}, the real run did {real}"
    return real


def push(remote, tmp_path, message, edit):
    work = tmp_path / "edit"
    if not work.exists():
        git("clone", "--quiet", str(remote), str(work), cwd=tmp_path)
    git("pull", "--quiet", "origin", "main", cwd=work)
    edit(work)
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", message, cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)


def replace(path, old, new):
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def done(found, *wanted):
    """The operations done, whatever task they were in (flattened, in order)."""
    return [op for ops in found.values() for op in ops if op in wanted or not wanted]


def test_check_mode_predicts_every_job_on_a_fresh_checkout_and_after_changes(remote, tmp_path, gateway_sim,
                                                                             weather_key):
    api = ["tenant_id=tenant-demo", "api_name=petstore-api", "environment=dev", f"gitops_repo={remote}"]
    env = ["environment=dev", f"gitops_repo={remote}"]

    # A fresh work directory and an empty gateway: every object is new (the check run still has no checkout).
    first = predicts("deploy_api.yml", tmp_path, gateway_sim, *api)
    assert "create" in done(first) and "activate" in done(first)
    assert predicts("sync_aliases.yml", tmp_path, gateway_sim, *env, services=weather_key)
    synced = predicts("sync_gateway.yml", tmp_path, gateway_sim, *env, services=weather_key)
    assert "create" in done(synced)  # weather-api, new
    # Nothing changed in Git: nothing to do, in both runs.
    assert done(predicts("deploy_api.yml", tmp_path, gateway_sim, *api)) == []

    # A new version pushed after the last run: the check run reads it (not the previous commit).
    push(remote, tmp_path, "petstore 1.1.0", lambda w: replace(w / PETSTORE / "api.yaml", '"1.0.0"', '"1.1.0"'))
    assert "create_version" in done(predicts("deploy_api.yml", tmp_path, gateway_sim, *api))

    # A changed alias.
    push(remote, tmp_path, "petstore alias timeout", lambda w: replace(
        w / "aliases/dev/petstore-backend.yaml", "readTimeout: 60000", "readTimeout: 45000"))
    assert done(predicts("sync_aliases.yml", tmp_path, gateway_sim, *env, services=weather_key)) == ["update"]
    # Full Deploy (the aliases, then every API): another alias change is predicted and made once, not twice.
    push(remote, tmp_path, "petstore alias timeout again", lambda w: replace(
        w / "aliases/dev/petstore-backend.yaml", "readTimeout: 45000", "readTimeout: 30000"))
    assert done(predicts("full_deploy.yml", tmp_path, gateway_sim, *env, services=weather_key)) == ["update"]

    # A changed spec, deployed; then rollback without target_ref finds the previous commit in both runs.
    push(remote, tmp_path, "petstore /pets/search", lambda w: replace(
        w / PETSTORE / "openapi.yaml", "  /pets/{petId}:",
        "  /pets/search:\n    get:\n      responses:\n        \"200\": {description: found}\n  /pets/{petId}:"))
    assert "update_spec" in done(predicts("deploy_api.yml", tmp_path, gateway_sim, *api))
    rolled = predicts("rollback.yml", tmp_path, gateway_sim, *api)
    assert "update_spec" in done(rolled)

    # A new API in Git (a copy of petstore under another name).
    def new_api(work):
        source, target = work / PETSTORE, work / "tenants/tenant-demo/apis/orders-api"
        for path in source.rglob("*"):
            if path.is_file():
                destination = target / path.relative_to(source)
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_text(path.read_text().replace("petstore-api", "orders-api"))

    push(remote, tmp_path, "orders-api", new_api)
    orders = ["tenant_id=tenant-demo", "api_name=orders-api", "environment=dev", f"gitops_repo={remote}"]
    assert "create" in done(predicts("deploy_api.yml", tmp_path, gateway_sim, *orders))
    # And its deletion.
    assert done(predicts("delete_api.yml", tmp_path, gateway_sim, *orders)) == ["deactivate", "delete"]


def test_check_mode_job_events_are_marked_and_never_job_results(remote, tmp_path, gateway_sim, kafka_service):
    from confluent_kafka import Consumer

    trace = "trace-" + os.urandom(5).hex()
    args = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/dev", "playbooks/deploy_api.yml",
            "--check", "-e", "tenant_id=tenant-demo", "-e", "api_name=petstore-api", "-e", "environment=dev",
            "-e", f"gitops_repo={remote}", "-e", f"trace_id={trace}"]
    env = {**os.environ, **kafka_service, "STOA_WORK_DIR": str(tmp_path / "work"),
           "STOA_GATEWAY_DEV_URL": gateway_sim.url, "STOA_GATEWAY_DEV_PASSWORD": "wrong"}  # the check run fails
    ran = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert ran.returncode != 0
    consumer = Consumer({"bootstrap.servers": kafka_service["KAFKA_BOOTSTRAP_SERVERS"], "group.id": trace,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe(["audit-log", "deploy-results", "notifications"])
    seen = []
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                event = json.loads(message.value())
                if event.get("trace_id") == trace:
                    seen.append((message.topic(), event["type"], event["check_mode"], event["data"]["check_mode"]))
    finally:
        consumer.close()
    assert sorted(seen) == [("audit-log", "job-check-failed", True, True), ("audit-log", "job-started", True, True)]


BROKEN = """openapi: 3.0.3
info: {title: A very recognisable title, version: "1"}
servers: [{url: "http://x.backend/v1"}]
paths:
  /x:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Gone"}
"""


def test_gateway_api_refuses_an_invalid_document_before_any_write(tmp_path, gateway_sim):
    good = tmp_path / "good.yaml"
    good.write_text(BROKEN.replace("{$ref: \"#/components/schemas/Gone\"}", "{type: string}"))
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    connection = {"gateway_url": gateway_sim.url, "gateway_username": gateway_sim.username,
                  "gateway_password": gateway_sim.password}
    api = {"name": "refs-api", "version": "1.0", **connection}
    active = {"name": "The active API", "stoa.platform.gateway_api": {**api, "spec_path": str(good)}}
    refused = [{"name": "A new document with a $ref to nothing",
                "stoa.platform.gateway_api": {**api, "spec_path": "{{ item }}"}, "loop": [str(broken)],
                "register": "refused", "ignore_errors": True},
               {"name": "Show", "ansible.builtin.debug": {"msg": "MESSAGE<<{{ refused.results[0].msg }}>>"}}]
    playbook = tmp_path / "play.yml"

    def play(tasks):
        playbook.write_text(json.dumps([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                         "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]))
        return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                               str(playbook)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                              env={**os.environ, "ANSIBLE_FORCE_COLOR": "0"})

    result = play([active])
    assert result.returncode == 0, result.stdout[-4000:]
    assert any(r["path"].endswith("/activate") for r in gateway_sim.non_get_requests())
    gateway_sim.clear_log()
    result = play(refused)
    assert result.returncode == 0, result.stdout[-4000:]
    assert gateway_sim.non_get_requests() == []  # no PUT/POST/DELETE: no deactivation, no update
    message = result.stdout.split("MESSAGE<<")[1].split(">>")[0]
    assert str(broken) in message
    assert "/paths/~1x/get/responses/200/content/application~1json/schema/$ref" in message
    assert "#/components/schemas/Gone" in message and "nothing was changed" in message
    assert "recognisable" not in result.stdout + result.stderr  # the document is never printed
    client = GatewayClient(gateway_sim.url, gateway_sim.username, gateway_sim.password)
    api_id = next(a["id"] for a in client.list_apis() if a["apiName"] == "refs-api")
    assert client.get_api(api_id)["isActive"]
