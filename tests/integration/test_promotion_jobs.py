"""Promote to prod through ansible-playbook: what was approved is what is deployed; a failure before any write
keeps the approval, a failure after writes names the gateway's answer and can be sent again (issue #18, point 2)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import requests

import stoa_tools  # noqa: F401
from gitops_remote import git, make_remote
from test_jobs import job
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient
from ansible_collections.stoa.platform.plugins.module_utils.gitops_requests import Git, find_request, perform

DEVOPS, CPI = "demo-devops@cab-i.com", "demo-cpi@cab-i.com"
API_YAML = "tenants/tenant-demo/apis/petstore-api/api.yaml"


def approved_request(tmp_path: Path, remote: Path) -> tuple[str, str]:
    """A request for petstore-api 1.0.0, created and approved; (id, the commit approved)."""
    clone = tmp_path / "requests"
    git("clone", "--quiet", str(remote), str(clone), cwd=tmp_path)
    request_id = perform(Git(str(clone)), "create", DEVOPS, tenant="tenant-demo",
                         target={"name": "petstore-api", "version": "1.0.0"}, justification="test")["request_id"]
    approved = perform(Git(str(clone)), "approve", CPI, request_id=request_id)
    return request_id, approved["request"]["spec"]["target"]["commit"]


def push_version(tmp_path: Path, remote: Path, version: str) -> None:
    """A developer pushes petstore-api ``version`` to main (never promoted)."""
    work = tmp_path / f"dev-{version}"
    git("clone", "--quiet", str(remote), str(work), cwd=tmp_path)
    path = work / API_YAML
    path.write_text(path.read_text().replace('version: "1.0.0"', f'version: "{version}"'))
    git("commit", "--quiet", "-am", f"petstore-api {version}", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)


def request_of(remote: Path, request_id: str) -> dict:
    return find_request(Git(str(remote)), "main", request_id)[1]


def promote(tmp_path, sim, remote, request_id, *extra, services=None):
    return job("promote.yml", tmp_path, sim, "tenant_id=tenant-demo", "api_name=petstore-api", "environment=prod",
               f"gitops_repo={remote}", f"promotion_request_id={request_id}", *extra, inventory="prod",
               services=services)


def test_prod_deploys_the_approved_version_at_its_commit_never_a_later_push(tmp_path, gateway_sim):
    remote = make_remote(tmp_path)
    request_id, commit = approved_request(tmp_path, remote)
    push_version(tmp_path, remote, "2.0.0")  # Git now has 2.0.0; the request approved 1.0.0
    promoted = promote(tmp_path, gateway_sim, remote, request_id)
    assert promoted.returncode == 0, promoted.stdout[-4000:]
    assert "tenant-demo/petstore-api 1.0.0 in prod: changed" in promoted.stdout
    client = GatewayClient(gateway_sim.url, gateway_sim.username, gateway_sim.password)
    assert [(a["apiName"], a["apiVersion"]) for a in client.list_apis()] == [("petstore-api", "1.0.0")]
    history = request_of(remote, request_id)["status"]["history"]
    assert [h["action"] for h in history] == ["created", "approved", "deploying", "deployed"]
    assert {(h["version"], h["commit"]) for h in history[2:]} == {("1.0.0", commit)}
    # Asking for the version Git has now is refused, saying why, before anything reaches the gateway.
    gateway_sim.clear_log()
    again = perform(Git(str(tmp_path / "requests")), "create", DEVOPS, tenant="tenant-demo",
                    target={"name": "petstore-api", "version": "1.0.0"}, justification="again")["request_id"]
    perform(Git(str(tmp_path / "requests")), "approve", CPI, request_id=again)
    refused = promote(tmp_path, gateway_sim, remote, again, "api_version=2.0.0")
    assert refused.returncode != 0
    assert f"{again} is for version 1.0.0, not 2.0.0" in refused.stdout
    assert gateway_sim.non_get_requests() == []


def test_a_wrong_gateway_password_keeps_the_request_approved_and_the_same_request_deploys_after_the_fix(
        tmp_path, gateway_sim):
    remote = make_remote(tmp_path)
    request_id, _ = approved_request(tmp_path, remote)
    wrong = promote(tmp_path, SimpleNamespace(url=gateway_sim.url, password="not-the-password"), remote, request_id)
    assert wrong.returncode != 0, wrong.stdout[-3000:]
    assert "could not start (it stays approved)" in wrong.stdout and "HTTP 401" in wrong.stdout
    assert "not-the-password" not in wrong.stdout
    assert gateway_sim.non_get_requests() == []  # nothing reached the gateway
    request = request_of(remote, request_id)
    assert request["status"]["state"] == "approved"
    assert request["status"]["history"][-1]["action"] == "checks-failed"
    assert "HTTP 401" in request["status"]["history"][-1]["comment"]
    fixed = promote(tmp_path, gateway_sim, remote, request_id)
    assert fixed.returncode == 0, fixed.stdout[-4000:]
    assert [h["action"] for h in request_of(remote, request_id)["status"]["history"]] == [
        "created", "approved", "checks-failed", "deploying", "deployed"]


def test_a_failure_after_writes_names_the_gateway_answer_and_an_approver_sends_it_again(tmp_path, gateway_sim):
    remote = make_remote(tmp_path)
    request_id, _ = approved_request(tmp_path, remote)
    requests.post(f"{gateway_sim.url}/_sim/faults", json={"method": "POST", "path": "^/apis$", "status": 500,
                                                          "times": 1}, timeout=5).raise_for_status()
    failed = promote(tmp_path, gateway_sim, remote, request_id)
    assert failed.returncode != 0
    assert "POST /apis answered HTTP 500" in failed.stdout and "action=retry" in failed.stdout
    request = request_of(remote, request_id)
    assert request["status"]["state"] == "failed"
    assert "POST /apis answered HTTP 500" in request["status"]["history"][-1]["comment"]
    assert "One or more items failed" not in request["status"]["history"][-1]["comment"]
    retried = job("promotion_request.yml", tmp_path, gateway_sim, f"gitops_repo={remote}", "action=retry",
                  f"actor={CPI}", f"promotion_request_id={request_id}", "comment=gateway fixed", inventory="prod")
    assert retried.returncode == 0, retried.stdout[-3000:]
    assert f"{request_id} is approved" in retried.stdout
    again = promote(tmp_path, gateway_sim, remote, request_id)
    assert again.returncode == 0, again.stdout[-4000:]
    assert [h["action"] for h in request_of(remote, request_id)["status"]["history"]] == [
        "created", "approved", "deploying", "failed", "retried", "deploying", "deployed"]
