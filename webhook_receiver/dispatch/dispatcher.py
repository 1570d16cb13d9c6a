"""Dispatch: claim due job requests, launch them once, follow them to the end.

- **Coalesced while waiting** and **serialised while running**: the store's constraints
  (one waiting and one launched request per key) and its claim query do it.
- **Launched once**: a request keeps one launch id across its attempts; every attempt
  after the first, and every ambiguous failure (answer lost, 502/504, connection reset),
  first asks the launcher whether that launch id already started a job, and adopts it.
- **Retries** on 429/502/503/504 and connection errors: exponential backoff with equal
  jitter and a cap (dramatiq's compute_backoff, with jitter; receiver-models.md §5),
  written in the failure's own transaction; after ``max_attempts`` the request goes to
  the dead-letter list (state ``dead``), visible and replayable.
- **After a crash**: requests left launching are looked up before any new attempt;
  requests left running are followed again.
- **Replicas** (a shared store, PostgreSQL): at start a replica takes back only its own claims
  (and expired ones), not those of the replicas still alive; every ``reclaim_interval`` it takes
  back claims whose lease expired (a dead replica): their running jobs are followed here, their
  half-done launches retried through a look-up.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ..launchers import LaunchError, extra_vars_for

log = logging.getLogger("stoa.receiver.dispatch")


def backoff(attempt: int, initial: float, cap: float, rng: random.Random = random) -> float:
    """Seconds before attempt ``attempt + 1``: min(cap, initial*2^(attempt-1)), half of it jittered."""
    base = min(cap, initial * (2 ** max(0, attempt - 1)))
    return base / 2 + rng.uniform(0, base / 2)


class Dispatcher:
    """One per process. ``run()`` loops until ``stop()``; ``wake()`` after enqueueing saves a poll delay."""

    def __init__(self, store, launcher, catalogue: dict, *, gitops_repo: str, dispatch_config, metrics=None,
                 poll_interval: float = 0.5):
        self.store, self.launcher, self.catalogue = store, launcher, catalogue
        self.gitops_repo, self.config, self.metrics = gitops_repo, dispatch_config, metrics
        self.poll_interval = poll_interval
        self.active: dict[int, dict] = {}       # request id -> row (launched, followed)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(8, launcher.capacity)), thread_name_prefix="launch")
        self.last_poll = 0.0
        self.last_reclaim = time.monotonic()
        # Expired leases are looked for this often (shared stores only): a dead replica's work resumes at most
        # lease_seconds + reclaim_interval after its last renewal.
        self.reclaim_interval = max(1.0, min(10.0, dispatch_config.lease_seconds / 4))
        self.healthy = True

    def wake(self) -> None:
        self._wake.set()

    def poll_now(self) -> None:
        """Polls the launched jobs at the next step (an AWX notification said one ended)."""
        self.last_poll = 0.0
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # -- start-up ------------------------------------------------------------------------------------
    def recover(self) -> None:
        """Requests a previous process left launching are retried through a lookup; running ones are followed.

        A shared store (replicas): only this replica's own claims and expired ones are taken back."""
        if getattr(self.store, "shared", False):
            self._adopt(self.store.reclaim_expired(self.config.lease_seconds, own=True), "restart")
            return
        for row in self.store.running():
            if row["state"] == "running" and row["external_id"]:
                self.active[row["id"]] = row
            else:
                log.info("launch interrupted by a restart: its launch id is looked up before any new attempt",
                         extra={"request_id": row["id"], "launch_id": row["launch_id"], "job": row["job"]})
                self.store.retry_later(row["id"], 0, "interrupted while launching (receiver restarted)")

    def reclaim(self) -> None:
        """Takes back claims whose lease expired (a dead replica); shared stores only."""
        self.last_reclaim = time.monotonic()
        self._adopt(self.store.reclaim_expired(self.config.lease_seconds), "lease expired")

    def _adopt(self, rows: list[dict], why: str) -> None:
        """Rows the store took back for this replica: running jobs are followed, half-done launches (already
        back to retrying in the store) are looked up at their next attempt."""
        for row in rows:
            if row["id"] in self.active:
                continue  # ours, renewed late: still followed
            if row["state"] == "running" and row["external_id"]:
                self.active[row["id"]] = row
                log.warning(f"job taken back ({why}): followed here", extra={
                    "request_id": row["id"], "job": row["job"], "external_id": row["external_id"],
                    "launch_id": row["launch_id"], "owner": row.get("owner")})
            else:
                log.warning(f"launch taken back ({why}): its launch id is looked up before any new attempt",
                            extra={"request_id": row["id"], "job": row["job"], "launch_id": row["launch_id"],
                                   "owner": row.get("owner")})

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        recovered = False
        while not self._stop.is_set():
            try:
                if not recovered:  # the store may be unreachable at start-up (a PostgreSQL restart): tried again
                    self.recover()
                    recovered = True
                self.step()
                self.healthy = True
            except Exception:  # the loop never dies: log, pause, go on
                self.healthy = False
                log.exception("dispatch step failed")
                self._stop.wait(1.0)
            self._wake.wait(self.poll_interval / 2)
            self._wake.clear()
        self._pool.shutdown(wait=True)

    def step(self) -> None:
        if getattr(self.store, "shared", False) and time.monotonic() - self.last_reclaim >= self.reclaim_interval:
            self.reclaim()
        free = self.launcher.capacity - len(self.active)
        if free > 0:
            claimed = self.store.claim(free, self.config.lease_seconds)
            if claimed:
                for row, launched in zip(claimed, self._pool.map(self._launch, claimed)):
                    if launched:
                        self.active[row["id"]] = row
        now = time.monotonic()
        if self.active and now - self.last_poll >= self.poll_interval:
            self.last_poll = now
            self._follow()

    def _launch(self, row: dict) -> bool:
        """One attempt for a claimed request; True when a job is (now known to be) running for it."""
        job = row["job"]
        try:
            if row["attempts"] > 1:
                found = self.launcher.find(row)
                if found:
                    return self._running(row, found, "found_existing")
            external_id = self.launcher.launch(row, extra_vars_for(row, self.catalogue, self.gitops_repo))
            return self._running(row, external_id, "launched")
        except LaunchError as error:
            if error.ambiguous:
                try:
                    found = self.launcher.find(row)
                except LaunchError:
                    found = None  # unknown: the next attempt looks again before launching
                if found:
                    return self._running(row, found, "found_existing")
            self._failed_attempt(row, error)
            return False
        except Exception as error:  # a bug or an unexpected answer: retried like an outage, never lost
            log.exception("launch failed unexpectedly", extra={"request_id": row["id"], "job": job})
            self._failed_attempt(row, LaunchError(f"unexpected: {type(error).__name__}: {error}", retryable=True))
            return False

    def _running(self, row: dict, external_id: str, outcome: str) -> bool:
        self.store.mark_running(row["id"], external_id, self.config.lease_seconds, launcher=self.launcher.name)
        row.update(state="running", external_id=external_id, launched_at=row.get("launched_at") or time.time())
        self._count(row["job"], outcome)
        log.info("job launched" if outcome == "launched" else "job of an earlier attempt found: not launched again",
                 extra={"request_id": row["id"], "job": row["job"], "trace_id": row["trace_id"],
                        "event_id": row["event_id"], "launch_id": row["launch_id"], "external_id": external_id,
                        "attempt": row["attempts"]})
        return True

    def _failed_attempt(self, row: dict, error: LaunchError) -> None:
        attempt = row["attempts"]
        if error.retryable and attempt < self.config.max_attempts:
            delay = backoff(attempt, self.config.backoff_initial, self.config.backoff_max)
            self.store.retry_later(row["id"], delay, str(error))
            self._count(row["job"], "retry")
            log.warning("launch failed, will retry", extra={"request_id": row["id"], "job": row["job"],
                                                            "attempt": attempt, "delay": round(delay, 2),
                                                            "reason": str(error)})
        else:
            why = str(error) if not error.retryable else f"{error} (after {attempt} attempts)"
            self.store.finish(row["id"], "dead", error=why, launcher=self.launcher.name)
            self._count(row["job"], "dead")
            log.error("launch dead-lettered", extra={"request_id": row["id"], "job": row["job"], "reason": why,
                                                     "trace_id": row["trace_id"]})

    def _follow(self) -> None:
        ids = {str(row["external_id"]): rid for rid, row in self.active.items()}
        try:
            statuses = self.launcher.poll(list(ids))
        except LaunchError as error:
            log.warning("polling jobs failed; will poll again", extra={"reason": str(error)})
            return
        still = []
        for external_id, status in statuses.items():
            request_id = ids.get(external_id)
            if request_id is None:
                continue
            row = self.active[request_id]
            if not status.finished:
                if time.time() - (row.get("launched_at") or time.time()) > self.config.job_timeout:
                    del self.active[request_id]
                    why = (f"job {external_id} still {status.state} after {self.config.job_timeout:g} s "
                           "(dispatch.job_timeout): no longer followed; check it, then replay if needed")
                    self.store.finish(request_id, "failed", status.result, error=why, launcher=self.launcher.name)
                    log.error("job timed out", extra={"request_id": request_id, "job": row["job"], "reason": why})
                    continue
                still.append(request_id)
                continue
            del self.active[request_id]
            if status.state == "lost":
                self.store.finish(request_id, "dead", status.result, error=status.result.get("error"),
                                  launcher=self.launcher.name)
            else:
                self.store.finish(request_id, "successful" if status.state == "successful" else "failed",
                                  status.result, error=None if status.state == "successful" else
                                  f"job {external_id} ended {status.state}", launcher=self.launcher.name)
            if self.metrics:
                self.metrics.finished.labels(row["job"], status.state).inc()
            log.info("job finished", extra={"request_id": request_id, "job": row["job"], "status": status.state,
                                            "external_id": external_id, "trace_id": row["trace_id"]})
        self.store.renew(still, self.config.lease_seconds)

    def _count(self, job: str, outcome: str) -> None:
        if self.metrics:
            self.metrics.launches.labels(job, outcome).inc()

    def drain(self, timeout: float) -> bool:
        """Tests and the demo: step until nothing waits or runs (True) or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.step()
            if not self.active and not self.store.queue_health()["queue_depth"]:
                return True
            time.sleep(0.05)
        return False
