# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: job_events
type: notification
short_description: Report each job's start and result to the platform's Kafka topics
version_added: 0.1.0
description:
  - Publishes C(job-started) to C(audit-log) when a playbook starts, and C(job-succeeded) or C(job-failed) with the
    per-host counts to C(audit-log) and C(deploy-results) when it ends (and to C(notifications) when it failed), with
    the job's C(trace_id), C(tenant_id), C(api_name), C(api_version) and C(environment) extra vars.
  - A check-mode run (C(--check)) is not a job result, so it publishes C(job-started) and, when it ends,
    C(job-check-succeeded) or C(job-check-failed), to C(audit-log) only, never to C(deploy-results) or
    C(notifications), and never as C(job-succeeded) or C(job-failed). Every event carries C(check_mode) (true or
    false) in the envelope and in its C(data), so a consumer can tell a prediction from a run.
  - Does nothing when no bootstrap servers are configured; warns, and never fails the job, when Kafka cannot be
    reached.
  - Enable it with C(callbacks_enabled = stoa.platform.job_events) (the repository's ansible.cfg does).
author:
  - STOA platform team (@stoa-platform)
requirements:
  - confluent-kafka
options:
  bootstrap_servers:
    description: Kafka bootstrap servers.
    type: str
    env:
      - name: KAFKA_BOOTSTRAP_SERVERS
  timeout:
    description: Seconds to wait for each acknowledgement.
    type: int
    default: 5
    env:
      - name: STOA_JOB_EVENTS_TIMEOUT
"""

import datetime
import json
import uuid

from ansible import context
from ansible.plugins.callback import CallbackBase

try:
    from confluent_kafka import Producer

    HAS_KAFKA = True
except ImportError:  # pragma: no cover
    HAS_KAFKA = False

JOB_VARS = ("trace_id", "tenant_id", "api_name", "api_version", "environment")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "stoa.platform.job_events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.playbook = None
        self.context = {}
        self.started = None
        self.announced = False

    def _producer(self):
        servers = self.get_option("bootstrap_servers")
        if not servers or not HAS_KAFKA:
            return None
        timeout = self.get_option("timeout") * 1000
        return Producer({"bootstrap.servers": servers, "message.timeout.ms": timeout,
                         "socket.timeout.ms": min(timeout, 10000), "log_level": 0})

    def _publish(self, event_type, topics, data):
        producer = self._producer()
        if producer is None:
            return
        check_mode = self.check_mode()
        event = {"id": str(uuid.uuid4()), "type": event_type, "source": "ansible:%s" % self.playbook,
                 "time": datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z",
                 "trace_id": self.context.get("trace_id"), "check_mode": check_mode,
                 "data": dict(self.context, check_mode=check_mode, **data)}
        failures = []

        def delivered(error, _message):
            if error is not None:
                failures.append(str(error))

        try:
            for topic in topics:
                producer.produce(topic, json.dumps(event).encode("utf-8"),
                                 key=(self.context.get("trace_id") or event["id"]).encode("utf-8"),
                                 on_delivery=delivered)
            left = producer.flush(self.get_option("timeout") + 1)
        except Exception as exc:  # pylint: disable=broad-except
            failures.append(str(exc))
            left = 0
        if failures or left:
            self._display.warning("stoa.platform.job_events: %s not published to Kafka (%s); the job goes on"
                                  % (event_type, "; ".join(failures) or "no acknowledgement"))

    @staticmethod
    def check_mode():
        """Whether the run was started with --check: a prediction, not a job result."""
        return bool(context.CLIARGS.get("check", False))

    @classmethod
    def result_event(cls, failed):
        """(event type, topics) of a run's end: a check run goes to audit-log only, under a type of its own."""
        if cls.check_mode():
            return ("job-check-failed" if failed else "job-check-succeeded"), ["audit-log"]
        return ("job-failed" if failed else "job-succeeded"), (
            ["audit-log", "deploy-results"] + (["notifications"] if failed else []))

    def v2_playbook_on_start(self, playbook):
        self.playbook = getattr(playbook, "_file_name", "playbook").rsplit("/", 1)[-1]
        self.started = datetime.datetime.utcnow()

    def v2_playbook_on_play_start(self, play):
        if self.announced:
            return
        self.announced = True
        extra = play.get_variable_manager().extra_vars if play.get_variable_manager() else {}
        self.context = dict((name, extra.get(name)) for name in JOB_VARS if extra.get(name) is not None)
        self.context["job"] = self.playbook
        self._publish("job-started", ["audit-log"], {})

    def v2_playbook_on_stats(self, stats):
        summary = dict((host, stats.summarize(host)) for host in sorted(stats.processed))
        failed = any(s["failures"] or s["unreachable"] for s in summary.values())
        seconds = (datetime.datetime.utcnow() - self.started).total_seconds() if self.started else None
        event_type, topics = self.result_event(failed)
        self._publish(event_type, topics, {"hosts": summary, "seconds": seconds})
