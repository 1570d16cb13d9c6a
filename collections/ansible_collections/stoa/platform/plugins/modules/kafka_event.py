#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kafka_event
short_description: Publish a platform event to a Kafka topic, without failing the job when Kafka is down
version_added: 0.1.0
description:
  - Publishes one JSON event (the platform's envelope, C(id), C(type), C(source), C(time), C(trace_id), C(data)) to a
    topic such as C(deploy-results), C(audit-log), C(notifications) or C(iam-sync), with confluent-kafka, and waits
    for the broker's acknowledgement.
  - Publishing is a notification, not a change to what a job manages, so the module reports C(changed=false) and
    says in RV(published) whether the broker acknowledged the event.
  - When Kafka cannot be reached, or no bootstrap servers are configured, the module warns and reports
    C(published=false) instead of failing, so a job never fails because its notification could not be sent, unless
    O(required=true).
author:
  - STOA platform team (@stoa-platform)
requirements:
  - confluent-kafka
options:
  bootstrap_servers:
    description:
      - Kafka bootstrap servers, C(host:port,...).
      - If not set, the value of the E(KAFKA_BOOTSTRAP_SERVERS) environment variable is used.
    type: str
  topic:
    description: Topic.
    type: str
    required: true
  event_type:
    description: Event type, for example C(iam-sync) or C(deployment-succeeded).
    type: str
    required: true
  data:
    description: The event's payload. Never put a secret here.
    type: dict
    default: {}
  key:
    description: Message key (partitioning); defaults to the trace id.
    type: str
  trace_id:
    description: Trace id that follows a change from Git to the gateway.
    type: str
  source:
    description: Who publishes.
    type: str
    default: stoa-automation
  timeout:
    description: Seconds to wait for the acknowledgement.
    type: int
    default: 10
  required:
    description: Fail when the event cannot be published.
    type: bool
    default: false
notes:
  - Check mode publishes nothing and reports what would be sent.
  - Support for check_mode is full, for diff_mode none.
"""

EXAMPLES = r"""
- name: Tell the platform the deployment succeeded
  stoa.platform.kafka_event:
    topic: deploy-results
    event_type: deployment-succeeded
    trace_id: "{{ trace_id }}"
    data: {tenant: tenant-demo, api: petstore-api, environment: dev}
"""

RETURN = r"""
published:
  description: Whether the broker acknowledged the event.
  returned: always
  type: bool
event:
  description: The event sent (or that would be sent).
  returned: always
  type: dict
partition:
  description: Partition the event landed in.
  returned: when published
  type: int
offset:
  description: Its offset.
  returned: when published
  type: int
"""

import datetime
import json
import uuid

from ansible.module_utils.basic import AnsibleModule, env_fallback

try:
    from confluent_kafka import KafkaException, Producer

    HAS_KAFKA = True
except ImportError:  # pragma: no cover
    HAS_KAFKA = False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bootstrap_servers=dict(type="str", fallback=(env_fallback, ["KAFKA_BOOTSTRAP_SERVERS"])),
            topic=dict(type="str", required=True),
            event_type=dict(type="str", required=True),
            data=dict(type="dict", default={}),
            key=dict(type="str", no_log=False),
            trace_id=dict(type="str"),
            source=dict(type="str", default="stoa-automation"),
            timeout=dict(type="int", default=10),
            required=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    event = {"id": str(uuid.uuid4()), "type": p["event_type"], "source": p["source"],
             "time": datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z",
             "trace_id": p["trace_id"], "data": p["data"]}
    result = dict(changed=False, published=False, event=event)

    def give_up(reason):
        if p["required"]:
            module.fail_json(msg=reason, **result)
        module.warn(reason + "; the job goes on without it")
        module.exit_json(**result)

    if module.check_mode:
        module.exit_json(**result)
    if not p["bootstrap_servers"]:
        give_up("no Kafka bootstrap servers configured (bootstrap_servers or KAFKA_BOOTSTRAP_SERVERS): event %s "
                "not published" % p["event_type"])
    if not HAS_KAFKA:
        give_up("the confluent-kafka library is missing: event %s not published" % p["event_type"])
    outcome = {}

    def delivered(error, message):
        outcome["error"] = error
        if message is not None and error is None:
            outcome["partition"], outcome["offset"] = message.partition(), message.offset()

    try:
        producer = Producer({"bootstrap.servers": p["bootstrap_servers"], "message.timeout.ms": p["timeout"] * 1000,
                             "socket.timeout.ms": min(p["timeout"] * 1000, 10000), "enable.idempotence": True,
                             "log_level": 0})
        producer.produce(p["topic"], json.dumps(event).encode("utf-8"),
                         key=(p["key"] or p["trace_id"] or event["id"]).encode("utf-8"), on_delivery=delivered)
        producer.flush(p["timeout"] + 1)
    except (KafkaException, BufferError, ValueError) as exc:
        give_up("Kafka at %s: %s: event %s not published" % (p["bootstrap_servers"], exc, p["event_type"]))
    if outcome.get("error") is not None or "partition" not in outcome:
        give_up("Kafka at %s did not acknowledge event %s on %s: %s"
                % (p["bootstrap_servers"], p["event_type"], p["topic"], outcome.get("error") or "timed out"))
    # An event is a notification, not a change to anything the job manages: reruns stay "ok".
    result.update(published=True, partition=outcome["partition"], offset=outcome["offset"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
