"""The Delete API job (playbooks/delete_api.yml) against the gateway simulator and a real bare GitOps remote."""
from __future__ import annotations

import json
import os
import re
import time

import pytest

import stoa_tools  # noqa: F401
from gitops_remote import git, make_remote
from test_jobs import OAS, job, recap_changed
from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_converge import ApiConverger, DesiredApi
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient
from ansible_collections.stoa.platform.plugins.module_utils.gitops_requests import Git, find_request, perform

DEV = ["tenant_id=tenant-demo", "api_name=petstore-api", "environment=dev"]
PROD = ["tenant_id=tenant-demo", "api_name=petstore-api", "environment=prod"]


@pytest.fixture
def remote(tmp_path):
    return make_remote(tmp_path)


def client_of(sim):
    return GatewayClient(sim.url, sim.username, sim.password, retries=0)


def apis(sim):
    return sorted((a["apiName"], a["apiVersion"]) for a in client_of(sim).list_apis())


def put_api(sim, version="1.0.0", tenant="tenant-demo", name="petstore-api"):
    """An active API on the gateway, tagged tenant:<tenant> (None: untagged, as one made by hand)."""
    return ApiConverger(client_of(sim)).present(DesiredApi(name, version, document=OAS, document_type="openapi",
                                                           tenant=tenant))[2]["api_id"]


def writes(sim):
    return [(r["method"], r["path"].rsplit("/rest/apigateway", 1)[-1]) for r in sim.non_get_requests()]


def diff_shown(output):
    """The diff Ansible printed for the gateway_api task (--diff)."""
    return re.search(r"--- before\n.*?\n(?:changed|ok): ", output, re.S).group(0)


def request_in_remote(remote, request_id):
    return find_request(Git(str(remote)), "main", request_id)[1]


def create_request(remote, tmp_path, approve=True):
    clone = tmp_path / "requests-clone"
    if not clone.exists():
        git("clone", "--quiet", str(remote), str(clone), cwd=tmp_path)
    request_id = perform(Git(str(clone)), "create", "demo-devops@cab-i.com", tenant="tenant-demo",
                         target={"name": "petstore-api", "version": "1.0.0"}, justification="retire it")["request_id"]
    if approve:
        perform(Git(str(clone)), "approve", "demo-cpi@cab-i.com", request_id=request_id)
    return request_id


def test_deploy_then_delete_in_dev_and_a_rerun_changes_nothing(remote, tmp_path, gateway_sim):
    deployed = job("deploy_api.yml", tmp_path, gateway_sim, *DEV, f"gitops_repo={remote}")
    assert deployed.returncode == 0, deployed.stdout[-4000:]
    api_id = next(a["id"] for a in client_of(gateway_sim).list_apis() if a["apiName"] == "petstore-api")
    put_api(gateway_sim, version="0.9.0")  # an older version, also ours: not the one api.yaml names
    gateway_sim.clear_log()

    deleted = job("delete_api.yml", tmp_path, gateway_sim, *DEV, f"gitops_repo={remote}")
    assert deleted.returncode == 0, deleted.stdout[-4000:]
    assert f"tenant-demo/petstore-api 1.0.0 in dev: removed (deactivate, delete), id {api_id}" in deleted.stdout
    assert recap_changed(deleted.stdout) == 1
    assert writes(gateway_sim) == [("PUT", f"/apis/{api_id}/deactivate"), ("DELETE", f"/apis/{api_id}")]
    assert apis(gateway_sim) == [("petstore-api", "0.9.0")]

    gateway_sim.clear_log()
    again = job("delete_api.yml", tmp_path, gateway_sim, *DEV, f"gitops_repo={remote}")
    assert again.returncode == 0, again.stdout[-4000:]
    assert recap_changed(again.stdout) == 0 and writes(gateway_sim) == []
    assert "tenant-demo/petstore-api 1.0.0 in dev: already absent" in again.stdout

    # api_version names the version instead of api.yaml (here one Git no longer describes).
    older = job("delete_api.yml", tmp_path, gateway_sim, *DEV, f"gitops_repo={remote}", "api_version=0.9.0")
    assert older.returncode == 0, older.stdout[-4000:]
    assert "tenant-demo/petstore-api 0.9.0 in dev: removed (deactivate, delete)" in older.stdout
    assert apis(gateway_sim) == []


@pytest.mark.parametrize("owner, refusal", [
    (None, "has no tenant:<tenant> tag: it was not deployed by this automation, refusing to change it"),
    ("tenant-other", "belongs to tenant tenant-other, not tenant-demo; refusing to change it"),
])
def test_an_api_not_tagged_as_the_tenants_is_never_removed(remote, tmp_path, gateway_sim, owner, refusal):
    api_id = put_api(gateway_sim, tenant=owner)
    gateway_sim.clear_log()
    for mode in ((), ("--check",)):
        refused = job("delete_api.yml", tmp_path, gateway_sim, *DEV, f"gitops_repo={remote}", flags=mode)
        assert refused.returncode != 0, refused.stdout[-4000:]
        assert refusal in refused.stdout, refused.stdout[-3000:]
    assert writes(gateway_sim) == []
    assert [a["id"] for a in client_of(gateway_sim).list_apis()] == [api_id]
    assert client_of(gateway_sim).get_api(api_id)["isActive"]


def test_check_mode_changes_nothing_and_predicts_the_run(remote, tmp_path, gateway_sim):
    deployed = job("deploy_api.yml", tmp_path, gateway_sim, *DEV, f"gitops_repo={remote}")
    assert deployed.returncode == 0, deployed.stdout[-4000:]
    before = apis(gateway_sim)
    gateway_sim.clear_log()
    # A fresh work directory: the check run has to read api.yaml from Git too.
    checked = job("delete_api.yml", tmp_path / "check", gateway_sim, *DEV, f"gitops_repo={remote}",
                  flags=("--check", "--diff"))
    assert checked.returncode == 0, checked.stdout[-4000:]
    assert writes(gateway_sim) == [] and apis(gateway_sim) == before

    ran = job("delete_api.yml", tmp_path, gateway_sim, *DEV, f"gitops_repo={remote}", flags=("--diff",))
    assert ran.returncode == 0, ran.stdout[-4000:]
    assert apis(gateway_sim) == []
    assert recap_changed(checked.stdout) == recap_changed(ran.stdout) == 1
    report = re.compile(r"tenant-demo/petstore-api 1\.0\.0 in dev: removed \(deactivate, delete\), id \S+'")
    assert report.findall(checked.stdout) == report.findall(ran.stdout) != []
    assert diff_shown(checked.stdout) == diff_shown(ran.stdout)
    assert "-    tenant: tenant-demo" in diff_shown(ran.stdout)

    gateway_sim.clear_log()
    after = job("delete_api.yml", tmp_path / "check", gateway_sim, *DEV, f"gitops_repo={remote}", flags=("--check",))
    assert after.returncode == 0 and recap_changed(after.stdout) == 0, after.stdout[-3000:]
    assert "already absent" in after.stdout and writes(gateway_sim) == []


def test_prod_needs_an_approved_request_which_the_deletion_moves_to_deployed(remote, tmp_path, gateway_sim):
    api_id = put_api(gateway_sim)
    gateway_sim.clear_log()
    base = [*PROD, f"gitops_repo={remote}"]
    missing = job("delete_api.yml", tmp_path, gateway_sim, *base, inventory="prod")
    assert missing.returncode != 0 and "missing extra var promotion_request_id" in missing.stdout
    assert "ok=0" in missing.stdout.split("PLAY RECAP")[-1]
    unknown = job("delete_api.yml", tmp_path, gateway_sim, *base, "promotion_request_id=PR-2026-0042", inventory="prod")
    assert unknown.returncode != 0 and "PR-2026-0042 is not in the repository" in unknown.stdout
    pending = create_request(remote, tmp_path, approve=False)
    refused = job("delete_api.yml", tmp_path, gateway_sim, *base, f"promotion_request_id={pending}", inventory="prod")
    assert refused.returncode != 0 and f"{pending} is pending, not approved" in refused.stdout
    assert writes(gateway_sim) == [] and [a["id"] for a in client_of(gateway_sim).list_apis()] == [api_id]

    approved = create_request(remote, tmp_path)
    head = git("rev-parse", "main", cwd=remote)
    checked = job("delete_api.yml", tmp_path, gateway_sim, *base, f"promotion_request_id={approved}",
                  inventory="prod", flags=("--check",))
    assert checked.returncode == 0, checked.stdout[-4000:]
    assert writes(gateway_sim) == [] and git("rev-parse", "main", cwd=remote) == head
    assert request_in_remote(remote, approved)["status"]["state"] == "approved"

    ran = job("delete_api.yml", tmp_path, gateway_sim, *base, f"promotion_request_id={approved}", inventory="prod")
    assert ran.returncode == 0, ran.stdout[-4000:]
    assert client_of(gateway_sim).list_apis() == []
    assert recap_changed(checked.stdout) == recap_changed(ran.stdout) == 3  # deploying, the deletion, deployed
    request = request_in_remote(remote, approved)
    assert request["status"]["state"] == "deployed"
    assert [h["action"] for h in request["status"]["history"]][-2:] == ["deploying", "deployed"]
    assert request["status"]["history"][-1]["by"] == "awx@stoa.local"

    # The request is spent: a rerun is refused, as for Promote.
    rerun = job("delete_api.yml", tmp_path, gateway_sim, *base, f"promotion_request_id={approved}", inventory="prod")
    assert rerun.returncode != 0 and f"{approved} is deployed, not approved" in rerun.stdout


def test_a_refused_deletion_in_prod_marks_the_request_failed(remote, tmp_path, gateway_sim):
    api_id = put_api(gateway_sim, tenant=None)
    approved = create_request(remote, tmp_path)
    gateway_sim.clear_log()
    failed = job("delete_api.yml", tmp_path, gateway_sim, *PROD, f"gitops_repo={remote}",
                 f"promotion_request_id={approved}", inventory="prod")
    assert failed.returncode != 0
    # The real cause, after the failed task's name; and how to send the request again once it is fixed.
    assert f"the deletion of {approved} failed (an approver can send it again: Promotion Request, action=retry): " \
           in failed.stdout, failed.stdout[-3000:]
    assert f"API petstore-api 1.0.0 on the gateway (id {api_id}) has no tenant:<tenant> tag" in failed.stdout
    assert writes(gateway_sim) == [] and [a["id"] for a in client_of(gateway_sim).list_apis()] == [api_id]
    request = request_in_remote(remote, approved)
    assert request["status"]["state"] == "failed"
    assert "has no tenant:<tenant> tag" in request["status"]["history"][-1]["comment"]


def test_bad_extra_vars_fail_in_the_first_task(tmp_path, gateway_sim):
    result = job("delete_api.yml", tmp_path, gateway_sim, json.dumps(
        {"api_name": "Petstore API", "environment": "production", "api_version": "1.0 beta", "trace_id": "a b"}))
    assert result.returncode != 0
    recap = result.stdout.split("PLAY RECAP")[-1]
    assert "ok=0" in recap and "failed=1" in recap  # nothing ran before the check
    for expected in ("missing extra var tenant_id (the tenant, as in iam/tenants.yaml)",
                     "missing extra var gitops_repo",
                     "extra var api_name: 'Petstore API' does not match",
                     "extra var environment: 'production' is not one of dev",
                     "extra var api_version: '1.0 beta' does not match",
                     "extra var trace_id: 'a b' does not match"):
        assert expected in result.stdout, expected


def test_the_job_reports_its_start_and_result_to_kafka(remote, tmp_path, gateway_sim, kafka_service):
    from confluent_kafka import Consumer

    put_api(gateway_sim)
    trace = "trace-" + os.urandom(5).hex()
    ran = job("delete_api.yml", tmp_path, gateway_sim, *DEV, f"gitops_repo={remote}", f"trace_id={trace}",
              "api_version=1.0.0", services=kafka_service)
    assert ran.returncode == 0, ran.stdout[-3000:]
    assert client_of(gateway_sim).list_apis() == []
    consumer = Consumer({"bootstrap.servers": kafka_service["KAFKA_BOOTSTRAP_SERVERS"], "group.id": trace,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe(["audit-log", "deploy-results"])
    seen = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and len(seen) < 3:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                event = json.loads(message.value())
                if event.get("trace_id") == trace:
                    seen.append((message.topic(), event["type"], event["data"]["job"], event["data"]["api_name"],
                                 event["data"].get("api_version")))
    finally:
        consumer.close()
    job_of = ("delete_api.yml", "petstore-api", "1.0.0")
    assert sorted(seen) == [("audit-log", "job-started", *job_of), ("audit-log", "job-succeeded", *job_of),
                            ("deploy-results", "job-succeeded", *job_of)]
