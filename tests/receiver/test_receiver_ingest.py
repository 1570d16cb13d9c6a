"""Bad requests get 4xx, are counted, store nothing, never a 5xx; no secret in logs or metrics."""
from __future__ import annotations

import io
import json
import time

import pytest

from conftest import SIGNING_KEY, TOKEN, edge_case, push_body, receiver_config_for, sign
from webhook_receiver.observability import logs

LIMIT = 25 * 1024 * 1024


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    yield stream


@pytest.fixture
def receiver(gitops, tmp_path, start_receiver, log_stream):
    config = receiver_config_for(tmp_path, gitops.remote)
    logs.configure("DEBUG", [], stream=log_stream)  # no scrubbing: the test proves nothing logs a secret
    return start_receiver(config, dispatch=False)


def test_bad_requests_are_refused_counted_and_leave_nothing(receiver, gitops, log_stream):
    head = gitops.head()
    good = json.dumps(push_body(head, head)).encode()
    signed_body, signed_headers = edge_case("10a-signed-valid")
    now = int(time.time())
    fresh = {"webhook-id": "fresh-1", "webhook-timestamp": str(now), "webhook-signature": sign(good, "fresh-1", now)}
    cases = {
        "bad_token": (good, {"X-Gitlab-Token": "old-secret-that-was-rotated"}, 401),
        "missing_token": (good, {"X-Gitlab-Token": None}, 401),
        "bad_signature": (good + b" ", fresh, 401),
        "outside_window": (signed_body, dict(signed_headers), 401),
        "not_json": (b"{not json", {}, 400),
        "no_object_kind": (b'{"hello": "world"}', {}, 400),
        "content_type": (good, {"Content-Type": "text/plain"}, 415),
        "unknown_project": (json.dumps(push_body(head, head, project="other/repo", project_id=9)).encode(), {}, 422),
    }
    for reason, (body, headers, status) in cases.items():
        sent = {"Content-Type": "application/json", "X-Gitlab-Token": TOKEN, **headers}
        if "webhook-signature" in headers:
            sent.pop("X-Gitlab-Token")
        sent = {k: v for k, v in sent.items() if v is not None}
        answer = receiver.http.post(f"{receiver.url}/hooks/gitlab", data=body, headers=sent, timeout=30)
        assert answer.status_code == status, (reason, answer.status_code, answer.text)
        assert receiver.metric("stoa_receiver_events_rejected_total", reason=reason) == 1, reason
    # Over the limit: announced by Content-Length, and streamed without one (chunked).
    big = b'{"object_kind": "push", "x": "' + b"a" * LIMIT + b'"}'
    answer = receiver.post(big)
    assert answer.status_code == 413
    chunked = receiver.http.post(f"{receiver.url}/hooks/gitlab", data=iter([big[i:i + 1 << 20]
                                                                            for i in range(0, len(big), 1 << 20)]),
                                 headers={"Content-Type": "application/json", "X-Gitlab-Token": TOKEN}, timeout=60)
    assert chunked.status_code == 413
    assert receiver.metric("stoa_receiver_events_rejected_total", reason="too_large") == 2
    assert receiver.store.stats()["events"] == {}, "nothing stored"
    # Anything but /hooks/gitlab accepts no event.
    assert receiver.http.post(f"{receiver.url}/hooks/other", data=good, timeout=5).status_code == 404
    assert receiver.http.get(f"{receiver.url}/hooks/gitlab", timeout=5).status_code == 405
    # No secret anywhere an operator or a scraper reads.
    metrics = receiver.http.get(f"{receiver.url}/metrics", timeout=5).text
    for secret in (TOKEN, "old-secret-that-was-rotated", SIGNING_KEY, SIGNING_KEY.removeprefix("whsec_")):
        assert secret not in log_stream.getvalue() and secret not in metrics
    assert '"reason": "bad_token"' in log_stream.getvalue(), "refusals are logged, as JSON"


def test_rotation_old_and_new_secret_tokens_both_accepted(receiver, gitops):
    head = gitops.head()
    for n, token in enumerate(("old-rotated-secret", TOKEN)):
        answer = receiver.post(push_body(head, head), token=token, key=f"rot-{n}")
        assert answer.status_code == 202, answer.text


def test_a_signature_entry_among_several_and_non_utf8_bodies(receiver, gitops, tmp_path, start_receiver):
    body, headers = edge_case("10a-signed-valid")
    stamp = int(headers["webhook-timestamp"])
    frozen = start_receiver(receiver_config_for(tmp_path / "f", gitops.remote), dispatch=False,
                            auth_clock=lambda: stamp)
    several = dict(headers, **{"webhook-signature": "v1,bm90LWl0 v2,abc nonsense " + headers["webhook-signature"]})
    assert frozen.post(body, headers=several, token=None).status_code == 202
    for signature in ("v1,", "v1", "", "v1,!!!", "v1," + "A" * 5000):
        bad = dict(headers, **{"webhook-id": f"x-{len(signature)}", "webhook-signature": signature})
        assert frozen.post(body, headers=bad, token=None).status_code == 401, signature
    latin = "caf\xe9".encode("latin-1")
    bad_bytes = dict(headers, **{"webhook-id": "latin", "webhook-signature": sign(latin, "latin", stamp)})
    assert frozen.post(latin, headers=bad_bytes, token=None).status_code == 401


def test_acks_do_not_wait_for_routing_or_launching(gitops, tmp_path, start_receiver):
    """The repository is unreachable: deliveries are still stored and answered at once; routing waits."""
    config = receiver_config_for(tmp_path, gitops.remote)
    receiver = start_receiver(config, dispatch=False)
    receiver.service.mirror.url = str(tmp_path / "gone.git")
    import shutil

    shutil.rmtree(receiver.service.mirror.path)
    receiver.service.mirror.path = tmp_path / "mirror-unreachable.git"
    latencies = []
    for n in range(50):
        started = time.perf_counter()
        answer = receiver.post(push_body("1" * 40, "2" * 40), key=f"k{n}")
        latencies.append(time.perf_counter() - started)
        assert answer.status_code == 202
    assert sorted(latencies)[-1] < 0.5
    time.sleep(1.0)
    stats = receiver.store.stats()
    assert stats["events"] == {"accepted": 50}, "kept, waiting for the repository to come back"
    ready = receiver.http.get(f"{receiver.url}/readyz", timeout=5)
    assert ready.status_code == 503 and ready.json()["router"] == "retrying"
