"""Routing on a real GitOps remote: the edge cases of shared/gitlab/edge-cases/ and every other kind of delivery.

The receiver runs for real (HTTP, store, router) with its dispatcher off: each test reads
the job requests it queued and the explanation recorded with the event.
"""
from __future__ import annotations

import time

import pytest
import yaml

from conftest import edge_case, push_body, receiver_config_for, sign

PETSTORE = "deploy_api|tenant-demo|petstore-api|dev"
WEATHER = "deploy_api|tenant-demo|weather-api|dev"


@pytest.fixture
def receiver(gitops, tmp_path, start_receiver):
    return start_receiver(receiver_config_for(tmp_path, gitops.remote, routing={"gap_grace": 0.3}), dispatch=False)


def post_push(receiver, before, after, key=None, **extra):
    answer = receiver.post(push_body(before, after, **extra), key=key)
    assert answer.status_code == 202, answer.text
    return receiver.wait_routed(answer.json()["event_id"])


def keys_of(receiver) -> dict[str, list[dict]]:
    return receiver.requests_by_key()


def test_change_to_one_api_requests_one_deploy_in_dev(receiver, gitops):
    before = gitops.head()
    after = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "one"))
    event = post_push(receiver, before, after)
    assert event["status"] == "routed" and event["decision"]["mode"] == "diff"
    requests = keys_of(receiver)
    assert list(requests) == [PETSTORE]
    assert requests[PETSTORE][0]["ref"] == after and requests[PETSTORE][0]["state"] == "waiting"
    assert event["decision"]["requests"][0]["paths"] == ["tenants/tenant-demo/apis/petstore-api/openapi.yaml"]


def test_edge_01_truncated_commits_change_in_an_unlisted_commit_still_launches(receiver, gitops):
    """27 commits, GitLab lists the newest 20: the iam/ change is in the 3rd, which is not listed."""
    base = gitops.head()
    registry = yaml.safe_load((gitops.work / "iam/tenants.yaml").read_text())
    new_tenant = dict(registry["tenants"][0], id="tenant-acme", displayName="Acme")
    new_tenant["owner"] = {"email": "owner@acme.example", "name": "Acme Owner"}
    new_tenant["members"] = {}
    for n in range(27):
        files = gitops.touch_api("tenant-demo", "petstore-api", f"tweak {n}")
        if n == 2:
            registry["tenants"].append(new_tenant)
            files["iam/tenants.yaml"] = yaml.safe_dump(registry, sort_keys=False)
        gitops.commit(files, f"petstore: tweak docs {n}", push=False)
    gitops.push()
    after = gitops.head()
    body, headers = edge_case("01-push-truncated-commits", {
        "20eafeba6bb21ef11c9b0b69ae1bd20fd1b4d21a": base, "47d595281e6ac158977971c176e6da319a0b78d4": after})
    answer = receiver.post(body, headers=headers)
    assert answer.status_code == 202, answer.text
    event = receiver.wait_routed(answer.json()["event_id"])
    requests = keys_of(receiver)
    assert set(requests) == {PETSTORE, "iam_sync|||", "provision_tenant|tenant-acme||"}
    assert all(len(rows) == 1 for rows in requests.values()), "one request per key, however many commits"
    assert event["decision"]["paths_changed"] == 2


def test_edge_02_branch_delete_launches_nothing_and_never_reads_the_zero_sha(receiver, gitops):
    fetches = receiver.service.mirror.fetches
    body, headers = edge_case("02-branch-delete")
    answer = receiver.post(body, headers=headers)
    assert answer.status_code == 202
    event = receiver.wait_routed(answer.json()["event_id"])
    assert event["status"] == "ignored" and keys_of(receiver) == {}
    assert receiver.service.mirror.fetches == fetches
    # The same on the routed branch itself: main deleted.
    main_deleted = push_body(gitops.head(), "0" * 40, checkout_sha=None, commits=[], total_commits_count=0)
    event = receiver.wait_routed(receiver.post(main_deleted).json()["event_id"])
    assert event["status"] == "ignored" and "deleted" in event["reason"] and keys_of(receiver) == {}
    assert receiver.service.mirror.fetches == fetches


def _merge_feature(gitops) -> tuple[str, str, str]:
    """A feature branch changing petstore's dev.yaml, merged into main with a merge commit."""
    base = gitops.head()
    from gitops_remote import git

    git("checkout", "--quiet", "-b", "feature/petstore-rate-limit", cwd=gitops.work)
    path = "tenants/tenant-demo/apis/petstore-api/environments/dev.yaml"
    feature = gitops.commit({path: (gitops.work / path).read_text() + "\n# rate limit\n"}, "rate limit", push=False)
    git("checkout", "--quiet", "main", cwd=gitops.work)
    git("merge", "--quiet", "--no-ff", "-m", "Merge branch 'feature/petstore-rate-limit'", feature, cwd=gitops.work)
    gitops.push()
    return base, feature, gitops.head()


@pytest.mark.parametrize("merge_sha_null", [False, True])
def test_edge_05_06_merge_event_launches_nothing_the_merge_commit_push_launches_once(receiver, gitops, merge_sha_null):
    base, feature, merge = _merge_feature(gitops)
    subs = {"40333bab97104d3bff1abe9ef1e65d97ba0badd5": base, "596930c3d1cecdb8c27dbea1eaf970820baccbb5": merge,
            "a79e67da30927a2fa1c5f64a741fc1b817bb35a6": feature}
    mr_body, mr_headers = edge_case("05-mr-merged", subs)
    if merge_sha_null:  # fast-forward merges: merge_commit_sha is null
        mr_body = mr_body.replace(f'"merge_commit_sha": "{merge}"'.encode(), b'"merge_commit_sha": null')
        assert b'"merge_commit_sha": null' in mr_body
    mr = receiver.post(mr_body, headers=mr_headers)
    assert mr.status_code == 202
    assert receiver.wait_routed(mr.json()["event_id"])["status"] == "ignored"
    push_raw, push_headers = edge_case("06-merge-commit-push", subs)
    push = receiver.post(push_raw, headers=push_headers)
    assert push.status_code == 202
    event = receiver.wait_routed(push.json()["event_id"])
    assert event["status"] == "routed"
    requests = keys_of(receiver)
    assert list(requests) == [PETSTORE] and len(requests[PETSTORE]) == 1
    assert requests[PETSTORE][0]["ref"] == merge


def test_edge_09_wrong_token_is_401_and_nothing_is_stored(receiver):
    body, headers = edge_case("09-wrong-token")
    answer = receiver.post(body, headers=headers, token=None)
    assert answer.status_code == 401
    assert receiver.store.stats()["events"] == {}
    assert receiver.metric("stoa_receiver_events_rejected_total", reason="bad_token") == 1


def test_edge_10_signed_delivery_verified_over_raw_bytes_tampered_refused(gitops, tmp_path, start_receiver):
    body, headers = edge_case("10a-signed-valid")
    stamp = int(headers["webhook-timestamp"])
    frozen = start_receiver(receiver_config_for(tmp_path, gitops.remote), dispatch=False,
                            auth_clock=lambda: stamp + 30)
    assert headers["webhook-signature"] == sign(body, headers["webhook-id"], stamp), "the case's own signature"
    tampered, tampered_headers = edge_case("10b-signed-tampered-body")
    refused = frozen.post(tampered, headers=tampered_headers, token=None)
    assert refused.status_code == 401
    accepted = frozen.post(body, headers=headers, token=None)
    assert accepted.status_code == 202, accepted.text
    # With real SHAs substituted and the signature recomputed, it is routed like any push.
    before = gitops.head()
    after = gitops.commit(gitops.touch_api("tenant-demo", "weather-api", "signed"))
    import json as _json

    original = _json.loads(body)
    real = body.replace(original["before"].encode(), before.encode()).replace(original["after"].encode(), after.encode())
    resigned = dict(headers, **{"webhook-id": "resent-1", "webhook-signature": sign(real, "resent-1", stamp)})
    event = frozen.wait_routed(frozen.post(real, headers=resigned, token=None).json()["event_id"])
    assert event["status"] == "routed"
    # Outside the replay window (the real clock, days later), the same valid delivery is refused.
    late = start_receiver(receiver_config_for(tmp_path / "late", gitops.remote), dispatch=False)
    outside = late.post(body, headers=dict(headers, **{"webhook-id": "other"}), token=None)
    assert outside.status_code == 401 and "window" in outside.json()["error"]
    assert late.store.stats()["events"] == {}


def test_edge_12_large_payload_answered_fast_one_launch_per_api(receiver, gitops):
    base = gitops.head()
    for t in range(20):
        files = {}
        for a in range(20):
            root = f"tenants/tenant-bulk-{t:02d}/apis/api-{a:03d}"
            files[f"{root}/api.yaml"] = (gitops.work / "tenants/tenant-demo/apis/weather-api/api.yaml").read_text()
            files[f"{root}/openapi.yaml"] = "openapi: 3.0.3\ninfo: {title: bulk, version: 1.0.0}\npaths: {}\n"
            files[f"{root}/environments/dev.yaml"] = "environment: dev\n"
        gitops.commit(files, f"tenant-bulk-{t:02d}", push=False)
    gitops.push()
    after = gitops.head()
    body, headers = edge_case("12-large-payload", {"0995adb2329b75b924bf68cfc95d30cecf1cbda7": base,
                                                   "1789babb2c5d95fde2f20756e489e91f967c3518": after})
    assert len(body) > 400_000
    started = time.perf_counter()
    answer = receiver.post(body, headers=headers)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 202 and elapsed < 2.0, f"{answer.status_code} after {elapsed:.2f} s"
    event = receiver.wait_routed(answer.json()["event_id"], timeout=60)
    requests = keys_of(receiver)
    assert len(requests) == 400 and all(k.startswith("deploy_api|tenant-bulk-") for k in requests)
    assert all(len(rows) == 1 for rows in requests.values())
    assert event["decision"]["paths_changed"] == 1200


def test_system_hook_of_another_project_is_recorded_ignored_project_hook_refused(receiver, gitops):
    other = push_body(gitops.head(), gitops.head(), project="someone/else", project_id=77)
    ignored = receiver.post(other, headers={"X-Gitlab-Event": "System Hook"}, key="sys-1")
    assert ignored.status_code == 202 and ignored.json()["status"] == "ignored"
    assert receiver.store.event(ignored.json()["event_id"])["reason"] == "other_project"
    refused = receiver.post(other, key="proj-1")
    assert refused.status_code == 422
    assert receiver.store.stats()["events"] == {"ignored": 1} and keys_of(receiver) == {}


def test_redelivery_with_the_same_idempotency_key_is_stored_once(receiver, gitops):
    before = gitops.head()
    after = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "resend"))
    first = receiver.post(push_body(before, after), key="same-key")
    again = receiver.post(push_body(before, after), key="same-key")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {**first.json(), "status": "duplicate"}
    receiver.wait_routed(first.json()["event_id"])
    assert receiver.store.stats()["events"] == {"routed": 1}
    assert receiver.store.event(first.json()["event_id"])["deliveries"] == 2
    assert len(keys_of(receiver)[PETSTORE]) == 1


def test_tags_other_branches_launch_nothing(receiver, gitops):
    head = gitops.head()
    for body, kind in ((push_body("0" * 40, head, ref="refs/tags/v1.0", object_kind="tag_push",
                                  event_name="tag_push"), "Tag Push Hook"),
                       (push_body(head, "0" * 40, ref="refs/tags/v1.0", object_kind="tag_push", checkout_sha=None,
                                  event_name="tag_push"), "Tag Push Hook"),
                       (push_body(head, head, ref="refs/heads/feature/x"), "Push Hook")):
        answer = receiver.post(body, headers={"X-Gitlab-Event": kind})
        assert answer.status_code == 202
        event = receiver.wait_routed(answer.json()["event_id"])
        assert event["status"] == "ignored", event
    assert keys_of(receiver) == {}


def test_approved_promotion_request_launches_promote_states_from_jobs_do_not(receiver, gitops):
    path = "requests/prod/2026/11/PR-2026-0001.yaml"
    request = {"apiVersion": "stoa.cab-i.com/v1", "kind": "PromotionRequest",
               "metadata": {"id": "PR-2026-0001", "tenant": "tenant-demo", "createdBy": "demo-devops@cab-i.com",
                            "createdAt": "2026-11-29T10:00:00Z"},
               "spec": {"target": {"type": "api", "name": "petstore-api", "version": "1.0.0",
                                   "sourceEnvironment": "staging", "targetEnvironment": "prod"},
                        "request": {"justification": "go"}},
               "status": {"state": "pending", "history": []}}
    head = gitops.head()
    states = {}
    for state in ("pending", "approved", "deploying", "deployed"):
        request["status"]["state"] = state
        after = gitops.commit({path: yaml.safe_dump(request)}, f"{state}")
        states[state] = post_push(receiver, head, after)
        head = after
    requests = keys_of(receiver)
    assert list(requests) == ["promote|tenant-demo|petstore-api|prod"]
    (promote,) = requests["promote|tenant-demo|petstore-api|prod"]
    assert '"promotion_request_id": "PR-2026-0001"' in promote["vars"] and promote["event_id"] == states["approved"]["id"]
    assert "only a move to approved" in states["deploying"]["decision"]["not_launched"][0]["reason"]


def test_a_request_file_the_collection_refuses_launches_nothing(receiver, gitops):
    """Routing reads GitOps YAML as the jobs do (the collection's gitops_yaml): a request whose `state` is given
    twice (PyYAML keeps the last, `approved`) is refused there, so no promote is launched from it."""
    path = "requests/prod/2026/11/PR-2026-0002.yaml"
    text = (
        "apiVersion: stoa.cab-i.com/v1\nkind: PromotionRequest\n"
        "metadata: {id: PR-2026-0002, tenant: tenant-demo, createdBy: demo-devops@cab-i.com,"
        " createdAt: '2026-11-29T10:00:00Z'}\n"
        "spec:\n  target: {type: api, name: petstore-api, version: 1.0.0, sourceEnvironment: staging,"
        " targetEnvironment: prod}\n  request: {justification: go}\n"
        "status:\n  state: pending\n  state: approved\n  history: []\n")
    assert yaml.safe_load(text)["status"]["state"] == "approved"
    before = gitops.head()
    after = gitops.commit({path: text}, "a request with its state twice")
    event = post_push(receiver, before, after)
    assert event["status"] == "routed" and keys_of(receiver) == {}, event


def test_unicode_and_spaces_in_paths(receiver, gitops):
    before = gitops.head()
    after = gitops.commit({"tenants/tenant-demo/apis/petstore-api/docs/guide é 1.md": "bonjour\n",
                           "aliases/dev/nouveau backend é.yaml": (gitops.work / "aliases/dev/petstore-backend.yaml")
                           .read_text()})
    event = post_push(receiver, before, after)
    assert set(keys_of(receiver)) == {PETSTORE, "sync_alias|||dev"}
    paths = {p for r in event["decision"]["requests"] for p in r["paths"]}
    assert paths == {"tenants/tenant-demo/apis/petstore-api/docs/guide é 1.md", "aliases/dev/nouveau backend é.yaml"}


def test_aliases_environments_removed_api_and_production_never_by_push(receiver, gitops):
    before = gitops.head()
    after = gitops.commit({
        "aliases/staging/petstore-backend.yaml": (gitops.work / "aliases/staging/petstore-backend.yaml").read_text()
        + "\n# x\n",
        "aliases/prod/petstore-backend.yaml": (gitops.work / "aliases/prod/petstore-backend.yaml").read_text() + "\n# x\n",
        "environments/dev/config.yaml": (gitops.work / "environments/dev/config.yaml").read_text() + "\n# x\n",
        "tenants/tenant-demo/apis/weather-api": None})
    event = post_push(receiver, before, after)
    assert set(keys_of(receiver)) == {"full_deploy|||dev", "sync_gateway|||dev"}
    assert '"prune": false' in keys_of(receiver)["sync_gateway|||dev"][0]["vars"]
    reasons = " ".join(entry["reason"] for entry in event["decision"]["not_launched"])
    assert "staging is not an auto environment" in reasons and "prod is not an auto environment" in reasons
    assert WEATHER not in keys_of(receiver), "a removed API is not deployed"


def test_missed_pushes_and_force_push_become_a_full_reconcile(receiver, gitops):
    first = gitops.head()
    a = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "a"))
    post_push(receiver, first, a)
    b = gitops.commit(gitops.touch_api("tenant-demo", "weather-api", "b"))  # its hook never comes
    c = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "c"))
    event = post_push(receiver, b, c)
    assert event["decision"]["mode"] == "full_reconcile" and "missed pushes" in event["reason"]
    assert {"full_deploy|||dev", "iam_sync|||"} <= set(keys_of(receiver))
    # Force push: main rewritten to a sibling of c.
    from gitops_remote import git

    git("reset", "--quiet", "--hard", b, cwd=gitops.work)
    d = gitops.commit(gitops.touch_api("tenant-demo", "weather-api", "d"), push=False)
    gitops.push("--force")
    event = post_push(receiver, c, d)
    assert event["decision"]["mode"] == "full_reconcile" and "not an ancestor" in event["reason"]


def test_out_of_order_deliveries_route_by_diff_and_never_deploy_an_older_commit(receiver, gitops):
    start = gitops.head()
    a = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "a"))
    post_push(receiver, start, a)
    b = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "b"))
    c = gitops.commit(gitops.touch_api("tenant-demo", "petstore-api", "c"))
    late = receiver.post(push_body(b, c), key="c")           # arrives first
    time.sleep(0.05)
    early = receiver.post(push_body(a, b), key="b")           # within the grace period
    for answer in (late, early):
        event = receiver.wait_routed(answer.json()["event_id"])
        assert event["decision"]["mode"] == "diff", event
    rows = keys_of(receiver)[PETSTORE]
    assert [r["ref"] for r in rows if r["state"] == "waiting"] == [c], "the newest commit, whatever the order"


def test_a_startup_burst_in_any_order_is_one_chain_routed_by_diff(gitops, tmp_path, start_receiver):
    """The first pushes a receiver sees can arrive in any order (GitLab delivers concurrently; a replica died).
    Found by the two-replica kill test: P4 routed first (its `before` becomes the chain's start), P1 waits for
    a push ending at its `before` (none will come), P2 follows P1, P3 reaches back to P4's `before`; P1 ends
    where the routed P2 starts, so it is the chain's oldest push, not a missed one: routed by diff, not a
    full reconcile after the grace."""
    receiver = start_receiver(receiver_config_for(tmp_path, gitops.remote, routing={"gap_grace": 3.0}),
                              dispatch=False)
    shas = [gitops.head()]
    for n, api in enumerate(["petstore-api", "weather-api", "petstore-api", "weather-api"]):
        shas.append(gitops.commit(gitops.touch_api("tenant-demo", api, f"burst {n}")))
    events = {}
    for i in (4, 1, 2, 3):
        answer = receiver.post(push_body(shas[i - 1], shas[i]), key=f"burst-{i}")
        assert answer.status_code == 202, answer.text
        events[i] = answer.json()["event_id"]
    modes = {i: receiver.wait_routed(event_id, timeout=30)["decision"]["mode"] for i, event_id in events.items()}
    assert modes == {4: "diff", 1: "diff", 2: "diff", 3: "diff"}, modes
    rows = keys_of(receiver)
    assert sorted(r["ref"] for r in rows[PETSTORE] if r["state"] == "waiting") == [shas[3]]
    assert sorted(r["ref"] for r in rows[WEATHER] if r["state"] == "waiting") == [shas[4]]
