"""Publishes the store's outbox to Kafka: results are delayed by an outage, never lost.

Messages are written to the outbox in the same transaction as the change they report
(store/sqlite.py ``_publish``). This thread sends pending rows in order with an idempotent
producer (``acks=all``, ``enable.idempotence``), and marks a row published only once the
broker confirmed it (delivery report). A crash between the two re-sends the message: each
carries a stable ``id`` (also the ``message_id`` header) so that consumers deduplicate.
"""
from __future__ import annotations

import logging
import threading

from confluent_kafka import KafkaException, Producer

log = logging.getLogger("stoa.receiver.kafka")
BATCH = 500


class OutboxPublisher:
    """``run()`` until ``stop()``; ``wake()`` when new rows were written (optional: it also polls every second)."""

    def __init__(self, store, bootstrap_servers: str, metrics=None, timeout: float = 10.0):
        self.store, self.metrics, self.timeout = store, metrics, timeout
        self.producer = Producer({"bootstrap.servers": bootstrap_servers, "acks": "all", "enable.idempotence": True,
                                  "linger.ms": 5, "message.timeout.ms": int(timeout * 1000),
                                  "client.id": "stoa-receiver", "logger": log})  # librdkafka logs as JSON lines
        self._wake, self._stop = threading.Event(), threading.Event()
        self.healthy = True

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def publish_pending(self) -> int:
        """Sends one batch; returns how many were confirmed. Raises nothing: failures are recorded and retried."""
        rows = self.store.outbox_pending(BATCH)
        if not rows:
            return 0
        delivered: list[int] = []
        failed: dict[int, str] = {}

        def report(row_id):
            def on_delivery(error, _message):
                if error is None:
                    delivered.append(row_id)
                else:
                    failed[row_id] = str(error)
            return on_delivery

        try:
            for row in rows:
                self.producer.produce(row["topic"], row["value"].encode(), key=row["message_key"].encode(),
                                      headers={"message_id": row["message_id"].encode()},
                                      on_delivery=report(row["id"]))
                self.producer.poll(0)
            self.producer.flush(self.timeout + 1)
        except (KafkaException, BufferError) as exc:
            log.warning("publishing paused", extra={"reason": str(exc)})
        self.store.outbox_published(delivered)
        unconfirmed = [r["id"] for r in rows if r["id"] not in delivered]
        if unconfirmed:
            reason = next(iter(failed.values()), "not confirmed by the broker in time")
            self.store.outbox_failed(unconfirmed, reason)
        if self.metrics:
            self.metrics.published.inc(len(delivered))
            if unconfirmed:
                self.metrics.publish_errors.inc(len(unconfirmed))
        self.healthy = not unconfirmed
        return len(delivered)

    def run(self) -> None:
        pause = 0.5
        while not self._stop.is_set():
            try:
                sent = self.publish_pending()
            except Exception:  # the loop never dies
                log.exception("outbox publishing failed")
                sent, self.healthy = 0, False
            if not self.healthy:
                self._stop.wait(pause)
                pause = min(pause * 2, 30.0)
                continue
            pause = 0.5
            if not sent:
                self._wake.wait(1.0)
                self._wake.clear()
        self.producer.flush(5)
