"""keycloak_tenant against the real Keycloak: provisioning, tokens, exact membership, bad input."""
from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from keycloak import KeycloakAdmin
from test_modules_playbooks import run_playbook
from vault_helpers import ensure_secret

ROOT = Path(__file__).resolve().parents[2]


def realm_name() -> str:
    return "stoa-test-" + secrets.token_hex(3)


def module(name: str, args: dict, env: dict, check: bool = False) -> dict:
    """Run one module ad hoc and return its result."""
    command = [str(Path(sys.executable).parent / "ansible"), "localhost", "-m", name, "-a", json.dumps(args),
               "-o"] + (["--check", "--diff"] if check else [])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    if " => " not in line:
        return {"failed": True, "msg": line}
    result = json.loads(line.split(" => ", 1)[1])
    result["failed"] = "FAILED!" in line.split(" => ", 1)[0]  # the one-line callback drops the key
    return result


@pytest.fixture
def keycloak_env(keycloak_service, vault_service):
    import os

    env = {**os.environ, **keycloak_service, **vault_service}
    realm = realm_name()
    # The demo's user's password: kept when there (the demo's realm uses it too), created when missing.
    password = ensure_secret(vault_service, "dev/iam/demo-devops", {"password": secrets.token_urlsafe(14)})["password"]
    admin = KeycloakAdmin(server_url=keycloak_service["KEYCLOAK_URL"], username=keycloak_service["KEYCLOAK_ADMIN_USERNAME"],
                          password=keycloak_service["KEYCLOAK_ADMIN_PASSWORD"], realm_name="master",
                          user_realm_name="master")
    yield dict(env=env, realm=realm, password=password, admin=admin, url=keycloak_service["KEYCLOAK_URL"])
    admin.change_current_realm("master")
    if realm in [r["realm"] for r in admin.get_realms()]:
        admin.delete_realm(realm)


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_tenant_demo_provisioned_rerun_clean_check_mode_true_and_token_claims(keycloak_env, tmp_path):
    result = run_playbook("keycloak_tenant.yml", tmp_path, **keycloak_env["env"], TEST_REALM=keycloak_env["realm"])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert keycloak_env["password"] not in result.stdout + result.stderr
    token = requests.post(f"{keycloak_env['url']}/realms/{keycloak_env['realm']}/protocol/openid-connect/token",
                          data={"grant_type": "password", "client_id": "control-plane-ui",
                                "username": "demo-devops@cab-i.com", "password": keycloak_env["password"]},
                          timeout=30)
    assert token.status_code == 200, token.text
    access = claims(token.json()["access_token"])
    assert access["tenant_id"] == "tenant-demo"
    assert "devops" in access["roles"] and "devops" in access["realm_access"]["roles"]


def tenant_args(realm, members, **extra):
    return dict(realm=realm, tenant={"id": extra.pop("tenant_id", "tenant-demo")}, members=members, **extra)


def test_exact_mode_removes_unlisted_members_and_never_touches_another_tenant(keycloak_env):
    env, realm = keycloak_env["env"], keycloak_env["realm"]
    assert not module("stoa.platform.keycloak_platform_realm", {"realm": realm}, env).get("failed")
    a, b, other = ("a@cab-i.com", "b@cab-i.com", "o@cab-i.com")
    first = module("stoa.platform.keycloak_tenant", tenant_args(realm, [
        {"email": a, "role": "cpi"}, {"email": b, "role": "devops"}]), env)
    assert first["changed"], first
    assert module("stoa.platform.keycloak_tenant", tenant_args(realm, [{"email": other, "role": "devops"}],
                                                               tenant_id="tenant-other"), env)["changed"]
    # Check mode on a changed input tells exactly what the real run then does.
    narrowed = tenant_args(realm, [{"email": a, "role": "cpi"}])
    check = module("stoa.platform.keycloak_tenant", narrowed, env, check=True)
    real = module("stoa.platform.keycloak_tenant", narrowed, env)
    assert check["changed"] and real["changed"]
    # The callback drops "diff" from ad-hoc output; existing and end_state are its before and after.
    assert (check["existing"], check["end_state"]) == (real["existing"], real["end_state"])
    assert check["operations"] == real["operations"]
    assert set(real["end_state"]["members"]) == {a}
    assert "remove b@cab-i.com from group tenant-demo" in real["operations"]
    admin = keycloak_env["admin"]
    admin.change_current_realm(realm)
    user_b = admin.get_users({"email": b, "exact": True})[0]
    assert user_b["enabled"] and "tenant_id" not in (user_b.get("attributes") or {})  # kept, no longer a member
    assert "devops" not in [r["name"] for r in admin.get_realm_roles_of_user(user_b["id"])]
    user_o = admin.get_users({"email": other, "exact": True})[0]
    assert user_o["attributes"]["tenant_id"] == ["tenant-other"]
    # The other tenant's member cannot be taken over.
    taken = module("stoa.platform.keycloak_tenant", tenant_args(realm, [{"email": other, "role": "viewer"}]), env)
    assert taken.get("failed") and "o@cab-i.com belongs to tenant tenant-other" in taken["msg"]


@pytest.mark.parametrize("members, message", [
    ([{"email": "x@cab-i.com", "role": "owner"}], "value of role must be one of"),
    ([{"email": "not-an-email", "role": "devops"}], "members[0].email: 'not-an-email' is not an e-mail address"),
    ([{"email": "x@cab-i.com", "role": "devops"}, {"email": "X@cab-i.com", "role": "viewer"}],
     "members[1].email: x@cab-i.com is listed twice"),
])
def test_invalid_input_fails_before_any_write(keycloak_env, members, message):
    env, realm = keycloak_env["env"], keycloak_env["realm"]
    assert not module("stoa.platform.keycloak_platform_realm", {"realm": realm}, env).get("failed")
    result = module("stoa.platform.keycloak_tenant", tenant_args(realm, members), env)
    assert result.get("failed") and message in result["msg"], result
    admin = keycloak_env["admin"]
    admin.change_current_realm(realm)
    assert admin.get_users({}) == [] and admin.get_groups() == []  # nothing was written


def test_iam_sync_role_converges_the_example_repository_and_publishes_an_event(keycloak_env, kafka_service, tmp_path):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    for user in ("demo-cpi", "demo-devops"):  # the example repository's initialPasswordRef
        ensure_secret(keycloak_env["env"], "dev/iam/" + user, {"password": secrets.token_urlsafe(12)})
    ensure_secret(keycloak_env["env"], "platform/service-accounts/awx", {"client_secret": secrets.token_urlsafe(16)})
    trace_id = "trace-" + secrets.token_hex(6)
    # Read audit-log from where it ends now: a long-lived broker holds tens of thousands of older events.
    consumer = Consumer({"bootstrap.servers": kafka_service["KAFKA_BOOTSTRAP_SERVERS"], "group.id": trace_id,
                         "enable.auto.commit": False})
    topic = consumer.list_topics("audit-log", timeout=10).topics.get("audit-log")
    starts = [TopicPartition("audit-log", p, consumer.get_watermark_offsets(TopicPartition("audit-log", p), 10)[1])
              for p in (topic.partitions if topic is not None and topic.error is None else {})]
    result = run_playbook("iam_sync.yml", tmp_path, **keycloak_env["env"], **kafka_service,
                          TEST_REALM=keycloak_env["realm"], TEST_TRACE_ID=trace_id)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    admin = keycloak_env["admin"]
    admin.change_current_realm(keycloak_env["realm"])
    cpi = admin.get_users({"email": "demo-cpi@cab-i.com", "exact": True})[0]
    assert cpi["attributes"]["tenant_id"] == ["tenant-demo"]
    assert "cpi-admin" in [r["name"] for r in admin.get_realm_roles_of_user(
        admin.get_users({"email": "admin@stoa.local", "exact": True})[0]["id"])]

    if starts:
        consumer.assign(starts)
    else:  # the topic was created by this run: all of it
        consumer.subscribe(["audit-log"], on_assign=lambda c, parts: c.assign(
            [TopicPartition(t.topic, t.partition, OFFSET_BEGINNING) for t in parts]))
    try:
        events = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                events.append(json.loads(message.value()))
                if any(e.get("trace_id") == trace_id for e in events):
                    break
    finally:
        consumer.close()
    ours = [e for e in events if e.get("trace_id") == trace_id]
    assert len(ours) == 1 and ours[0]["type"] == "iam-sync"
    assert ours[0]["data"]["changes"]["tenant-demo"] > 0
