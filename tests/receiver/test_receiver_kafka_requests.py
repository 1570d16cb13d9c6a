"""The deploy-requests consumer on the real broker: each request type ends in its job and one deploy-results
message with the request's trace_id; a message delivered twice launches once; an invalid message goes to the
dead-letter topic with its error and offset, and the partition goes on."""
from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import awx_simulator
from conftest import receiver_config_for
from test_receiver_kafka import read_topic

pytestmark = pytest.mark.integration

TEMPLATES = {"deploy": "Deploy API", "promote": "Promote API", "rollback": "Rollback API", "delete": "Delete API",
             "sync": "Sync Gateway"}


@pytest.fixture
def topics(kafka_service):
    servers = kafka_service["KAFKA_BOOTSTRAP_SERVERS"]
    name = f"deploy-requests-test-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": servers})
    for future in admin.create_topics([NewTopic(name, 2, 1), NewTopic(f"{name}.dlq", 1, 1)]).values():
        future.result(30)
    yield servers, name
    admin.delete_topics([name, f"{name}.dlq"])


def request(kind: str, **fields) -> dict:
    body = {"id": f"req-{uuid.uuid4()}", "type": kind, "tenant_id": "tenant-demo", "api_name": "petstore-api",
            "api_version": "1.0.0", "environment": "staging", "trace_id": f"kafka-{uuid.uuid4().hex[:12]}",
            "user_id": "cpi-admin", "timestamp": "2026-11-29T20:00:00Z", "payload": {}}
    body.update(fields)
    return body


def test_each_request_type_ends_in_its_job_once_with_its_result(topics, tmp_path, gitops, start_receiver):
    servers, topic = topics
    sim, server = awx_simulator.start(port=0)
    try:
        sim.configure(strict_filters=True, pending_seconds=0.02, running_seconds=0.1)
        config = receiver_config_for(tmp_path, gitops.remote, launcher={"type": "awx", "awx": {
            "url": sim.url, "token": sim.token, "poll_interval": 0.1}}, kafka={
            "bootstrap_servers": servers, "requests_topic": topic, "dead_letter_topic": f"{topic}.dlq",
            "group_id": f"receiver-{uuid.uuid4().hex[:8]}"})
        receiver = start_receiver(config)
        sent = [request("deploy"), request("promote", environment="prod",
                                           payload={"promotion_request_id": "PR-2026-0001"}),
                request("rollback", environment="dev", payload={"target_ref": "main"}),
                request("delete", environment="dev"), request("sync", environment="dev", payload={"prune": True})]
        producer = Producer({"bootstrap.servers": servers})
        for body in sent:
            producer.produce(topic, json.dumps(body).encode(), key=body["trace_id"].encode())
        producer.produce(topic, json.dumps(sent[0]).encode())            # the same request again
        producer.produce(topic, b"\xff not json", key=b"broken")          # undecodable
        producer.produce(topic, json.dumps(request("deploy", environment="prod")).encode())  # valid: ignored
        producer.produce(topic, json.dumps({"id": "x", "type": "explode"}).encode())         # invalid
        late = request("deploy", api_name="weather-api")
        producer.produce(topic, json.dumps(late).encode())                # after the bad ones: not blocked
        assert producer.flush(30) == 0
        deadline = time.monotonic() + 60
        while len(receiver.store.query("SELECT id FROM events WHERE source = 'kafka'")) < 7:
            assert time.monotonic() < deadline, receiver.store.stats()
            time.sleep(0.1)
        receiver.wait_idle(timeout=60)
        for body in sent + [late]:
            template = TEMPLATES[body["type"]]
            jobs = [j for j in sim.find_jobs(template=template)
                    if json.loads(j["extra_vars"]).get("trace_id") == body["trace_id"]]
            assert len(jobs) == 1, (body["type"], len(jobs))
            variables = json.loads(jobs[0]["extra_vars"])
            assert variables["environment"] == body["environment"]
            if body["type"] != "sync":
                assert variables["tenant_id"] == "tenant-demo"
            results = read_topic(servers, "deploy-results", body["trace_id"], want=1, timeout=30)
            assert len(results) == 1 and results[0]["data"]["status"] == "successful", body["type"]
        promote = json.loads(sim.find_jobs(template="Promote API")[0]["extra_vars"])
        assert promote["promotion_request_id"] == "PR-2026-0001"
        ignored = receiver.store.list_events(status="ignored")
        assert len(ignored) == 1 and "does not reach prod" in ignored[0]["reason"]
        dead = read_topic_all(servers, f"{topic}.dlq", want=2)
        assert {d["value_encoding"] for d in dead} == {"base64", "utf-8"}
        assert all(d["topic"] == topic and d["offset"] >= 0 and d["error"] for d in dead)
        invalid = next(d for d in dead if d["value_encoding"] == "utf-8")
        assert "/type: 'explode' is not one of" in invalid["error"] and "'environment' is a required" in invalid["error"]
        assert next(d for d in dead if d["value_encoding"] == "base64")["error"].startswith("not JSON")
        assert receiver.metric("stoa_receiver_events_duplicate_total", source="kafka") == 1
    finally:
        server.shutdown()
        server.server_close()


def read_topic_all(servers: str, topic: str, want: int, timeout: float = 30) -> list[dict]:
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": servers, "group.id": f"t-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    found, deadline = [], time.monotonic() + timeout
    try:
        while len(found) < want and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                found.append(json.loads(message.value()))
    finally:
        consumer.close()
    return found
