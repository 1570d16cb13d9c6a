"""One Apache Kafka broker in KRaft combined mode, from Maven Central jars.

The platform runs Redpanda; both speak the Kafka protocol and the receiver's
client code is the same for either (see shared/infra notes). Topics are
created explicitly because Redpanda does not auto-create them.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import java, paths
from .process import Service, ServiceError, port_is_bound

MIN_JAVA = 17

# The design's topics (phase 7).
TOPICS = (
    "api-created",
    "api-updated",
    "api-deleted",
    "deploy-requests",
    "deploy-requests.dlq",  # the receiver's dead letters: undecodable or invalid requests, with the error
    "deploy-results",
    "audit-log",
    "notifications",
)

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""


@dataclass
class Kafka(Service):
    name: str = "kafka"
    port: int = int(os.environ.get("STOA_KAFKA_PORT", "19092"))
    controller_port: int = int(os.environ.get("STOA_KAFKA_CONTROLLER_PORT", "19093"))
    start_timeout: float = 120.0

    def __post_init__(self) -> None:
        self.ports = (self.port, self.controller_port)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def libs(self) -> Path:
        return paths.CACHE_DIR / "kafka" / "libs"

    @property
    def data_dir(self) -> Path:
        return paths.STATE_DIR / "kafka" / "data"

    @property
    def properties_file(self) -> Path:
        return paths.state("kafka", "server.properties")

    def _fetch_jars(self) -> None:
        pom = paths.JAVA_FILES / "kafka-pom.xml"
        stamp = self.libs / (".complete-" + hashlib.sha256(pom.read_bytes()).hexdigest()[:16])
        if stamp.exists():
            return
        shutil.rmtree(self.libs, ignore_errors=True)
        java.mvn(
            "-f", str(pom),
            f"{java.DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={self.libs}",
            "-DincludeScope=runtime",
        )
        stamp.touch()

    def _java(self, *args: str) -> list[str]:
        return [str(Path(self.java_home, "bin", "java")), "-cp", f"{self.libs}/*", *args]

    def prepare(self) -> None:
        self.java_home = java.find_java_home(MIN_JAVA, "Kafka")
        self._fetch_jars()
        self.properties_file.write_text(
            SERVER_PROPERTIES.format(port=self.port, controller_port=self.controller_port, data=self.data_dir)
        )
        if not (self.data_dir / "meta.properties").exists():
            shutil.rmtree(self.data_dir, ignore_errors=True)
            cluster_id = subprocess.run(
                self._java("kafka.tools.StorageTool", "random-uuid"),
                capture_output=True, text=True, check=True,
            ).stdout.strip().splitlines()[-1]
            formatted = subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.properties_file)),
                capture_output=True, text=True, check=False,
            )
            if formatted.returncode != 0:
                raise ServiceError(f"kafka storage format failed:\n{formatted.stdout}\n{formatted.stderr}")

    def command(self) -> list[str]:
        log_config = paths.JAVA_FILES / "kafka-log4j2.properties"
        return [
            str(Path(self.java_home, "bin", "java")),
            "-Xms256m", "-Xmx768m",
            f"-Dlog4j2.configurationFile={log_config}",
            "-cp", f"{self.libs}/*",
            "kafka.Kafka", str(self.properties_file),
        ]

    def _admin(self):
        from confluent_kafka.admin import AdminClient  # heavy import: only when used

        # log_level 3 (error) silenced too: refused connections during start-up are expected.
        return AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 3000, "log_level": 2})

    def healthy(self) -> bool:
        if not port_is_bound(self.port):
            return False
        metadata = self._admin().list_topics(timeout=3)
        return bool(metadata.brokers)

    def after_start(self) -> None:
        from confluent_kafka.admin import NewTopic

        admin = self._admin()
        existing = set(admin.list_topics(timeout=10).topics)
        missing = [NewTopic(t, num_partitions=1, replication_factor=1) for t in TOPICS if t not in existing]
        if missing:
            for topic, future in admin.create_topics(missing, operation_timeout=30).items():
                try:
                    future.result(timeout=60)
                except Exception as exc:  # noqa: BLE001
                    if "TOPIC_ALREADY_EXISTS" not in str(exc):
                        raise ServiceError(f"kafka: could not create topic {topic}: {exc}") from exc
        # A new topic answers NOT_LEADER until the broker has loaded its partition, even
        # when the metadata already names a leader: ask each partition for its offsets, so
        # that the first client after `up` never sees a half-made topic.
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        probe = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "stoa-launcher-probe", "log_level": 2})
        try:
            deadline = time.monotonic() + 60
            pending = list(TOPICS)
            while pending:
                try:
                    probe.get_watermark_offsets(TopicPartition(pending[0], 0), timeout=5)
                    pending.pop(0)
                except KafkaException as exc:
                    if time.monotonic() > deadline:
                        raise ServiceError(f"kafka: topic {pending[0]} not ready after 60s: {exc}") from exc
                    time.sleep(0.2)
        finally:
            probe.close()

    def endpoints(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "STOA_KAFKA_TOPICS": ",".join(TOPICS),
        }
