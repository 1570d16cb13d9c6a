"""``stoa-receiver``: serve, and the operators' verbs.

  stoa-receiver serve        [--config FILE]   run the receiver (HTTP, routing, dispatch)
  stoa-receiver check-config [--config FILE]   configuration, rules and launcher checked; exit 1 on a problem
  stoa-receiver status       [--config FILE]   queue, dead letters, events by status, readiness
  stoa-receiver events       [--config FILE] [EVENT_ID] [--limit N] [--status S]   what happened and why
  stoa-receiver dead-letters [--config FILE]   the job requests that exhausted their retries
  stoa-receiver replay       [--config FILE] EVENT_ID|REQUEST_ID   ask again for an event's jobs or a dead letter

The configuration file is ``--config``, else ``$STOA_RECEIVER_CONFIG``, else ``receiver.yml``.
The read verbs open the store directly, so they work while the receiver is stopped.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

from . import config as config_module
from .observability import logs


def _load(args, resolve_secrets: bool = True):
    path = args.config or os.environ.get("STOA_RECEIVER_CONFIG") or "receiver.yml"
    return config_module.load(path, resolve_secrets=resolve_secrets)


def _store(cfg):
    from .store import SqliteStore, StoreUnavailable, open_store

    if cfg.store_url is not None:
        try:
            return open_store(cfg)
        except StoreUnavailable as exc:
            raise SystemExit(f"the receiver's PostgreSQL store cannot be opened: {exc}") from None
    if not cfg.database.exists():
        raise SystemExit(f"no receiver store at {cfg.database} (has the receiver run with this configuration?)")
    return SqliteStore(cfg.database)


def _when(seconds) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"


def cmd_serve(args) -> int:
    cfg = _load(args)
    role = args.role or "ingest"
    if role in ("ingest", "worker"):
        # Two processes share their counters through files (prometheus_client's multiprocess mode); the
        # variable must be set before prometheus_client is imported, and the folder emptied at each start.
        metrics_dir = cfg.state_dir / "metrics"
        if role == "ingest":
            import shutil

            shutil.rmtree(metrics_dir, ignore_errors=True)
        try:
            metrics_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"stoa-receiver: not started: state_dir {cfg.state_dir}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    from .service import AlreadyRunning, Service

    logs.configure(cfg.log_level, cfg.secrets())
    if role != "worker":
        problems = preflight(cfg)
        if problems:
            for problem in problems:
                print(f"stoa-receiver: {problem}", file=sys.stderr)
            print("stoa-receiver: not started: fix the problems above (stoa-receiver check-config)", file=sys.stderr)
            return 1
    try:
        service = Service(cfg, role=role)
    except OSError as exc:
        print(f"stoa-receiver: not started: {cfg.path}: state_dir {cfg.state_dir}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    worker = [sys.executable, "-m", "webhook_receiver.cli", "--config", str(Path(cfg.path).resolve()), "serve",
              "--role", "worker"]
    try:
        service.serve(worker_command=worker)
    except AlreadyRunning as exc:
        print(f"stoa-receiver: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"stoa-receiver: not started: cannot listen on {cfg.host}:{cfg.port} (listen.host, listen.port): "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def preflight(cfg) -> list[str]:
    """What would lose work, found before anything starts: templates that drop variables, missing playbooks."""
    from . import launchers
    from .routing.rules import load_jobs, load_rules
    from .service import jobs_in_use

    launcher = launchers.build(cfg)
    try:
        return launcher.check(jobs_in_use(cfg, load_rules(cfg.rules_file, load_jobs())))
    finally:
        launcher.close()


def cmd_check_config(args) -> int:
    from .routing.rules import load_jobs, load_rules
    from . import launchers

    cfg = _load(args)
    from .service import jobs_in_use

    rules = load_rules(cfg.rules_file, load_jobs())
    launcher = launchers.build(cfg)
    jobs = jobs_in_use(cfg, rules)
    problems = preflight(cfg)
    from .routing.mirror import GitMirror

    reachable = GitMirror(cfg.gitops_repository, cfg.mirror_dir).reachable()
    if reachable is not True:
        problems.append(f"gitops.repository {cfg.gitops_repository}: {reachable} (deliveries would be stored, "
                        "but nothing routed until it is reachable)")
    try:
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problems.append(f"state_dir {cfg.state_dir}: cannot be created: {exc.strerror or exc}")
    print(f"configuration {cfg.path}: ok; {len(rules)} rules from {cfg.rules_file}; launcher {launcher.name}; "
          f"auto environments {', '.join(cfg.auto_environments)}")
    for problem in problems:
        print(f"problem: {problem}")
    if not problems:
        print(f"launcher: the {len(jobs)} jobs the rules can request ({', '.join(jobs)}) can be launched")
    return 1 if problems else 0


def cmd_status(args) -> int:
    cfg = _load(args, resolve_secrets=False)
    store = _store(cfg)
    stats = store.stats()
    ready = "not running"
    try:
        with urllib.request.urlopen(f"http://{cfg.host}:{cfg.port}/readyz", timeout=2) as answer:
            ready = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        ready = json.loads(exc.read() or b"{}") or f"HTTP {exc.code}"
    except OSError:
        pass
    if args.json:
        print(json.dumps({"stats": stats, "service": ready}, indent=2))
        return 0
    print(f"service:          {ready if isinstance(ready, str) else ('ready' if ready.get('ready') else 'NOT ready') + ' ' + json.dumps(ready)}")
    print(f"events:           {', '.join(f'{k} {v}' for k, v in sorted(stats['events'].items())) or 'none'}")
    print(f"job requests:     {', '.join(f'{k} {v}' for k, v in sorted(stats['requests'].items())) or 'none'}")
    print(f"queue depth:      {stats['queue_depth']} (oldest waiting {stats['oldest_waiting_seconds']:.1f} s)")
    print(f"unrouted events:  oldest {stats['oldest_unrouted_seconds']:.1f} s")
    print(f"dead letters:     {stats['dead_letters']}" + ("  (stoa-receiver dead-letters)" if stats["dead_letters"] else ""))
    store.close()
    return 0


def _print_event(event: dict) -> None:
    summary = event.get("summary") or {}
    print(f"{event['id']}  {event['kind']}  {event.get('ref') or ''}  {event['status']}  trace {event['trace_id']}"
          f"  received {_when(event['received_at'])}  deliveries {event.get('deliveries', 1)}")
    if event.get("before_sha") or event.get("after_sha"):
        print(f"  {(event.get('before_sha') or '')[:12]}..{(event.get('after_sha') or '')[:12]}"
              f"  by {summary.get('user') or '?'}  commits {summary.get('commits', '?')}  {summary.get('message') or ''}")
    decision = event.get("decision") or {}
    if event.get("reason"):
        print(f"  reason: {event['reason']}")
    if decision:
        print(f"  routing: {decision.get('mode')}, {decision.get('paths_changed', 0)} changed path(s)")
        for request in decision.get("requests", []):
            paths = ", ".join(request.get("paths") or [])
            more = request.get("path_count", 0) - len(request.get("paths") or [])
            print(f"  -> {request['job']} {request.get('tenant') or ''}/{request.get('api') or ''} "
                  f"{request.get('environment') or ''} @ {(request.get('ref') or '')[:12]}: request "
                  f"{request.get('request_id')} {request.get('how')} (rule {request['rule']}: {paths}"
                  f"{f' and {more} more' if more > 0 else ''})")
        for entry in decision.get("not_launched", []):
            print(f"  -- not launched: {entry.get('reason')} ({entry.get('rule', '')} {entry.get('path', entry.get('key', ''))})")
    for request in event.get("requests", []):
        print(f"  request {request['id']} {request['job']} {request['key']}: {request['state']}"
              f" (attempts {request['attempts']}, job {request['external_id'] or '-'}, {request['how']})"
              + (f" error: {request['last_error']}" if request.get("last_error") else ""))


def cmd_events(args) -> int:
    cfg = _load(args, resolve_secrets=False)
    store = _store(cfg)
    if args.event_id:
        event = store.event(args.event_id)
        if not event:
            print(f"no event {args.event_id}", file=sys.stderr)
            return 1
        event.pop("body", None)
        if args.json:
            print(json.dumps(event, indent=2, default=str))
        else:
            _print_event(event)
        return 0
    events = store.list_events(args.limit, args.status)
    if args.json:
        print(json.dumps(events, indent=2, default=str))
        return 0
    for event in events:
        _print_event(event)
    return 0


def cmd_dead_letters(args) -> int:
    cfg = _load(args, resolve_secrets=False)
    store = _store(cfg)
    rows = store.list_requests("dead", args.limit)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("no dead letters")
    for row in rows:
        print(f"request {row['id']}  {row['job']} {row['key']} @ {(row['ref'] or '')[:12]}  attempts {row['attempts']}"
              f"  event {row['event_id']}  trace {row['trace_id']}\n  error: {row['last_error']}\n"
              f"  replay: stoa-receiver replay {row['id']}")
    return 0


def cmd_replay(args) -> int:
    cfg = _load(args, resolve_secrets=False)
    store = _store(cfg)
    target = args.target
    if target.isdigit():
        request = store.request(int(target))
        if not request:
            print(f"no job request {target}", file=sys.stderr)
            return 1
        request_id, how = store.requeue(int(target), request["event_id"])
        print(f"request {target} ({request['job']} {request['key']}) asked again: request {request_id} ({how})")
        return 0
    event = store.event(target)
    if not event:
        print(f"no event {target}", file=sys.stderr)
        return 1
    if event["status"] == "routed" and event["requests"]:
        for request in {r["id"]: r for r in event["requests"]}.values():
            request_id, how = store.requeue(request["id"], target)
            print(f"{request['job']} {request['key']}: asked again as request {request_id} ({how})")
        return 0
    if event["status"] == "accepted":
        print(f"{target} is not routed yet: the receiver routes it when it runs")
        return 0
    if event.get("body") is None:
        print(f"{target} was {event['status']} ({event.get('reason')}): nothing to replay", file=sys.stderr)
        return 1
    store.write(lambda conn: conn.execute("UPDATE events SET status = 'accepted', decision = NULL WHERE id = ?",
                                          (target,)))
    print(f"{target} will be routed again (it was {event['status']}: {event.get('reason')})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stoa-receiver", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="configuration file (default $STOA_RECEIVER_CONFIG or receiver.yml)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    for name, fn in (("serve", cmd_serve), ("check-config", cmd_check_config), ("status", cmd_status),
                     ("events", cmd_events), ("dead-letters", cmd_dead_letters), ("replay", cmd_replay)):
        sub = verbs.add_parser(name)
        sub.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
        sub.set_defaults(fn=fn)
        if name in ("status", "events", "dead-letters"):
            sub.add_argument("--json", action="store_true", help="JSON output")
        if name in ("events", "dead-letters"):
            sub.add_argument("--limit", type=int, default=50)
        if name == "events":
            sub.add_argument("event_id", nargs="?")
            sub.add_argument("--status", choices=["accepted", "routed", "ignored"])
        if name == "replay":
            sub.add_argument("target", metavar="EVENT_ID|REQUEST_ID")
        if name == "serve":
            sub.add_argument("--role", choices=["ingest", "worker", "all"], help=argparse.SUPPRESS)
    for stream in (sys.stdout, sys.stderr):  # stored payload text may hold anything (lone surrogates...)
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = parser.parse_args(argv)
    args.config = getattr(args, "config_sub", None) or args.config
    try:
        return args.fn(args)
    except (config_module.ConfigError, ValueError) as exc:
        print(f"stoa-receiver: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
