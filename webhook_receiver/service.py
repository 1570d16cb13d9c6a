"""One receiver process: the HTTP ingest, the router thread and the dispatcher thread over one store.

``Service(config)`` builds everything; ``serve()`` runs until SIGTERM/SIGINT. Tests use
``start_in_thread()`` to run a real server on a free port and ``stop()`` to end it.
"""
from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import threading
import time

from aiohttp import web

try:
    import uvloop
except ImportError:  # pragma: no cover - a pinned dependency; the receiver still runs on asyncio's loop
    uvloop = None

from . import launchers
from .dispatch.dispatcher import Dispatcher
from .ingest.auth import Authenticator
from .ingest.http import GitLabIngest, make_app, notification_view
from .observability.metrics import Metrics
from .routing.mirror import ZERO_SHA, GitMirror, MirrorError
from .routing.router import Router
from .routing.rules import load_jobs, load_rules
from .store import open_store

log = logging.getLogger("stoa.receiver")
ROUTE_BATCH = 200
MAX_ROUTE_ATTEMPTS = 3  # an event that cannot be routed precisely this often becomes a full reconcile
KAFKA_LATE_SECONDS = 5.0  # an outbox message older than this: Kafka is reported "retrying" in /readyz
WORKER_SILENT_SECONDS = 5.0  # no worker heartbeat for this long: /readyz answers 503
# The worker's CPU priority (nice 19: it runs on the time acknowledgements leave; measured 1,161 acks/s at
# nice 5 and 1,859 at 19, same benchmark). Its store writer never holds the write lock long (one decision
# or one claim per transaction), so the ingest process does not wait behind a starved worker for long.
WORKER_NICENESS = 19


def jobs_in_use(config, rules) -> list[str]:
    """Jobs the receiver can request: the rules', a full reconcile's, and the Kafka requests' when consumed."""
    jobs = {rule.job for rule in rules} | {"full_deploy", "iam_sync", "promote"}
    if config.kafka_bootstrap_servers and config.kafka_consume_requests:
        jobs |= {"deploy_api", "promote", "rollback", "delete_api", "sync_gateway"}
    return sorted(jobs)


class AlreadyRunning(RuntimeError):
    """Another receiver process holds this state directory (SQLite has one writer process)."""


class Service:
    """Everything of one receiver. ``launcher`` and ``auth_clock`` may be injected by tests."""

    def __init__(self, config, launcher=None, auth_clock=time.time, role: str = "all"):
        """``role``: ``all`` (one process: tests, small set-ups), ``ingest`` (HTTP and the store only) or
        ``worker`` (routing, dispatch, Kafka; no HTTP). ``stoa-receiver serve`` runs an ingest process and
        supervises one worker process, so that routing and AWX polling never hold the interpreter lock that
        the acknowledgements need."""
        self.config, self.role = config, role
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = None
        self.catalogue = load_jobs()
        self.rules = load_rules(config.rules_file, self.catalogue)
        self.store = open_store(config, outbox=bool(config.kafka_bootstrap_servers), role=role)
        self.metrics = Metrics(self.store)
        self.authenticator = Authenticator([s.value for s in config.gitlab.secret_tokens],
                                           [s.value for s in config.gitlab.signing_tokens],
                                           window=config.gitlab.replay_window, clock=auth_clock)
        self.mirror = self.router = self.launcher = self.dispatcher = self.publisher = self.consumer = None
        if role != "ingest":
            self._build_worker(launcher)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loop = None
        self._runner = None
        self.url = None
        self.router_healthy = True

    def _build_worker(self, launcher) -> None:
        config = self.config
        self.mirror = GitMirror(config.gitops_repository, config.mirror_dir)
        self.router = Router(self.store, self.mirror, self.rules, project=config.gitlab.project,
                             branch=config.gitlab.branch, auto_environments=config.auto_environments,
                             prune_on_removal=config.prune_on_removal, gap_grace=config.gap_grace)
        self.launcher = launcher or launchers.build(config)
        poll = config.awx.poll_interval if (config.launcher == "awx" and config.awx) else 0.5
        self.dispatcher = Dispatcher(self.store, self.launcher, self.catalogue, gitops_repo=config.gitops_repository,
                                     dispatch_config=config.dispatch, metrics=self.metrics, poll_interval=poll)
        if config.kafka_bootstrap_servers:
            from .messaging.publisher import OutboxPublisher

            self.publisher = OutboxPublisher(self.store, config.kafka_bootstrap_servers, self.metrics)
        if config.kafka_bootstrap_servers and config.kafka_consume_requests:
            from .messaging.consumer import RequestConsumer

            self.consumer = RequestConsumer(self.store, config.kafka_bootstrap_servers, config.kafka_requests_topic,
                                            config.kafka_dead_letter_topic, config.kafka_group_id, self.metrics,
                                            on_stored=self.router.wake.set,
                                            session_timeout=config.kafka_session_timeout)

    # -- checks ----------------------------------------------------------------------------------------
    def jobs_in_use(self) -> list[str]:
        return jobs_in_use(self.config, self.rules)

    def check(self) -> list[str]:
        """Problems that would lose work: templates that drop variables, missing playbooks."""
        return self.launcher.check(self.jobs_in_use())

    def _take_lock(self) -> None:
        name = "worker.lock" if self.role == "worker" else "receiver.lock"
        self._lock_file = open(self.config.state_dir / name, "a+")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise AlreadyRunning(f"another stoa-receiver {'worker ' if self.role == 'worker' else ''}uses "
                                 f"{self.config.state_dir}") from None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()

    # -- the router thread ------------------------------------------------------------------------------
    def route_pending(self) -> int:
        """Routes stored events in arrival order; returns how many were routed. Stops at the first that fails.

        One router at a time per store: with replicas (PostgreSQL), only the one holding the routing lock routes;
        the others route nothing until they get it (the holder died)."""
        if not self.store.routing_lock():
            return 0
        events = self.store.pending_events(ROUTE_BATCH)
        if not events:
            return 0
        routed_ref = f"refs/heads/{self.config.gitlab.branch}"
        if any(e["source"] == "kafka" or (e["kind"] == "push" and e["ref"] == routed_ref
                                          and e["after_sha"] != ZERO_SHA) for e in events):
            # One fetch per batch: the mirror must know the branch as the pushes left it (a force push back to an
            # older commit adds no commit, but moves the branch), and requests without a ref use its tip.
            self.mirror.fetch()
        done = 0
        for event in events:
            try:
                decision = self.router.decide(event)
            except MirrorError as exc:
                self.store.routing_failed(event["id"], str(exc)).result()
                self.metrics.routing_errors.inc()
                raise
            except Exception as exc:  # a rule or a file the router cannot read: retried, then a full reconcile
                log.exception("routing failed", extra={"event_id": event["id"], "trace_id": event["trace_id"]})
                self.metrics.routing_errors.inc()
                why = f"{type(exc).__name__}: {exc}"
                if event["route_attempts"] + 1 < MAX_ROUTE_ATTEMPTS:
                    self.store.routing_failed(event["id"], why).result()
                    raise
                try:
                    decision = self.router._full(event, event["after_sha"] or self.router._branch_tip(),  # noqa: SLF001
                                                 f"routing failed ({why}): reconciling everything instead")
                except Exception as again:  # not even a full reconcile: the event is set aside, the rest flows
                    reason = f"routing failed ({why}), and so did a full reconcile ({type(again).__name__}: {again})"
                    self.store.record_routing(event["id"], "failed", {"mode": "none", "reason": reason}, [],
                                              event["trace_id"], None, reason=reason[:1000]).result()
                    self.metrics.routed.labels("failed").inc()
                    log.error("event set aside: stoa-receiver replay re-routes it once fixed",
                              extra={"event_id": event["id"], "trace_id": event["trace_id"], "reason": reason})
                    done += 1
                    continue
            if decision.status == "deferred":
                continue  # routed on a later pass, once the push it follows has arrived (or the grace ran out)
            branch = ((self.config.gitlab.project, event["ref"], decision.branch_head, decision.reconciled,
                       decision.base) if decision.branch_head else None)
            outcome = self.store.record_routing(event["id"], decision.status, decision.as_record(), decision.requests,
                                                event["trace_id"], branch, reason=decision.reason).result()
            self.metrics.routed.labels(decision.mode).inc()
            for request, (_rid, how) in zip(decision.requests, outcome):
                self.metrics.requests.labels(request.job, how).inc()
            log.info("event routed", extra={"event_id": event["id"], "trace_id": event["trace_id"],
                                            "mode": decision.mode, "status": decision.status,
                                            "requests": [f"{r.key}:{how}" for r, (_i, how) in
                                                         zip(decision.requests, outcome)],
                                            "reason": decision.reason})
            done += 1
            if decision.requests:
                self.dispatcher.wake()
        return done

    def _route_loop(self) -> None:
        pause = 0.5
        while not self._stop.is_set():
            try:
                routed = self.route_pending()
                self.router_healthy, pause = True, 0.5
            except Exception as exc:
                self.router_healthy = False
                log.warning("routing paused; will retry", extra={"reason": str(exc), "delay": pause})
                self._stop.wait(pause)
                pause = min(pause * 2, 30.0)
                continue
            if not routed:
                # The worker process is not woken by the ingest process: it looks for new events every 50 ms.
                self.router.wake.wait(1.0 if self.role == "all" else 0.05)
                self.router.wake.clear()

    # -- readiness -------------------------------------------------------------------------------------
    def health(self) -> tuple[bool, dict]:
        """This process's routing, dispatch and Kafka health (the worker's part of /readyz)."""
        stats = self.store.queue_health()
        ok = self.router_healthy and self.dispatcher.healthy
        details = {"router": "ok" if self.router_healthy else "retrying", "dispatcher":
                   "ok" if self.dispatcher.healthy else "retrying", "queue_depth": stats["queue_depth"],
                   "dead_letters": stats["dead_letters"], "launcher": self.launcher.name}
        if self.publisher is not None:  # a Kafka outage delays results: reported, but the receiver stays ready
            late = stats["oldest_unpublished_seconds"] > KAFKA_LATE_SECONDS
            details.update(kafka="retrying" if late or not self.publisher.healthy else "ok",
                           outbox_pending=stats["outbox_pending"])
        if self.consumer is not None:
            details["consumer"] = "ok" if self.consumer.healthy else "retrying"
        return ok, details

    def ready(self) -> tuple[bool, dict]:
        try:
            if self.role == "all":
                return self.health()
            beat = self.store.heartbeat_of("worker")
        except Exception as exc:
            return False, {"store": f"unreadable: {type(exc).__name__}"}
        if beat is None or time.time() - beat["at"] > WORKER_SILENT_SECONDS:
            return False, {"worker": "not running" if beat is None else
                           f"silent for {time.time() - beat['at']:.0f} s (restarting?)"}
        return beat["ok"], dict(beat["details"], worker="ok")

    def _heartbeat_loop(self) -> None:
        """Worker: reports health every 0.5 s, and polls AWX at once when the ingest process was notified."""
        seen = time.time()
        while not self._stop.is_set():
            try:
                ok, details = self.health()
                self.store.heartbeat("worker", ok, details)
                poke = self.store.poke_at("poll")
                if poke and poke > seen:
                    seen = poke
                    self.dispatcher.poll_now()
            except Exception:
                log.exception("heartbeat failed")
            self._stop.wait(0.1 if self.dispatcher.active else 0.5)

    # -- running ----------------------------------------------------------------------------------------
    def _background(self, dispatch: bool) -> None:
        loops = [("router", self._route_loop)] + ([("dispatcher", self.dispatcher.run)] if dispatch else [])
        if self.role == "worker":
            loops.append(("heartbeat", self._heartbeat_loop))
        if self.publisher is not None:
            loops.append(("publisher", self.publisher.run))
        if self.consumer is not None:
            loops.append(("consumer", self.consumer.run))
        for name, target in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    async def _start_http(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        ingest = GitLabIngest(self.store, self.authenticator, self.config.gitlab, self.metrics,
                              on_stored=self.router.wake.set if self.router else None)
        awx = self.config.awx if self.config.launcher == "awx" else None
        poll_now = self.dispatcher.poll_now if self.dispatcher else (lambda: self.store.poke("poll"))
        notification = (notification_view(awx.notification_token.value, poll_now)
                        if awx and awx.notification_token else None)
        app = make_app(ingest, self.metrics, self.ready, notification)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=1024)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        self._loop = loop

    def start_in_thread(self, host: str | None = None, port: int | None = None, dispatch: bool = True) -> str:
        """Starts HTTP (own event loop thread) and, unless this is the ingest process, routing and dispatch;
        returns the base URL. ``dispatch=False`` leaves the queue alone (tests of routing read it)."""
        self._take_lock()
        if self.role != "ingest":
            self._ensure_mirror()
        started = threading.Event()
        failure: list[BaseException] = []

        def run():
            # uvloop (libuv) where installed: about a third less CPU per request than asyncio's own loop.
            loop = uvloop.new_event_loop() if uvloop else asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_http(host or self.config.host,
                                                         self.config.port if port is None else port))
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        thread = threading.Thread(target=run, name="http", daemon=True)
        thread.start()
        started.wait(30)
        if failure:
            self._lock_file.close()
            raise failure[0]
        self._threads.append(thread)
        if self.role != "ingest":
            self._background(dispatch)
        return self.url

    def start_worker(self) -> None:
        """The worker process: routing, dispatch, Kafka, heartbeat; no HTTP."""
        self._take_lock()
        self._ensure_mirror()
        self._background(dispatch=True)

    def _ensure_mirror(self) -> None:
        try:
            self.mirror.ensure()
        except MirrorError as exc:  # deliveries are still stored; routing retries until the repository answers
            log.warning("the GitOps repository cannot be mirrored yet; routing will retry",
                        extra={"reason": str(exc)})

    def close(self) -> None:
        """Releases what ``__init__`` opened, for a service that was never started."""
        if self.launcher:
            self.launcher.close()
        self.store.close()

    def stop(self) -> None:
        self._stop.set()
        if self.router:
            self.router.wake.set()
        if self.dispatcher:
            self.dispatcher.stop()
        if self.publisher is not None:
            self.publisher.stop()
        if self.consumer is not None:
            self.consumer.stop()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        for thread in self._threads:
            thread.join(15)
        if self.launcher:
            self.launcher.close()
        self.store.close()
        if self._lock_file:
            self._lock_file.close()

    def serve(self, worker_command: list[str] | None = None) -> None:
        """Runs until SIGTERM or SIGINT, then stops cleanly. The ingest process supervises its worker process
        (``worker_command``), restarting it when it exits; a worker dies with its ingest process."""
        import signal

        stopping = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.set())
        if self.role == "worker":
            _die_with_parent()
            # Acknowledging is the receiver's promise to GitLab (10 s, then the hook is disabled); routing can lag
            # a little under a burst. The scheduler is told so: the worker yields the CPU to the ingest process.
            os.nice(WORKER_NICENESS)
            self.start_worker()
            log.info(f"stoa-receiver worker started (launcher {self.launcher.name})")
            stopping.wait()
            log.info("worker stopping")
            self.stop()
            return
        url = self.start_in_thread()
        supervisor = WorkerSupervisor(worker_command) if self.role == "ingest" and worker_command else None
        if supervisor:
            supervisor.start()
        log.info(f"stoa-receiver listening on {url}/hooks/gitlab")
        stopping.wait()
        log.info("stopping")
        if supervisor:
            supervisor.stop()
        self.stop()


class WorkerSupervisor:
    """Runs the worker process, and runs it again (after 1 s, doubling up to 30 s) whenever it exits."""

    def __init__(self, command: list[str]):
        self.command, self.process = command, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        import subprocess

        pause = 1.0
        while not self._stop.is_set():
            started = time.monotonic()
            self.process = subprocess.Popen(self.command)
            code = self.process.wait()
            if self._stop.is_set():
                return
            pause = 1.0 if time.monotonic() - started > 60 else min(pause * 2, 30.0)
            log.error("the worker process exited; starting it again", extra={"status": code, "delay": pause})
            self._stop.wait(pause)

    def stop(self) -> None:
        self._stop.set()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except Exception:  # noqa: BLE001 - it would not stop: end it
                self.process.kill()
        self._thread.join(5)


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM when its ingest process dies (even by kill -9), never runs orphaned."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() == 1:  # the parent was already gone
        os.kill(os.getpid(), signal.SIGTERM)
