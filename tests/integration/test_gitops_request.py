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


def bump_version(checkout: Git, version: str) -> str:
    """Push a commit that sets petstore-api's api.yaml to ``version``; returns its id."""
    path = Path(checkout.path) / "tenants/tenant-demo/apis/petstore-api/api.yaml"
    checkout.run("reset", "--quiet", "--hard", "origin/main", allow_failure=True)
    checkout.fetch()
    checkout.run("reset", "--quiet", "--hard", "origin/main")
    path.write_text(path.read_text().replace('version: "1.0.0"', 'version: "%s"' % version))
    git("commit", "--quiet", "-am", "petstore-api %s" % version, cwd=checkout.path)
    git("push", "--quiet", "origin", "HEAD:main", cwd=checkout.path)
    return checkout.out("rev-parse", "HEAD").strip()


def test_approval_fixes_the_commit_of_the_approved_version_even_when_git_has_a_newer_one(remote):
    checkout = clone(remote, "fixed")
    seed = checkout.out("rev-parse", "origin/main").strip()
    request_id = create(checkout)["request_id"]
    bump_version(clone(remote, "pusher"), "2.0.0")  # pushed after the request, never approved
    approved = perform(checkout, "approve", CPI, request_id=request_id)
    assert approved["request"]["spec"]["target"]["commit"] == seed  # the newest commit with 1.0.0, not the tip
    assert "the branch now has 2.0.0" in approved["request"]["status"]["history"][-1]["comment"]
    # A version Git never had cannot be approved: nothing is written.
    other = perform(checkout, "create", DEVOPS, tenant="tenant-demo", target={"name": "petstore-api", "version": "9.9.9"},
                    justification="x")["request_id"]
    with pytest.raises(RequestError, match=r"9\.9\.9 cannot be approved: no commit of main has "
                                           r"tenants/tenant-demo/apis/petstore-api/api.yaml with version 9\.9\.9 "
                                           r"\(it has 2\.0\.0\)"):
        perform(checkout, "approve", CPI, request_id=other)


def test_check_failed_keeps_it_approved_and_retry_sends_a_failed_request_again(remote):
    checkout = clone(remote, "retry")
    request_id = create(checkout)["request_id"]
    commit = perform(checkout, "approve", CPI, request_id=request_id)["request"]["spec"]["target"]["commit"]
    kept = perform(checkout, "check_failed", AWX, request_id=request_id, comment="GET /apis answered HTTP 401")
    assert kept["state"] == "approved"
    perform(checkout, "start", AWX, request_id=request_id, version="1.0.0", commit=commit)
    failed = perform(checkout, "failed", AWX, request_id=request_id, version="1.0.0", commit=commit,
                     comment="PUT /apis/x answered HTTP 500: boom")
    assert failed["state"] == "failed"
    with pytest.raises(RequestError, match=r"demo-devops@cab-i.com may not retry .*needed: one of cpi, cpi-admin"):
        perform(checkout, "retry", DEVOPS, request_id=request_id)
    with pytest.raises(RequestError, match="awx@stoa.local may not retry"):
        perform(checkout, "retry", AWX, request_id=request_id)
    again = perform(checkout, "retry", CPI, request_id=request_id, comment="password fixed")
    assert again["state"] == "approved" and again["request"]["spec"]["target"]["commit"] == commit
    history = again["request"]["status"]["history"]
    assert [h["action"] for h in history] == ["created", "approved", "checks-failed", "deploying", "failed", "retried"]
    assert history[3]["version"] == "1.0.0" and history[3]["commit"] == commit
    with pytest.raises(RequestError, match="is approved: retry needs it failed"):
        perform(checkout, "retry", CPI, request_id=request_id)
    # Anti-self-approval as for approve: a CPI member does not send their own request again.
    own = create(checkout, actor=CPI)["request_id"]
    perform(checkout, "approve", ADMIN, request_id=own)
    perform(checkout, "start", AWX, request_id=own)
    perform(checkout, "failed", AWX, request_id=own, comment="boom")
    with pytest.raises(RequestError, match="created .* and cannot retry it: nobody approves their own request"):
        perform(checkout, "retry", CPI, request_id=own)
    from ansible_collections.stoa.platform.plugins.module_utils.gitops_validate import validate_checkout

    checkout.run("reset", "--quiet", "--hard", "origin/main")
    assert validate_checkout(checkout.path) == []
