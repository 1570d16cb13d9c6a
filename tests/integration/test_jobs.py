"""The job playbooks against the gateway simulators and a real bare GitOps remote."""
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
from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_converge import ApiConverger, DesiredApi
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient

ROOT = Path(__file__).resolve().parents[2]
OAS = {"openapi": "3.0.3", "info": {"title": "X", "version": "1.0"}, "servers": [{"url": "http://x.backend/v1"}],
       "paths": {"/x": {"get": {"responses": {"200": {"description": "ok"}}}}}}


@pytest.fixture
def remote(tmp_path):
    """A bare remote holding the example GitOps repository."""
    return make_remote(tmp_path)


def job(playbook, tmp_path, sim, *extra, inventory="dev", services=None, flags=()):
    """ansible-playbook as AWX runs it: each of ``extra`` is one -e; ``flags`` are options (--check, --diff)."""
    env = {**os.environ, **(services or {}), "STOA_WORK_DIR": str(tmp_path / "work"), "ANSIBLE_FORCE_COLOR": "0",
           f"STOA_GATEWAY_{inventory.upper()}_URL": sim.url, f"STOA_GATEWAY_{inventory.upper()}_PASSWORD": sim.password}
    if "KAFKA_BOOTSTRAP_SERVERS" not in (services or {}):
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    args = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", f"inventories/{inventory}",
            f"playbooks/{playbook}", *flags]
    for item in extra:
        args += ["-e", item]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def recap_changed(output):
    return int(output.split("PLAY RECAP")[-1].split("changed=")[1].split()[0])


def test_deploy_api_then_rerun_changes_nothing(remote, tmp_path, gateway_sim):
    first = job("deploy_api.yml", tmp_path, gateway_sim, "tenant_id=tenant-demo", "api_name=petstore-api",
                "environment=dev", f"gitops_repo={remote}")
    assert first.returncode == 0, first.stdout[-5000:]
    assert "tenant-demo/petstore-api 1.0.0 in dev: changed" in first.stdout
    gateway_sim.clear_log()
    again = job("deploy_api.yml", tmp_path, gateway_sim, "tenant_id=tenant-demo", "api_name=petstore-api",
                "environment=dev", f"gitops_repo={remote}")
    assert again.returncode == 0 and recap_changed(again.stdout) == 0, again.stdout[-3000:]
    assert gateway_sim.requests() and gateway_sim.non_get_requests() == []


def test_missing_or_malformed_extra_vars_fail_in_the_first_task(tmp_path, gateway_sim):
    result = job("deploy_api.yml", tmp_path, gateway_sim, json.dumps({"api_name": "Petstore API", "environment": "production"}))
    assert result.returncode != 0
    recap = result.stdout.split("PLAY RECAP")[-1]
    assert "ok=0" in recap and "failed=1" in recap  # nothing ran before the check
    for expected in ("missing extra var tenant_id (the tenant, as in iam/tenants.yaml)",
                     "missing extra var gitops_repo",
                     "extra var api_name: 'Petstore API' does not match",
                     "extra var environment: 'production' is not one of dev"):
        assert expected in result.stdout, expected


@pytest.fixture
def weather_key(vault_service):
    ensure_secret(vault_service, "dev/weather-api", {"api_key": "k-" + os.urandom(6).hex()})
    return vault_service


def test_sync_gateway_reports_drift_repairs_and_prunes_only_tagged(remote, tmp_path, gateway_sim, weather_key):
    report = tmp_path / "report.json"
    base = ["environment=dev", f"gitops_repo={remote}", f"report_path={report}"]
    first = job("sync_gateway.yml", tmp_path, gateway_sim, *base, services=weather_key)
    assert first.returncode == 0, first.stdout[-5000:]
    client = GatewayClient(gateway_sim.url, gateway_sim.username, gateway_sim.password)
    # Drift: a changed rate limit on petstore, an extra API tagged tenant-demo, an untagged API.
    petstore = next(a for a in client.list_apis() if a["apiName"] == "petstore-api")
    policy = client.get_policy(client.get_api(petstore["id"])["policies"][0])
    ids = [e["enforcementObjectId"] for s in policy["policyEnforcements"] for e in s["enforcements"]]
    throttle = next(a for a in client.get_policy_actions(ids) if a["templateKey"] == "throttle")
    throttle["parameters"][0]["parameters"][2]["values"] = ["999999"]
    client.update_policy_action(throttle["id"], throttle)
    ApiConverger(client).present(DesiredApi("legacy-api", "1.0", document=OAS, document_type="openapi",
                                            tenant="tenant-demo"))
    ApiConverger(client).present(DesiredApi("hand-made", "1.0", document=OAS, document_type="openapi"))

    drift = job("sync_gateway.yml", tmp_path, gateway_sim, *base, services=weather_key)
    assert drift.returncode == 0, drift.stdout[-5000:]
    found = json.loads(report.read_text())
    assert [(r["api"], r["operations"]) for r in found["repaired"]] == [("tenant-demo/petstore-api", ["update_rate_limit"])]
    assert [e["name"] for e in found["extra"]] == ["legacy-api"] and found["removed"] == []
    assert [e["name"] for e in found["untagged"]] == ["hand-made"]
    names = {a["apiName"] for a in client.list_apis()}
    assert {"legacy-api", "hand-made", "petstore-api", "weather-api"} <= names

    pruned = job("sync_gateway.yml", tmp_path, gateway_sim, *base, "prune=true", services=weather_key)
    assert pruned.returncode == 0, pruned.stdout[-5000:]
    found = json.loads(report.read_text())
    assert [e["name"] for e in found["removed"]] == ["legacy-api"] and found["repaired"] == []
    names = {a["apiName"] for a in client.list_apis()}
    assert "legacy-api" not in names and "hand-made" in names


def test_rollback_restores_the_previous_spec_under_the_same_id(remote, tmp_path, gateway_sim):
    work = tmp_path / "edit"
    git("clone", "--quiet", str(remote), str(work), cwd=tmp_path)
    spec = work / "tenants/tenant-demo/apis/petstore-api/openapi.yaml"
    spec.write_text(spec.read_text().replace("  /pets/{petId}:", "  /pets/search:\n    get:\n      responses:\n"
                                             "        \"200\": {description: found}\n  /pets/{petId}:"))
    git("commit", "--quiet", "-am", "petstore: /pets/search", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    base = ["tenant_id=tenant-demo", "api_name=petstore-api", "environment=dev", f"gitops_repo={remote}"]
    deployed = job("deploy_api.yml", tmp_path, gateway_sim, *base)
    assert deployed.returncode == 0, deployed.stdout[-4000:]
    client = GatewayClient(gateway_sim.url, gateway_sim.username, gateway_sim.password)
    api_id = next(a["id"] for a in client.list_apis() if a["apiName"] == "petstore-api")
    assert "/pets/search" in client.export_api(api_id)["paths"]

    rolled = job("rollback.yml", tmp_path, gateway_sim, *base)
    assert rolled.returncode == 0, rolled.stdout[-4000:]
    assert [a["id"] for a in client.list_apis() if a["apiName"] == "petstore-api"] == [api_id]
    exported = client.export_api(api_id)
    assert "/pets/search" not in exported["paths"] and "/pets/{petId}" in exported["paths"]
    assert client.get_api(api_id)["isActive"]


def test_prod_refuses_without_an_approved_request(remote, tmp_path, gateway_sim):
    base = ["tenant_id=tenant-demo", "api_name=petstore-api", "environment=prod", f"gitops_repo={remote}"]
    missing = job("promote.yml", tmp_path, gateway_sim, *base, inventory="prod")
    assert missing.returncode != 0 and "missing extra var promotion_request_id" in missing.stdout
    unknown = job("promote.yml", tmp_path, gateway_sim, *base, "promotion_request_id=PR-2026-0042", inventory="prod")
    assert unknown.returncode != 0
    assert "PR-2026-0042 is not in the repository" in unknown.stdout
    from ansible_collections.stoa.platform.plugins.module_utils.gitops_requests import Git, perform

    clone = tmp_path / "requests"
    git("clone", "--quiet", str(remote), str(clone), cwd=tmp_path)
    pending = perform(Git(str(clone)), "create", "demo-devops@cab-i.com", tenant="tenant-demo",
                      target={"name": "petstore-api", "version": "1.0.0"}, justification="test")["request_id"]
    refused = job("promote.yml", tmp_path, gateway_sim, *base, f"promotion_request_id={pending}", inventory="prod")
    assert refused.returncode != 0 and f"{pending} is pending, not approved" in refused.stdout
    assert gateway_sim.non_get_requests() == []  # nothing reached the prod gateway


def test_prod_promotes_under_an_approved_request_and_check_mode_predicts_it(remote, tmp_path, gateway_sim):
    from ansible_collections.stoa.platform.plugins.module_utils.gitops_requests import Git, find_request, perform

    clone = tmp_path / "requests"
    git("clone", "--quiet", str(remote), str(clone), cwd=tmp_path)
    request_id = perform(Git(str(clone)), "create", "demo-devops@cab-i.com", tenant="tenant-demo",
                         target={"name": "petstore-api", "version": "1.0.0"}, justification="test")["request_id"]
    perform(Git(str(clone)), "approve", "demo-cpi@cab-i.com", request_id=request_id)
    base = ["tenant_id=tenant-demo", "api_name=petstore-api", "environment=prod", f"gitops_repo={remote}",
            f"promotion_request_id={request_id}"]
    checked = job("promote.yml", tmp_path, gateway_sim, *base, inventory="prod", flags=("--check",))
    assert checked.returncode == 0, checked.stdout[-4000:]
    assert gateway_sim.non_get_requests() == []
    assert find_request(Git(str(remote)), "main", request_id)[1]["status"]["state"] == "approved"
    promoted = job("promote.yml", tmp_path, gateway_sim, *base, inventory="prod")
    assert promoted.returncode == 0, promoted.stdout[-4000:]
    assert recap_changed(checked.stdout) == recap_changed(promoted.stdout) == 4  # deploying, alias, API, deployed
    client = GatewayClient(gateway_sim.url, gateway_sim.username, gateway_sim.password)
    assert [a["apiName"] for a in client.list_apis()] == ["petstore-api"]
    history = find_request(Git(str(remote)), "main", request_id)[1]["status"]["history"]
    assert [h["action"] for h in history] == ["created", "approved", "deploying", "deployed"]


def self_signed(days: int) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"expires-in-{days}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def test_certificate_check_sorts_endpoint_and_vault_certificates_by_severity(tmp_path, vault_service, gateway_sim):
    import socket
    import ssl
    import threading

    import hvac

    cert, key = self_signed(5)
    (tmp_path / "c.pem").write_text(cert)
    (tmp_path / "k.pem").write_text(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)

    def serve():
        for _ in range(3):
            connection, _address = listener.accept()
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    threading.Thread(target=serve, daemon=True).start()
    vault = hvac.Client(url=vault_service["VAULT_ADDR"], token=vault_service["VAULT_TOKEN"])
    vault.secrets.kv.v2.create_or_update_secret(path="dev/certs/portal", secret={"certificate": self_signed(20)[0]},
                                                mount_point="secret")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/dev", "playbooks/check_certificates.yml",
         "-e", "environment=dev", "-e", json.dumps({
             "certificate_endpoints": ["127.0.0.1:%d" % listener.getsockname()[1], "127.0.0.1:9"],
             "certificate_vault_refs": ["vault:secret/data/dev/certs/portal#certificate"]})],
        cwd=ROOT, env={**os.environ, **vault_service}, capture_output=True, text=True, check=False)
    listener.close()
    assert result.returncode == 0, result.stdout[-4000:]
    assert "dev: unreadable 1, critical 1, warning 1" in result.stdout, result.stdout[-1500:]


def test_every_job_reports_start_and_result_to_kafka_and_a_kafka_outage_only_warns(remote, tmp_path, gateway_sim,
                                                                                   kafka_service):
    from confluent_kafka import Consumer

    trace = "trace-" + os.urandom(5).hex()
    base = ["tenant_id=tenant-demo", "api_name=petstore-api", "environment=dev", f"gitops_repo={remote}",
            f"trace_id={trace}"]
    ran = job("deploy_api.yml", tmp_path, gateway_sim, *base, services=kafka_service)
    assert ran.returncode == 0, ran.stdout[-3000:]
    consumer = Consumer({"bootstrap.servers": kafka_service["KAFKA_BOOTSTRAP_SERVERS"], "group.id": trace,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe(["audit-log", "deploy-results"])
    seen = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                event = json.loads(message.value())
                if event.get("trace_id") == trace:
                    seen.append((message.topic(), event["type"]))
                    if len(seen) == 3:
                        break
    finally:
        consumer.close()
    assert sorted(seen) == [("audit-log", "job-started"), ("audit-log", "job-succeeded"),
                            ("deploy-results", "job-succeeded")]
    down = job("deploy_api.yml", tmp_path, gateway_sim, *base,
               services={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "STOA_JOB_EVENTS_TIMEOUT": "2"})
    assert down.returncode == 0, down.stdout[-3000:]
    assert "not published to Kafka" in down.stdout + down.stderr
