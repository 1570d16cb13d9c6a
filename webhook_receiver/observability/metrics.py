"""Prometheus metrics (prometheus_client), one registry per receiver, few labels, seconds.

Counters say what happened to each delivery and launch; the queue gauges are read from
the store at scrape time (a collector), so they are right after a restart too. Labels
carry reasons and job names only: never a token, a body or a path.
"""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily


# (metric, help, key of SqliteStore.stats()): read from the store at each scrape.
GAUGES = (
    ("stoa_receiver_queue_depth", "Job requests waiting to be launched", "queue_depth"),
    ("stoa_receiver_oldest_waiting_seconds", "Age of the oldest waiting job request", "oldest_waiting_seconds"),
    ("stoa_receiver_oldest_unrouted_seconds", "Age of the oldest stored, unrouted event", "oldest_unrouted_seconds"),
    ("stoa_receiver_dead_letters", "Job requests in the dead-letter list", "dead_letters"),
    ("stoa_receiver_outbox_pending", "Messages waiting to be published to Kafka", "outbox_pending"),
    ("stoa_receiver_oldest_unpublished_seconds", "Age of the oldest unpublished message",
     "oldest_unpublished_seconds"),
)


class StoreCollector:
    """Queue depth, oldest waiting request, dead letters and events by status, from the store."""

    def __init__(self, store):
        self.store = store

    def describe(self):
        return []

    def collect(self):
        try:
            stats = self.store.stats()
        except Exception:  # a scrape must not fail because the store is busy or gone
            return
        for name, documentation, key in GAUGES:
            gauge = GaugeMetricFamily(name, documentation)
            gauge.add_metric([], stats[key])
            yield gauge
        requests = GaugeMetricFamily("stoa_receiver_job_requests", "Job requests by state", labels=["state"])
        for state, count in sorted(stats["requests"].items()):
            requests.add_metric([state], count)
        yield requests


class Metrics:
    """Every metric of one receiver; ``registry`` is what /metrics serves."""

    def __init__(self, store=None):
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("stoa_receiver_events_received", "Deliveries received on /hooks/gitlab",
                                ["source"], registry=r)
        self.accepted = Counter("stoa_receiver_events_accepted", "Deliveries stored durably and answered 202",
                                ["source", "kind"], registry=r)
        self.duplicate = Counter("stoa_receiver_events_duplicate", "Re-sent deliveries (same Idempotency-Key) answered "
                                 "200 and not stored again", ["source"], registry=r)
        self.ignored = Counter("stoa_receiver_events_ignored", "Deliveries recorded as ignored", ["source", "reason"],
                               registry=r)
        self.rejected = Counter("stoa_receiver_events_rejected", "Deliveries refused with a 4xx/503 and not stored",
                                ["source", "reason"], registry=r)
        self.ack_latency = Histogram("stoa_receiver_ack_latency_seconds", "Time from request to answer, storage included",
                                     ["source"], registry=r,
                                     buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.routed = Counter("stoa_receiver_events_routed", "Events routed, by mode (diff, full_reconcile, none)",
                              ["mode"], registry=r)
        self.routing_errors = Counter("stoa_receiver_routing_errors", "Routing attempts that failed (retried)",
                                      registry=r)
        self.requests = Counter("stoa_receiver_requests_queued", "Job requests from routing, by how they were queued "
                                "(created, coalesced)", ["job", "how"], registry=r)
        self.launches = Counter("stoa_receiver_launches", "Launch attempts by job and outcome (launched, retry, "
                                "found_existing, dead)", ["job", "outcome"], registry=r)
        self.finished = Counter("stoa_receiver_jobs_finished", "Launched jobs that ended, by job and status",
                                ["job", "status"], registry=r)
        self.published = Counter("stoa_receiver_messages_published", "Outbox messages confirmed by Kafka",
                                 registry=r)
        self.publish_errors = Counter("stoa_receiver_publish_errors", "Outbox messages not confirmed (retried)",
                                      registry=r)
        # stoa-receiver serve runs two processes (ingest, worker): their counters meet in PROMETHEUS_MULTIPROC_DIR
        # (set by the CLI before prometheus_client is imported, wiped at each start) and /metrics serves the sum.
        self.exposition = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            self.exposition = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.exposition)
        if store is not None:
            self.exposition.register(StoreCollector(store))
