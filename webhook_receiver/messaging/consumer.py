"""The ``deploy-requests`` consumer: at-least-once delivery, exactly-once effect.

- manual commits only (``enable.auto.commit`` off): an offset is committed after every
  message up to it is durably in the store, or in the dead-letter topic;
- the request ``id`` is the event's delivery key, so a redelivered message is stored once
  and launches once;
- a message that cannot be decoded or is invalid (JSON Schema ``deploy_request.schema.json``)
  goes to ``deploy-requests.dlq`` with the error and its original topic, partition and offset,
  and never blocks its partition.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
from pathlib import Path

import jsonschema
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from ..store import NewEvent, StoreUnavailable

log = logging.getLogger("stoa.receiver.kafka")
SCHEMA = json.loads((Path(__file__).resolve().parent / "deploy_request.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
BATCH = 500


class InvalidRequest(ValueError):
    """Why a message is not a deploy request; the message names the field (JSON pointer)."""


def parse(raw: bytes | None) -> dict:
    """The request of one message, or :class:`InvalidRequest`."""
    if raw is None:
        raise InvalidRequest("the message has no value")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"not JSON: {exc}") from None
    errors = sorted(VALIDATOR.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise InvalidRequest("; ".join(f"/{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
                                       for e in errors[:5])[:1000])
    return data


def to_event(request: dict, raw: bytes) -> NewEvent:
    summary = {k: request.get(k) for k in ("tenant_id", "api_name", "api_version", "environment", "user_id",
                                           "timestamp")}
    return NewEvent(source="kafka", kind=request["type"], delivery_key=f"kafka:{request['id']}", project="",
                    ref=None, before=None, after=None, status="accepted", reason=None, summary=summary, body=raw,
                    trace_id=request["trace_id"])


class RequestConsumer:
    """One consumer of the group; ``run()`` until ``stop()``. ``on_stored`` wakes the router."""

    def __init__(self, store, servers: str, topic: str, dead_letter_topic: str, group_id: str, metrics=None,
                 on_stored=None, session_timeout: float = 10.0):
        """``session_timeout`` (s): how long a dead replica keeps its partitions (session.timeout.ms); heartbeats
        are sent three times per session, as Kafka's guidance has it."""
        self.store, self.topic, self.dead_letter_topic, self.metrics = store, topic, dead_letter_topic, metrics
        self.on_stored = on_stored or (lambda: None)
        self.consumer = Consumer({"bootstrap.servers": servers, "group.id": group_id, "enable.auto.commit": False,
                                  "auto.offset.reset": "earliest", "client.id": "stoa-receiver", "logger": log,
                                  "session.timeout.ms": int(session_timeout * 1000),
                                  "heartbeat.interval.ms": int(session_timeout * 1000 / 3)})
        self.producer = Producer({"bootstrap.servers": servers, "acks": "all", "enable.idempotence": True,
                                  "client.id": "stoa-receiver-dlq", "logger": log})
        self._stop = threading.Event()
        self.healthy = True

    def stop(self) -> None:
        self._stop.set()

    def _dead_letter(self, message, error: str) -> None:
        raw = message.value() or b""
        try:
            text = raw.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(raw).decode(), "base64"
        record = {"error": error, "topic": message.topic(), "partition": message.partition(),
                  "offset": message.offset(), "key": (message.key() or b"").decode("utf-8", "replace"),
                  "value": text, "value_encoding": encoding}
        self.producer.produce(self.dead_letter_topic, json.dumps(record).encode(), key=message.key())

    def handle(self, messages) -> None:
        """Stores or dead-letters a batch, then commits it. Raises when it could do neither (nothing committed)."""
        futures, dead, last = [], 0, {}
        for message in messages:
            if message.error():
                log.warning("consumer error", extra={"reason": str(message.error())})
                continue
            last[(message.topic(), message.partition())] = message.offset()
            try:
                request = parse(message.value())
            except InvalidRequest as exc:
                self._dead_letter(message, str(exc))
                dead += 1
                continue
            futures.append(self.store.add_event(to_event(request, message.value())))
        stored = duplicates = 0
        for future in futures:
            _event_id, _trace, duplicate = future.result(60)  # StoreUnavailable: nothing committed, redelivered
            stored += not duplicate
            duplicates += duplicate
        if dead and self.producer.flush(30):
            raise KafkaException("dead letters not confirmed by the broker")
        if last:
            self.consumer.commit(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()],
                                 asynchronous=False)
        if self.metrics:
            self.metrics.accepted.labels("kafka", "request").inc(stored)
            self.metrics.duplicate.labels("kafka").inc(duplicates)
            self.metrics.rejected.labels("kafka", "invalid_request").inc(dead)
        if stored:
            self.on_stored()

    def run(self) -> None:
        self.consumer.subscribe([self.topic])
        pause = 0.5
        try:
            while not self._stop.is_set():
                messages = self.consumer.consume(BATCH, timeout=1.0)
                if not messages:
                    continue
                try:
                    self.handle(messages)
                    self.healthy, pause = True, 0.5
                except (KafkaException, StoreUnavailable, TimeoutError) as exc:
                    # Nothing of this batch was committed: go back to the last commit and try again.
                    self.healthy = False
                    log.warning("requests not committed; reading them again", extra={"reason": str(exc)})
                    self._rewind(messages)
                    self._stop.wait(pause)
                    pause = min(pause * 2, 30.0)
        finally:
            self.consumer.close()
            self.producer.flush(5)

    def _rewind(self, messages) -> None:
        first: dict[tuple[str, int], int] = {}
        for message in messages:
            if not message.error():
                key = (message.topic(), message.partition())
                first[key] = min(first.get(key, message.offset()), message.offset())
        for (topic, partition), offset in first.items():
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException:
                pass  # a rebalance took the partition: its new owner starts from the last commit
