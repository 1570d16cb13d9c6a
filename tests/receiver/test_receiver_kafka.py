"""Results on the real Kafka broker: every accepted event and launch on audit-log, every finished job on
deploy-results (failures on notifications too), through the store's outbox, so that an outage delays them."""
from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Consumer

import awx_simulator
from conftest import push_body, receiver_config_for
from load_repo import build

pytestmark = pytest.mark.integration


def read_topic(servers: str, topic: str, trace_id: str, want: int, timeout: float = 30) -> list[dict]:
    consumer = Consumer({"bootstrap.servers": servers, "group.id": f"test-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    found, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(found) < want:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            value = json.loads(message.value())
            if value.get("trace_id") == trace_id:
                assert message.key().decode() == trace_id
                assert dict(message.headers())["message_id"].decode() == value["id"]
                found.append(value)
    finally:
        consumer.close()
    return found


@pytest.fixture
def awx():
    sim, server = awx_simulator.start(port=0)
    sim.configure(strict_filters=True, pending_seconds=0.02, running_seconds=0.1, outcomes={"Sync Alias": "failed"})
    yield sim
    server.shutdown()
    server.server_close()


def test_events_launches_and_results_reach_their_topics_with_the_trace_id(tmp_path, awx, start_receiver,
                                                                            kafka_service, gitops):
    servers = kafka_service["KAFKA_BOOTSTRAP_SERVERS"]
    config = receiver_config_for(tmp_path, gitops.remote, kafka={"bootstrap_servers": servers}, launcher={
        "type": "awx", "awx": {"url": awx.url, "token": awx.token, "poll_interval": 0.1}})
    receiver = start_receiver(config)
    before = gitops.head()
    spec = gitops.touch_api("tenant-demo", "petstore-api", "kafka")
    alias = {"aliases/dev/petstore-backend.yaml": (gitops.work / "aliases/dev/petstore-backend.yaml").read_text()
             + "\n# kafka\n"}
    after = gitops.commit({**spec, **alias})
    answer = receiver.post(push_body(before, after), key=f"kafka-{uuid.uuid4()}")
    trace_id = answer.json()["trace_id"]
    receiver.wait_idle(timeout=60)
    deadline = time.monotonic() + 30
    while receiver.store.stats()["outbox_pending"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert receiver.store.stats()["outbox_pending"] == 0

    audit = read_topic(servers, "audit-log", trace_id, want=5)
    assert sorted(m["type"] for m in audit) == ["event-received", "job-finished", "job-finished",
                                                "job-launched", "job-launched"]
    assert audit[0]["data"]["after"] == after and audit[0]["source"] == "stoa-receiver"
    results = {m["data"]["job"]: m for m in read_topic(servers, "deploy-results", trace_id, want=2)}
    assert set(results) == {"deploy_api", "sync_alias"}
    deploy = results["deploy_api"]["data"]
    assert deploy["status"] == "successful" and deploy["launcher"] == "awx" and deploy["external_id"]
    assert deploy["tenant_id"] == "tenant-demo" and deploy["api_name"] == "petstore-api"
    assert deploy["started"] and deploy["finished"] and deploy["duration_seconds"] >= 0
    assert results["sync_alias"]["data"]["status"] == "failed"
    (notification,) = read_topic(servers, "notifications", trace_id, want=1)
    assert notification["data"]["job"] == "sync_alias"
    trace = receiver.http.get(f"{receiver.url}/traces/{trace_id}", timeout=5).json()
    assert trace["status"] == "failed" and [s["step"] for s in trace["steps"]].count("results published") == 2


def test_a_kafka_outage_delays_results_and_loses_none(tmp_path, awx, start_receiver, kafka_service):
    remote, shas = build(tmp_path / "repo", 3)
    servers = kafka_service["KAFKA_BOOTSTRAP_SERVERS"]
    config = receiver_config_for(tmp_path, remote, kafka={"bootstrap_servers": "127.0.0.1:1"}, launcher={
        "type": "awx", "awx": {"url": awx.url, "token": awx.token, "poll_interval": 0.1}})
    receiver = start_receiver(config)
    traces = []
    for i in range(1, 4):
        answer = receiver.post(push_body(shas[i - 1], shas[i]), key=f"outage-{uuid.uuid4()}")
        assert answer.status_code == 202, "Kafka being down never refuses a delivery"
        traces.append(answer.json()["trace_id"])
    receiver.wait_idle(timeout=60)
    pending = receiver.store.stats()["outbox_pending"]
    assert pending == 3 * 4, "per push: event-received, job-launched, job-finished (audit-log and deploy-results)"
    deadline = time.monotonic() + 15
    while receiver.http.get(f"{receiver.url}/readyz", timeout=5).json()["kafka"] != "retrying":
        assert time.monotonic() < deadline, "an outage is reported"
        time.sleep(0.2)
    ready = receiver.http.get(f"{receiver.url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["outbox_pending"] == pending, "delayed results: still ready"
    # The broker "comes back": the same outbox is published by a publisher that can reach it.
    from webhook_receiver.messaging.publisher import OutboxPublisher

    receiver.service.publisher.stop()
    OutboxPublisher(receiver.store, servers).publish_pending()
    assert receiver.store.stats()["outbox_pending"] == 0
    for trace_id in traces:
        assert len(read_topic(servers, "deploy-results", trace_id, want=1)) == 1
