"""Fuzzed input (hypothesis, bounded): the GitLab endpoint never answers a 5xx nor crashes, and the Kafka
request parser turns anything into a request or an InvalidRequest, never another exception."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TOKEN, push_body, receiver_config_for
from webhook_receiver.messaging.consumer import InvalidRequest, parse

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children,
                                                                                     max_size=5), max_leaves=30)
FIELDS = ["object_kind", "before", "after", "ref", "checkout_sha", "project", "project_id", "commits",
          "total_commits_count", "user_username", "object_attributes", "event_name"]


@pytest.fixture(scope="module")
def fuzz_receiver(tmp_path_factory):
    from gitops_remote import make_remote
    from webhook_receiver.service import Service
    from conftest import Receiver

    tmp = tmp_path_factory.mktemp("fuzz")
    service = Service(receiver_config_for(tmp, make_remote(tmp)))
    url = service.start_in_thread(port=0, dispatch=False)
    yield Receiver(service, url)
    service.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6),
       headers=st.dictionaries(st.sampled_from(["X-Gitlab-Event", "Idempotency-Key", "webhook-id",
                                                "webhook-timestamp", "webhook-signature"]),
                               st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60),
                               max_size=3))
def test_the_endpoint_never_answers_5xx(fuzz_receiver, changes, headers):
    body = {**push_body("a" * 40, "b" * 40), **changes}
    answer = fuzz_receiver.post(json.dumps(body).encode(), headers=headers, token=TOKEN)
    assert answer.status_code < 500, (answer.status_code, answer.text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_raw_bytes_are_refused_cleanly(fuzz_receiver, raw):
    answer = fuzz_receiver.post(raw, token=TOKEN)
    assert answer.status_code in (202, 400, 422), answer.status_code


@settings(max_examples=300, deadline=None)
@given(value=JSON | st.binary(max_size=200))
def test_any_kafka_message_is_a_request_or_a_dead_letter(value):
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    try:
        request = parse(raw)
    except InvalidRequest as exc:
        assert str(exc)
    else:
        assert request["type"] in ("deploy", "promote", "rollback", "delete", "sync")
