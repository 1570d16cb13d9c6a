"""No human step: an edited API and an edited alias are pushed and posted; the receiver's ansible-runner
launcher runs the real job playbooks, and the gateway simulator ends with the new spec and the new alias."""
from __future__ import annotations

import os

import pytest

import stoa_tools  # noqa: F401  (the collection on sys.path)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient
from conftest import push_body, receiver_config_for
from vault_helpers import ensure_secret

pytestmark = pytest.mark.integration


def test_pushed_api_and_alias_changes_reach_the_gateway_through_ansible_runner(
        gitops, tmp_path, start_receiver, gateway_sim, vault_service):
    ensure_secret(vault_service, "dev/weather-api", {"api_key": "k-" + os.urandom(6).hex()})
    env = {"STOA_GATEWAY_DEV_URL": gateway_sim.url, "STOA_GATEWAY_DEV_PASSWORD": gateway_sim.password,
           "ANSIBLE_FORCE_COLOR": "0", "KAFKA_BOOTSTRAP_SERVERS": "",
           **vault_service}
    config = receiver_config_for(tmp_path, gitops.remote, launcher={"type": "runner",
                                                                    "runner": {"max_parallel": 2, "env": env}})
    receiver = start_receiver(config)

    spec_path = "tenants/tenant-demo/apis/petstore-api/openapi.yaml"
    spec = (gitops.work / spec_path).read_text()
    assert "/pets/{petId}:" in spec
    alias_path = "aliases/dev/petstore-backend.yaml"
    alias = (gitops.work / alias_path).read_text()
    before = gitops.head()
    after = gitops.commit({
        spec_path: spec.replace("  /pets/{petId}:", "  /pets/adopted:\n    get:\n      operationId: listAdopted\n"
                                "      responses:\n        \"200\": {description: Adopted pets}\n  /pets/{petId}:"),
        alias_path: alias.replace("https://petstore-dev.swagger.io/v2", "https://petstore-v3.example/api")},
        "petstore: adopted pets, backend v3")
    answer = receiver.post(push_body(before, after), key="e2e-1")
    assert answer.status_code == 202
    trace_id = answer.json()["trace_id"]
    receiver.wait_idle(timeout=600)

    rows = receiver.store.query("SELECT job, state, trace_id, result, last_error FROM job_requests ORDER BY id")
    assert {(r["job"], r["state"]) for r in rows} == {("deploy_api", "successful"), ("sync_alias", "successful")}, rows
    assert {r["trace_id"] for r in rows} == {trace_id}

    client = GatewayClient(gateway_sim.url, "Administrator", gateway_sim.password)
    (petstore,) = [a for a in client.list_apis() if a["apiName"].lower().startswith("petstore")]
    document = client.export_api(petstore["id"])
    assert "/pets/adopted" in str(document)
    aliases = {a["name"]: a for a in client.list_aliases()}
    assert "https://petstore-v3.example/api" in str(aliases["petstore-backend-dev"])
