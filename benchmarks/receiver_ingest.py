"""GitLab push deliveries acknowledged per second and ack latency: stoa-receiver against ansible-rulebook.

    make bench-receiver       (or: .venv/bin/python benchmarks/receiver_ingest.py [--events 4000] [--no-rulebook])

Measured in the same run, on 127.0.0.1, with the same N GitLab push bodies
(shared/gitlab/push_hook.json for project platform/stoa-gitops, id 4242, pushes
``shas[i-1] -> shas[i]`` of a GitOps remote built by tests/receiver/load_repo.py, one API
changed per commit), sent by 8 concurrent keep-alive clients (one asyncio aiohttp
client, each event sent once with its own Idempotency-Key):

- the load generator alone, against a trivial aiohttp endpoint in its own process:
  its ceiling, so that it is known not to be what limits the others;
- ours: ``stoa-receiver serve`` (a subprocess) with the AWX launcher. A 202 means the
  event is fsync'd in SQLite; routing and launching run meanwhile in the same process.
  Once it is idle: the events it stored (``stoa-receiver status --json``) and the AWX
  jobs it launched (the simulator's ``/_sim/counters``);
- the peer: ansible-rulebook 1.3.2, ``eda.builtin.webhook`` source and
  ``run_job_template``, tuned as in shared/infra/06-eda-peer.md (parallel, -m 200,
  job template refresh 0.5 s). Its 200 means "put on an in-memory queue". It runs from its
  own virtualenv, .stoa/bench/rulebook-venv, created here on first use (PyPI), with a
  JDK 17+ from ``java`` on PATH.

Both launch AWX jobs against the AWX simulator (stoa-awx-sim, its own process, jobs
finishing at once). This is a measurement, not a test: it asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "receiver"))
import load_repo  # noqa: E402

BIN = Path(sys.executable).parent
PUSH_HOOK = ROOT.parent / "shared" / "gitlab" / "push_hook.json"
PROJECT, PROJECT_ID = "platform/stoa-gitops", 4242
GITLAB_TOKEN, AWX_TOKEN = "bench-gitlab-token", "bench-awx-token"
RULEBOOK_VENV = ROOT / ".stoa" / "bench" / "rulebook-venv"
RULEBOOK_VERSION = "1.3.2"       # measured in shared/infra/06-eda-peer.md
ANSIBLE_CORE = "2.19.14"         # the project's pin; ansible-rulebook needs it without declaring it
RULEBOOK_MAX_ACTIONS = 200       # the peer note's tuned configuration
RULEBOOK_REFRESH = "0.5"
TARGET_RATE, TARGET_P99_MS = 2000, 50
REQUEST_TIMEOUT = 30.0           # seconds one delivery may take before it counts as an error


# -- helpers ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url: str, timeout: float = 10) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def wait_until(check, timeout: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            sys.exit(f"{what}: the process ended (exit {process.returncode})\n{tail}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"{what}: not ready within {timeout:.0f} s")


def stop(process: subprocess.Popen, sig=signal.SIGTERM, grace: float = 20) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def push_bodies(shas: list[str]) -> list[bytes]:
    template = json.loads(PUSH_HOOK.read_text())
    template["project"].update(id=PROJECT_ID, path_with_namespace=PROJECT, name="stoa-gitops",
                               default_branch="main")
    bodies = []
    for i in range(1, len(shas)):
        body = dict(template, before=shas[i - 1], after=shas[i], checkout_sha=shas[i], ref="refs/heads/main",
                    project_id=PROJECT_ID)
        # GitLab's two documented commits, the newest being this push's (the receiver reads the diff, not these).
        body["commits"] = [*template["commits"][:-1], dict(template["commits"][-1], id=shas[i])]
        bodies.append(json.dumps(body).encode())
    return bodies


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# -- the load generator ----------------------------------------------------------------------------
async def _send_all(url: str, bodies: list[bytes], headers, clients: int, expected: int, deadline: float) -> dict:
    import aiohttp

    latencies: list[float] = []
    errors: Counter = Counter()
    cursor = iter(range(len(bodies)))
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def client():
            for i in cursor:
                if time.monotonic() > deadline:
                    errors["not sent (time bound)"] += 1
                    continue
                began = time.perf_counter()
                try:
                    async with session.post(url, data=bodies[i], headers=headers(i)) as answer:
                        await answer.read()
                        status = answer.status
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    errors[type(exc).__name__] += 1
                    continue
                if status == expected:
                    latencies.append(time.perf_counter() - began)
                else:
                    errors[f"HTTP {status}"] += 1

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        seconds = time.perf_counter() - began
    return {"seconds": seconds, "latencies": latencies, "errors": errors, "sent": len(bodies)}


def send_all(url: str, bodies: list[bytes], headers, clients: int, expected: int, time_bound: float) -> dict:
    return asyncio.run(_send_all(url, bodies, headers, clients, expected, time.monotonic() + time_bound))


def figures(run: dict) -> dict:
    lat = run["latencies"]
    return {"rate": len(lat) / run["seconds"] if run["seconds"] else 0.0, "acked": len(lat),
            "p50": percentile(lat, 0.50) * 1000, "p99": percentile(lat, 0.99) * 1000,
            "max": (max(lat) if lat else float("nan")) * 1000, "errors": sum(run["errors"].values()),
            "error_kinds": dict(run["errors"]), "seconds": run["seconds"]}


TRIVIAL_SERVER = """
import sys
from aiohttp import web
async def hook(request):
    await request.read()
    return web.json_response({"event_id": "ev", "trace_id": "tr", "status": "accepted"}, status=202)
app = web.Application(client_max_size=32 * 1024 * 1024)
app.router.add_post("/hooks/gitlab", hook)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def measure_generator(bodies: list[bytes], clients: int, workdir: Path, time_bound: float) -> dict:
    port = free_port()
    log = workdir / "trivial.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-c", TRIVIAL_SERVER, str(port)], stdout=out, stderr=out)
    try:
        wait_until(lambda: socket.create_connection(("127.0.0.1", port), 1).close() is None, 30,
                   "trivial endpoint", server, log)
        headers = _gitlab_headers("gen")
        return figures(send_all(f"http://127.0.0.1:{port}/hooks/gitlab", bodies, headers, clients, 202, time_bound))
    finally:
        stop(server)


def _gitlab_headers(run: str, extra: dict | None = None):
    base = {"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": GITLAB_TOKEN,
            "User-Agent": "GitLab/17.5.0", **(extra or {})}
    return lambda i: {**base, "Idempotency-Key": f"bench-{run}-{i}", "X-Gitlab-Event-UUID": f"bench-{run}-{i}"}


# -- the AWX simulator -----------------------------------------------------------------------------
class AwxSim:
    def __init__(self, workdir: Path):
        self.log = workdir / "awx-sim.log"
        self.process = subprocess.Popen(
            [str(BIN / "stoa-awx-sim"), "--port", "0", "--token", AWX_TOKEN, "--pending-seconds", "0",
             "--running-seconds", "0"], stdout=subprocess.PIPE, stderr=open(self.log, "w"), text=True)  # noqa: SIM115
        line = self.process.stdout.readline()
        if "listening on" not in line:
            stop(self.process)
            sys.exit(f"stoa-awx-sim did not start: {line}{self.log.read_text()[-2000:]}")
        self.url = line.split("listening on ")[1].strip().removesuffix("/api/v2/").rstrip("/")

    def reset(self) -> None:
        """Seeded objects only: each tool starts on an empty AWX (list and filter costs grow with the jobs)."""
        urllib.request.urlopen(urllib.request.Request(self.url + "/_sim/reset", method="POST"), timeout=30).close()

    def jobs(self) -> int:
        return http_json(self.url + "/_sim/counters")[1].get("jobs", 0)

    def close(self) -> None:
        stop(self.process)


# -- ours ------------------------------------------------------------------------------------------
def run_ours(bodies: list[bytes], remote: Path, sim: AwxSim, clients: int, workdir: Path, time_bound: float,
             drain_bound: float) -> dict:
    port = free_port()
    config = workdir / "receiver.yml"
    config.write_text(json.dumps({
        "listen": {"host": "127.0.0.1", "port": port},
        "state_dir": str(workdir / "receiver"),
        "gitlab": {"project": PROJECT, "project_id": PROJECT_ID, "secret_tokens": ["env:BENCH_GITLAB_TOKEN"]},
        "gitops": {"repository": str(remote)},
        "launcher": {"type": "awx", "awx": {"url": sim.url, "token": "env:BENCH_AWX_TOKEN", "poll_interval": 0.5}},
        "dispatch": {"concurrency": 32},
    }, indent=2))  # JSON is YAML
    env = {**os.environ, "BENCH_GITLAB_TOKEN": GITLAB_TOKEN, "BENCH_AWX_TOKEN": AWX_TOKEN}
    log = workdir / "receiver.log"
    sim.reset()
    jobs_before = sim.jobs()
    with open(log, "w") as out:
        receiver = subprocess.Popen([str(BIN / "stoa-receiver"), "serve", "--config", str(config)], env=env,
                                    stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_json(base + "/readyz", 2)[0] == 200, 120, "stoa-receiver", receiver, log)
        cpu = _cpu_seconds(receiver.pid)
        result = figures(send_all(base + "/hooks/gitlab", bodies, _gitlab_headers("ours"), clients, 202, time_bound))
        result["cpu_ms"] = (_cpu_seconds(receiver.pid) - cpu) * 1000 / max(1, result["acked"])

        def status() -> dict:
            done = subprocess.run([str(BIN / "stoa-receiver"), "--config", str(config), "status", "--json"],
                                  capture_output=True, text=True, env=env, check=True)
            return json.loads(done.stdout)["stats"]

        began = time.monotonic()
        idle = False
        while time.monotonic() - began < drain_bound:
            stats = status()
            if (not stats["events"].get("accepted") and not stats["queue_depth"]
                    and not stats["requests"].get("launching") and not stats["requests"].get("running")):
                idle = True
                break
            time.sleep(1.0)
        result.update(stored=sum(stats["events"].values()), events_by_status=stats["events"],
                      requests=stats["requests"], dead=stats["dead_letters"], idle=idle,
                      drain_seconds=time.monotonic() - began, jobs=sim.jobs() - jobs_before,
                      rss_mb=_rss_mb(receiver.pid))
        return result
    finally:
        stop(receiver)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# -- the peer: ansible-rulebook --------------------------------------------------------------------
def rulebook_venv() -> Path:
    """.stoa/bench/rulebook-venv with ansible-rulebook and ansible-core, created on first use."""
    binary = RULEBOOK_VENV / "bin" / "ansible-rulebook"
    if binary.exists():
        return RULEBOOK_VENV
    print(f"creating {RULEBOOK_VENV.relative_to(ROOT)} (ansible-rulebook {RULEBOOK_VERSION}, "
          f"ansible-core {ANSIBLE_CORE}) ...", flush=True)
    RULEBOOK_VENV.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(RULEBOOK_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(RULEBOOK_VENV)], check=True)
    subprocess.run([str(RULEBOOK_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    f"ansible-rulebook=={RULEBOOK_VERSION}", f"ansible-core=={ANSIBLE_CORE}"], check=True)
    return RULEBOOK_VENV


def java_home() -> str | None:
    java = shutil.which("java")
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    return str(Path(os.path.realpath(java)).parent.parent) if java else None


RULEBOOK = """
- name: GitLab pushes to AWX
  hosts: all
  sources:
    - eda.builtin.webhook:
        host: 127.0.0.1
        port: {port}
        token: {token}
  rules:
    - name: A push deploys
      condition: event.payload.object_kind == "push"
      action:
        run_job_template:
          name: Deploy API
          organization: STOA
          job_args:
            extra_vars:
              tenant_id: {tenant}
              environment: dev
              gitops_ref: "{{{{ event.payload.after }}}}"
              commit_title: "{{{{ event.payload.commits[0].title }}}}"
"""


def run_rulebook(bodies: list[bytes], sim: AwxSim, clients: int, workdir: Path, time_bound: float,
                 drain_bound: float) -> dict:
    venv = rulebook_venv()
    home = java_home()
    if not home:
        sys.exit("ansible-rulebook needs a JDK 17+: no java on PATH")
    port = free_port()
    token = "bench-rulebook-token"
    rulebook = workdir / "rulebook.yml"
    rulebook.write_text(RULEBOOK.format(port=port, token=token, tenant=load_repo.TENANT))
    inventory = workdir / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    env = {**os.environ, "JAVA_HOME": home, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
           "EDA_JOB_TEMPLATE_REFRESH_DELAY": RULEBOOK_REFRESH, "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp")}
    log = workdir / "rulebook.log"
    sim.reset()
    jobs_before = sim.jobs()
    with open(log, "w") as out:
        peer = subprocess.Popen(
            [str(venv / "bin" / "ansible-rulebook"), "--rulebook", str(rulebook), "-i", str(inventory),
             "--controller-url", sim.url, "--controller-token", AWX_TOKEN, "--execution-strategy", "parallel",
             "-m", str(RULEBOOK_MAX_ACTIONS)], cwd=workdir, env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"

    def listening() -> bool:  # without a token: 401, nothing queued
        request = urllib.request.Request(base + "/ready", data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=2)
        except urllib.error.HTTPError as exc:
            return exc.code == 401
        return False

    try:
        wait_until(listening, 180, "ansible-rulebook", peer, log)
        headers = _gitlab_headers("peer", {"Authorization": f"Bearer {token}"})
        cpu = _cpu_seconds(peer.pid)
        result = figures(send_all(base + "/hooks/gitlab", bodies, headers, clients, 200, time_bound))
        result["cpu_ms"] = (_cpu_seconds(peer.pid) - cpu) * 1000 / max(1, result["acked"])
        # Its jobs: until every acknowledged event has launched one, or nothing moved for 10 s (bounded).
        began, last, moved = time.monotonic(), -1, time.monotonic()
        while time.monotonic() - began < drain_bound:
            jobs = sim.jobs() - jobs_before
            if jobs >= result["acked"]:
                break
            if jobs != last:
                last, moved = jobs, time.monotonic()
            elif time.monotonic() - moved > 10:
                break
            time.sleep(0.5)
        result.update(jobs=sim.jobs() - jobs_before, drain_seconds=time.monotonic() - began,
                      rss_mb=_rss_mb(peer.pid))
        return result
    finally:
        stop(peer, signal.SIGINT)


# -- main ------------------------------------------------------------------------------------------
def row(label: str, f: dict) -> str:
    return (f"{label:38} {f['acked']:>6} {f['rate']:>9.0f} {f['p50']:>8.1f} {f['p99']:>8.1f} {f['max']:>8.1f} "
            f"{f['errors']:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--apis", type=int, help="APIs in the GitOps remote, push i changing API (i-1) %% apis "
                        "(default: --events, one API per push; routing reads a directory of that many APIs)")
    parser.add_argument("--time-bound", type=float, default=300.0,
                        help="seconds each load may last; events not sent by then count as errors")
    parser.add_argument("--drain-bound", type=float, default=600.0,
                        help="seconds to wait for the launches that follow the load")
    parser.add_argument("--no-rulebook", action="store_true", help="skip the ansible-rulebook measurement")
    args = parser.parse_args()
    started, load_before = time.perf_counter(), os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as tmp:
        workdir = Path(tmp)
        remote, shas = load_repo.build(workdir / "gitops", args.events, args.apis)
        bodies = push_bodies(shas)
        generator = measure_generator(bodies, args.clients, workdir, args.time_bound)
        sim = AwxSim(workdir)
        try:
            ours = run_ours(bodies, remote, sim, args.clients, workdir, args.time_bound, args.drain_bound)
            peer = None if args.no_rulebook else run_rulebook(bodies, sim, args.clients, workdir, args.time_bound,
                                                               args.drain_bound)
        finally:
            sim.close()

    size = sum(map(len, bodies)) / len(bodies)
    print(f"\n{args.events} GitLab push deliveries ({size:,.0f}-byte bodies), {args.clients} concurrent keep-alive "
          f"clients, 127.0.0.1, {os.cpu_count()} CPUs (load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after); AWX simulator finishing jobs at once\n")
    print(f"{'':38} {'acked':>6} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}")
    print(row("load generator alone (ceiling)", generator))
    print(row("ours: stoa-receiver (fsync'd)", ours))
    if peer:
        print(row(f"peer: ansible-rulebook {RULEBOOK_VERSION} (memory)", peer))
    for label, f in (("ours", ours), ("peer", peer)):
        if f and f["error_kinds"]:
            print(f"  {label} errors: {f['error_kinds']}")
    print(f"\nours: {ours['acked']} acked, {ours['stored']} stored ({', '.join(f'{k} {v}' for k, v in sorted(ours['events_by_status'].items()))}); "
          f"{ours['jobs']} AWX jobs launched; job requests {ours['requests']}, dead letters {ours['dead']}; "
          f"{'idle' if ours['idle'] else 'NOT idle'} {ours['drain_seconds']:.1f} s after the load; RSS {ours['rss_mb']:.0f} MB; "
          f"CPU {ours['cpu_ms']:.2f} ms per acked event during the load")
    print(f"ours against the targets: {ours['rate']:,.0f} durable acks/s (target >= {TARGET_RATE:,}: "
          f"{'met' if ours['rate'] >= TARGET_RATE else 'NOT met'}), p99 {ours['p99']:.1f} ms (target < {TARGET_P99_MS}: "
          f"{'met' if ours['p99'] < TARGET_P99_MS else 'NOT met'})")
    if peer:
        print(f"peer: {peer['acked']} acked, {peer['jobs']} AWX jobs launched {peer['drain_seconds']:.1f} s after the "
              f"load (acked events held in memory only); RSS {peer['rss_mb']:.0f} MB; CPU {peer['cpu_ms']:.2f} ms per "
              "acked event during the load")
        print(f"ratios: throughput ours/peer {ours['rate'] / peer['rate']:.2f}, p99 peer/ours "
              f"{peer['p99'] / ours['p99']:.2f}")
    print(f"ours / generator ceiling: {ours['rate'] / generator['rate']:.2f}")
    print(f"run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
