"""Promotion requests against a real bare Git remote: the workflow, the RBAC refusals, concurrency."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

import stoa_tools  # noqa: F401
from gitops_remote import git, make_remote
from ansible_collections.stoa.platform.plugins.module_utils.gitops_requests import Git, RequestError, perform

ROOT = Path(__file__).resolve().parents[2]
DEVOPS, CPI, ADMIN, AWX, VIEWER = ("demo-devops@cab-i.com", "demo-cpi@cab-i.com", "admin@stoa.local",
                                   "awx@stoa.local", "demo-viewer@cab-i.com")
TARGET = {"name": "petstore-api", "version": "1.0.0"}


@pytest.fixture
def remote(tmp_path):
    """A bare remote holding the example GitOps repository."""
    return make_remote(tmp_path)


def clone(remote: Path, name: str) -> Git:
    target = remote.parent / "clones" / name
    target.parent.mkdir(exist_ok=True)
    git("clone", "--quiet", str(remote), str(target), cwd=remote.parent)
    return Git(str(target))


def create(checkout, actor=DEVOPS, **extra):
    return perform(checkout, "create", actor, tenant="tenant-demo", target=TARGET,
                   justification="New pet search", **extra)


def test_create_approve_start_deployed_is_one_file_with_four_commits(remote):
    checkout = clone(remote, "workflow")
    created = create(checkout)
    request_id = created["request_id"]
    assert request_id.startswith("PR-20") and created["state"] == "pending"
    perform(checkout, "approve", CPI, request_id=request_id, comment="looks good")
    perform(checkout, "start", AWX, request_id=request_id)
    done = perform(checkout, "deployed", AWX, request_id=request_id)
    assert done["state"] == "deployed"

    fresh = clone(remote, "reader")
    files = [p for p in fresh.out("ls-tree", "-r", "--name-only", "HEAD", "requests/prod").split() if p.endswith(".yaml")]
    assert files == [created["path"]]
    request = yaml.safe_load((Path(fresh.path) / created["path"]).read_text())
    assert [h["action"] for h in request["status"]["history"]] == ["created", "approved", "deploying", "deployed"]
    assert [h["by"] for h in request["status"]["history"]] == [DEVOPS, CPI, AWX, AWX]
    log = fresh.out("log", "--format=%ae|%ce|%s", "--", created["path"]).splitlines()
    assert len(log) == 4
    assert [line.split("|")[0] for line in log] == [AWX, AWX, CPI, DEVOPS]  # authored by the actors
    assert all(line.split("|")[1] == "automation@stoa.local" for line in log)
    assert log[-1].endswith("created by %s (tenant-demo petstore-api 1.0.0, staging -> prod)" % DEVOPS)


def test_refusals_say_why_and_write_nothing(remote):
    checkout = clone(remote, "refusals")
    by_cpi = create(checkout, actor=CPI)["request_id"]
    head = checkout.out("rev-parse", "origin/main")
    with pytest.raises(RequestError, match="cannot approve it: nobody approves their own request"):
        perform(checkout, "approve", CPI, request_id=by_cpi)
    with pytest.raises(RequestError, match=r"demo-devops@cab-i.com may not approve .*roles: devops"):
        perform(checkout, "approve", DEVOPS, request_id=by_cpi)
    with pytest.raises(RequestError, match="a rejection needs a reason"):
        perform(checkout, "reject", ADMIN, request_id=by_cpi, comment=" ")
    with pytest.raises(RequestError, match="is pending: start needs it approved"):
        perform(checkout, "start", AWX, request_id=by_cpi)
    with pytest.raises(RequestError, match="may not create"):
        create(checkout, actor=VIEWER)
    checkout.fetch()
    assert checkout.out("rev-parse", "origin/main") == head
    rejected = perform(checkout, "reject", ADMIN, request_id=by_cpi, comment="no test evidence")
    assert rejected["state"] == "rejected"
    with pytest.raises(RequestError, match="is rejected: approve needs it pending"):
        perform(checkout, "approve", ADMIN, request_id=by_cpi)


def test_check_mode_plans_without_committing(remote):
    checkout = clone(remote, "check")
    head = checkout.out("rev-parse", "HEAD")
    planned = create(checkout, check_mode=True)
    assert planned["before"] is None and "state: pending" in planned["after"]
    assert checkout.out("rev-parse", "HEAD") == head and "commit" not in planned


def test_ten_concurrent_creates_get_ten_ids(remote):
    checkouts = [clone(remote, "creator-%d" % n) for n in range(10)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(create, checkouts))
    ids = [r["request_id"] for r in results]
    assert len(set(ids)) == 10
    fresh = clone(remote, "count")
    files = [p for p in fresh.out("ls-tree", "-r", "--name-only", "HEAD", "requests/prod").split() if p.endswith(".yaml")]
    assert sorted(Path(p).stem for p in files) == sorted(ids)
    assert max(r["attempts"] for r in results) > 1  # they did race


def test_five_concurrent_transitions_on_different_requests_all_land(remote):
    setup = clone(remote, "setup")
    ids = [create(setup)["request_id"] for _ in range(5)]
    checkouts = [clone(remote, "approver-%d" % n) for n in range(5)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        list(pool.map(lambda pair: perform(pair[0], "approve", CPI, request_id=pair[1]), zip(checkouts, ids)))
    fresh = clone(remote, "after")
    states = {}
    for path in fresh.out("ls-tree", "-r", "--name-only", "HEAD", "requests/prod").split():
        if path.endswith(".yaml"):
            request = yaml.safe_load((Path(fresh.path) / path).read_text())
            states[request["metadata"]["id"]] = request["status"]["state"]
    assert states == {request_id: "approved" for request_id in ids}


def test_the_files_written_pass_the_validator(remote):
    from ansible_collections.stoa.platform.plugins.module_utils.gitops_validate import validate_checkout

    checkout = clone(remote, "valid")
    request_id = create(checkout, pre_checks={"stagingTestsPassed": True})["request_id"]
    perform(checkout, "approve", CPI, request_id=request_id)
    assert validate_checkout(checkout.path) == []
