"""What a crash and an AWX outage cost: acknowledged pushes lost and launched twice, stoa-receiver against
ansible-rulebook, measured in the same run.

    make bench-receiver-faults    (or: .venv/bin/python benchmarks/receiver_faults.py [--events 2000] [--no-rulebook])

The pushes are those of benchmarks/receiver_ingest.py (one API changed per commit of a generated GitOps
remote, so every acknowledged push must end in exactly one Deploy API job at its commit), sent by 8
keep-alive clients that, like GitLab, send a delivery again when it got no answer or a 5xx (after 50 ms,
to the next replica when there are several). Two faults:

1. **kill -9** (a crash: the process group, nothing stops cleanly) once a third of the pushes are
   acknowledged, then a restart after ``--down`` seconds:
   - ours, one receiver on SQLite, restarted;
   - ours, two replicas sharing the local PostgreSQL, the killed one not restarted (the other takes back
     its leases and finishes the work);
   - the peer, ansible-rulebook 1.3.2 (webhook source, run_job_template), restarted.
2. **AWX unavailable** (the simulator answers 503 to every request) for ``--outage`` seconds from the start of
   the load: ours (SQLite) and the peer.

For each run: acknowledged pushes, acks per second over the whole load (outage included), p99 ack latency,
client retries, and once the tool is idle: pushes lost (acknowledged, no job at their commit), commits
launched more than once, and ours' dead letters (requests that exceeded ``max_attempts``: listed by
``stoa-receiver dead-letters``, sent again by ``replay``; not lost, but not launched either).
This is a measurement, not a test (tests/receiver/test_receiver_faults.py asserts the same properties).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import receiver_ingest as bench  # noqa: E402  (the pushes, the clients, the simulator, the tools' launchers)

KILL_AT = 1 / 3  # of the pushes acknowledged


def outcome(sim: bench.AwxSim, shas: list[str], acked: dict[int, str | None], dead_refs: set[str] = frozenset()) -> dict:
    """Acknowledged pushes (delivery ``k`` ends at ``shas[k + 1]``) without a Deploy API job at their commit and
    not in ours' dead-letter list (``dead_refs``: kept, replayable), and commits launched more than once (by
    gitops_ref: both tools put the push's commit there)."""
    refs = Counter(json.loads(job.get("extra_vars") or "{}").get("gitops_ref")
                   for job in sim.all_jobs() if job.get("name") == "Deploy API")
    return {"lost": sum(1 for k in acked if refs[shas[k + 1]] == 0 and shas[k + 1] not in dead_refs),
            "twice": sum(n - 1 for n in refs.values() if n > 1), "jobs": sum(refs.values())}


def dead_refs(receivers: bench.Receivers) -> set[str]:
    done = bench.subprocess.run([str(bench.BIN / "stoa-receiver"), "--config", str(receivers.configs[0]),
                                 "dead-letters", "--json", "--limit", "1000000"], capture_output=True, text=True,
                                env=receivers.env, check=True)
    return {row["ref"] for row in json.loads(done.stdout)}


def retrying_load(urls: list[str], bodies: list[bytes], headers, clients: int, acked: dict | None = None) -> dict:
    """Every push sent, again on no answer or a 5xx: figures, acked_ids, retries."""
    result = bench.send_all(urls, bodies, headers, clients, {200, 202}, 600, retry=True, acked=acked)
    run = bench.figures(result)
    run.update(acked_ids=result["acked_ids"], retries=result["retries"])
    return run


def crash_load(bodies: list[bytes], clients: int, down: float, restart: bool):
    """A load during which the tool crashes once KILL_AT of the pushes are acknowledged (replica 0 of ours) and,
    with ``restart``, starts again ``down`` seconds later."""
    def load(urls, headers, kill, start) -> dict:
        acked: dict[int, str | None] = {}
        result: dict = {}
        sender = threading.Thread(target=lambda: result.update(retrying_load(urls, bodies, headers, clients, acked)))
        sender.start()
        while len(acked) < len(bodies) * KILL_AT and sender.is_alive():
            time.sleep(0.005)
        killed_after = len(acked)
        kill()
        if restart:
            time.sleep(down)
            start()
        sender.join()
        return dict(result, killed_after=killed_after)
    return load


def outage_load(bodies: list[bytes], clients: int, sim: bench.AwxSim, seconds: float):
    """A load that begins with AWX answering 503 for ``seconds``; returns once the outage is over."""
    def load(urls, headers, kill, start) -> dict:
        request = urllib.request.Request(sim.url + "/_sim/faults/error", method="POST",
                                         data=json.dumps({"status": 503, "seconds": seconds}).encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()
        run = retrying_load(urls, bodies, headers, clients)
        time.sleep(max(0.0, seconds - run["seconds"]))  # what is still queued meets AWX back
        return run
    return load


def ours(label: str, load, remote: Path, sim: bench.AwxSim, workdir: Path, shas: list[str], drain: float,
         replicas: int = 1, database: str | None = None) -> dict:
    """``load`` against stoa-receiver (``replicas`` of them), then what became of the acknowledged pushes."""
    sim.reset()
    receivers = bench.Receivers(remote, sim, workdir, replicas, database, label, dispatch={"lease_seconds": 5})
    try:
        receivers.start()
        run = load(receivers.urls, bench._gitlab_headers(label), lambda: receivers.kill9(0),  # noqa: SLF001
                   lambda: receivers.start(0))
        run.update(receivers.wait_idle(drain))  # `stoa-receiver status` reads the store, whoever is alive
        run.update(outcome(sim, shas, run["acked_ids"], dead_refs(receivers)))
        return run
    finally:
        receivers.close()


def peer(label: str, load, sim: bench.AwxSim, workdir: Path, shas: list[str], drain: float) -> dict:
    """``load`` against ansible-rulebook, then what became of the acknowledged pushes."""
    sim.reset()
    jobs_before = sim.jobs()
    rulebook = bench.Rulebook(sim, workdir)
    try:
        rulebook.start()
        run = load([rulebook.url], rulebook.headers(label), rulebook.kill9, rulebook.start)
        run["drain_seconds"] = rulebook.wait_jobs(run["acked"], jobs_before, drain)
        run.update(outcome(sim, shas, run["acked_ids"]), dead=0)
        return run
    finally:
        rulebook.close()


def line(label: str, f: dict) -> str:
    return (f"{label:50} {f['acked']:>6} {f['rate']:>7.0f} {f['p99']:>8.1f} {f['retries']:>7} {f['lost']:>5} "
            f"{f['twice']:>6} {f.get('dead', 0):>5} {f['drain_seconds']:>7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--down", type=float, default=2.0, help="seconds between a crash and the restart")
    parser.add_argument("--outage", type=float, default=20.0, help="seconds of AWX answering 503")
    parser.add_argument("--drain-bound", type=float, default=300.0,
                        help="seconds to wait for the launches that follow a load")
    parser.add_argument("--no-rulebook", action="store_true", help="skip the ansible-rulebook runs")
    parser.add_argument("--no-postgres", action="store_true", help="skip the two-replica PostgreSQL run")
    args = parser.parse_args()
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    database = None if args.no_postgres else bench.database_url()

    rows: list[tuple[str, dict]] = []
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        workdir = Path(tmp)
        remote, shas = bench.load_repo.build(workdir / "gitops", args.events, None)
        bodies = bench.push_bodies(shas)
        sim = bench.AwxSim(workdir)
        drain = args.drain_bound
        crash_restarted = crash_load(bodies, args.clients, args.down, restart=True)
        outage = outage_load(bodies, args.clients, sim, args.outage)
        try:
            rows.append(("kill -9: ours, SQLite, restarted",
                         ours("crash", crash_restarted, remote, sim, workdir, shas, drain)))
            if database:
                rows.append(("kill -9: ours, 1 of 2 replicas, PostgreSQL",
                             ours("crashpg", crash_load(bodies, args.clients, args.down, restart=False), remote,
                                  sim, workdir, shas, drain, replicas=2, database=database)))
            if not args.no_rulebook:
                rows.append((f"kill -9: peer, ansible-rulebook {bench.RULEBOOK_VERSION}, restarted",
                             peer("peercrash", crash_restarted, sim, workdir, shas, drain)))
            rows.append((f"AWX 503 for {args.outage:g} s: ours, SQLite",
                         ours("outage", outage, remote, sim, workdir, shas, drain + args.outage)))
            if not args.no_rulebook:
                rows.append((f"AWX 503 for {args.outage:g} s: peer",
                             peer("peeroutage", outage, sim, workdir, shas, drain)))
        finally:
            sim.close()

    print(f"\n{args.events} GitLab push deliveries per run, {args.clients} clients retrying (50 ms) on no answer or "
          f"5xx, 127.0.0.1, {os.cpu_count()} CPUs (load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} "
          f"after); crash after {KILL_AT:.0%} acknowledged, restart {args.down:g} s later\n")
    print(f"{'':50} {'acked':>6} {'acks/s':>7} {'p99 ms':>8} {'retries':>7} {'lost':>5} {'twice':>6} {'dead':>5} "
          f"{'drain s':>7}")
    for label, f in rows:
        print(line(label, f))
    print("\nlost: acknowledged pushes without a Deploy API job at their commit once the tool was idle; twice: "
          "commits launched more than once; dead: ours' dead letters (replayable, not lost)")
    for label, f in rows:
        if f.get("killed_after") is not None:
            print(f"  {label}: killed after {f['killed_after']} acknowledgements")
    print(f"run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
