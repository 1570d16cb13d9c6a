"""One real round-trip per local service, with the libraries the modules use."""
from __future__ import annotations

import uuid

import hvac
import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from keycloak import KeycloakAdmin, KeycloakOpenIDConnection

pytestmark = pytest.mark.integration


def test_vault_kv2_secret_round_trip(vault_service):
    client = hvac.Client(url=vault_service["VAULT_ADDR"], token=vault_service["VAULT_TOKEN"])
    assert client.is_authenticated()
    path = f"tests/{uuid.uuid4().hex}"
    written = client.secrets.kv.v2.create_or_update_secret(
        path=path, secret={"password": "s3cr3t", "user": "svc"}, mount_point="secret"
    )
    assert written["data"]["version"] == 1
    # Check-and-set: a write that assumes version 0 must now be refused.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.secrets.kv.v2.create_or_update_secret(path=path, secret={"x": "y"}, cas=0, mount_point="secret")
    read = client.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"password": "s3cr3t", "user": "svc"}
    assert read["data"]["metadata"]["version"] == 1


def test_keycloak_admin_token_and_realm_round_trip(keycloak_service):
    connection = KeycloakOpenIDConnection(
        server_url=keycloak_service["KEYCLOAK_URL"],
        username=keycloak_service["KEYCLOAK_ADMIN_USERNAME"],
        password=keycloak_service["KEYCLOAK_ADMIN_PASSWORD"],
        realm_name="master",
        user_realm_name="master",
        verify=True,
    )
    admin = KeycloakAdmin(connection=connection)
    connection.get_token()
    token = connection.token
    assert token["access_token"] and token["token_type"].lower() == "bearer"

    realm = f"test-{uuid.uuid4().hex[:8]}"
    admin.create_realm({"realm": realm, "enabled": True, "displayName": "Round trip"})
    try:
        read = admin.get_realm(realm)
        assert read["realm"] == realm
        assert read["displayName"] == "Round trip"
        assert read["enabled"] is True
    finally:
        admin.delete_realm(realm)
    assert realm not in {r["realm"] for r in admin.get_realms()}


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        }
    )


def _poll(consumer: Consumer, count: int, timeout: float = 30.0) -> list:
    import time

    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            raise KafkaException(message.error())
        got.append(message)
    return got


def test_kafka_consumer_group_resumes_after_manual_commit(kafka_service):
    bootstrap = kafka_service["KAFKA_BOOTSTRAP_SERVERS"]
    assert "deploy-requests" in kafka_service["STOA_KAFKA_TOPICS"].split(",")
    topic = "deploy-requests"
    run = uuid.uuid4().hex
    group = f"test-{run}"

    # Start the group at the topic's current end, so earlier runs do not count.
    first = _consumer(bootstrap, group)
    low, high = first.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    first.commit(offsets=[TopicPartition(topic, 0, high)], asynchronous=False)

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for n in range(3):
        producer.produce(topic, key=run, value=f"{run}:{n}".encode())
    assert producer.flush(15) == 0

    first.subscribe([topic])
    received = _poll(first, 2)
    assert [m.value().decode() for m in received] == [f"{run}:0", f"{run}:1"]
    # Only the first message is committed as processed: the second must come again.
    first.commit(message=received[0], asynchronous=False)
    first.close()

    second = _consumer(bootstrap, group)
    second.subscribe([topic])
    redelivered = _poll(second, 2)
    second.commit(message=redelivered[-1], asynchronous=False)
    committed = second.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    second.close()
    assert [m.value().decode() for m in redelivered] == [f"{run}:1", f"{run}:2"]
    assert committed == high + 3
