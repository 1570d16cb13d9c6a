"""GitLab push deliveries acknowledged per second and ack latency: stoa-receiver against ansible-rulebook.

    make bench-receiver       (or: .venv/bin/python benchmarks/receiver_ingest.py [--events 4000] [--no-rulebook])

Measured in the same run, on 127.0.0.1, with the same N GitLab push bodies
(shared/gitlab/push_hook.json for project platform/stoa-gitops, id 4242, pushes
``shas[i-1] -> shas[i]`` of a GitOps remote built by tests/receiver/load_repo.py, one API
changed per commit), sent by 8 concurrent keep-alive clients (benchmarks/http_load.py: one
asyncio connection per client, requests prepared as bytes, answers parsed by httptools; each
event sent once with its own Idempotency-Key):

- the load generator alone, against a trivial aiohttp endpoint in its own process:
  its ceiling, so that it is known not to be what limits the others;
- ours: ``stoa-receiver serve`` (a subprocess, with its worker process) with the AWX launcher.
  A 202 means the event is fsync'd in SQLite; routing and launching run meanwhile.
  Once it is idle: the events it stored (``stoa-receiver status --json``), the AWX jobs
  it launched, the acknowledged pushes without a job at their commit (lost) and the
  launches of one request beyond the first (launched twice), from the simulator;
- ours again, two replicas sharing the local PostgreSQL (``make services-up``; started
  here when it is not running; a fresh schema, dropped afterwards), the deliveries spread
  over both (``--no-postgres`` skips it);
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "receiver"))
import load_repo  # noqa: E402

import http_load  # noqa: E402  (benchmarks/, beside this file)

from local_services.process import group_members_alive  # noqa: E402

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


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to the process group ``process`` leads (started with start_new_session), waited for."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)
    deadline = time.monotonic() + 10
    # Children reparented elsewhere linger as zombies until reaped: wait for the live ones only.
    while time.monotonic() < deadline and group_members_alive(process.pid):
        time.sleep(0.05)


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


# -- the load generator (benchmarks/http_load.py) ------------------------------------------------------
def send_all(url: str | list[str], bodies: list[bytes], headers, clients: int, expected: int | set[int],
             time_bound: float, retry: bool = False, acked: dict | None = None) -> dict:
    """http_load.send_all with this benchmark's per-request timeout (see there for the figures returned)."""
    return http_load.send_all(url, bodies, headers, clients, expected, time_bound, retry, acked, REQUEST_TIMEOUT)


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


    def all_jobs(self) -> list[dict]:
        return http_json(self.url + "/_sim/jobs", 60)[1] or []

    def counters(self) -> dict:
        return http_json(self.url + "/_sim/counters")[1]


def launch_accounting(sim: AwxSim, shas: list[str], acked: dict[int, str | None], apis: int) -> dict:
    """What became of the acknowledged pushes (delivery ``k`` = push ``shas[k] -> shas[k+1]``, API ``k % apis``):

    - ``without_job``: acknowledged pushes with no Deploy API job for their API at their commit (with one API
      per push nothing coalesces, so each is a lost launch unless a Full Deploy reconciled it: see ``full``);
    - ``duplicated``: launches beyond the first of one stoa_launch_id (the same request launched twice)."""
    jobs = sim.all_jobs()
    deployed = set()
    full = 0
    for job in jobs:
        variables = json.loads(job.get("extra_vars") or "{}")
        if job.get("name") == "Deploy API":
            deployed.add((variables.get("api_name"), variables.get("gitops_ref")))
        elif job.get("name") == "Full Deploy":
            full += 1
    without = sum(1 for k in acked if (load_repo.api_name(k % apis), shas[k + 1]) not in deployed)
    duplicated = sum(n - 1 for n in sim.counters().get("jobs_by_launch_id", {}).values() if n > 1)
    return {"without_job": without, "duplicated": duplicated, "full": full}


def database_url() -> str:
    """PostgreSQL of the local services (``make services-up``): STOA_RECEIVER_DATABASE_URL from the environment
    or .stoa/services.env; started with ``stoa-services up postgres`` when it is not running."""
    env_file = ROOT / ".stoa" / "services.env"

    def from_env_file() -> str | None:
        if env_file.exists():
            for line in env_file.read_text().splitlines():
                key, _, value = line.removeprefix("export ").partition("=")
                if key.strip() == "STOA_RECEIVER_DATABASE_URL":
                    return value.strip().strip("'\"")
        return None

    url = os.environ.get("STOA_RECEIVER_DATABASE_URL") or from_env_file()
    status = subprocess.run([str(BIN / "stoa-services"), "status", "postgres"], capture_output=True, text=True)
    if not url or "healthy" not in status.stdout:
        print("starting PostgreSQL (stoa-services up postgres) ...", flush=True)
        subprocess.run([str(BIN / "stoa-services"), "up", "postgres"], check=True)
        url = from_env_file()
    if not url:
        sys.exit("no STOA_RECEIVER_DATABASE_URL after stoa-services up postgres")
    return url


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# -- ours ------------------------------------------------------------------------------------------
class Receivers:
    """``stoa-receiver serve`` x ``replicas`` on ``remote`` and the AWX simulator: SQLite in each state_dir, or the
    PostgreSQL ``database`` (a fresh schema the replicas share, dropped by :meth:`close`)."""

    def __init__(self, remote: Path, sim: AwxSim, workdir: Path, replicas: int = 1, database: str | None = None,
                 label: str = "ours", dispatch: dict | None = None):
        self.workdir, self.label, self.database = workdir, label, database
        self.schema = f"bench_{os.getpid()}_{label}" if database else None
        self.env = {**os.environ, "BENCH_GITLAB_TOKEN": GITLAB_TOKEN, "BENCH_AWX_TOKEN": AWX_TOKEN,
                    "BENCH_DATABASE_URL": database or ""}
        self.configs, self.ports = [], []
        self.processes: list[subprocess.Popen | None] = [None] * replicas
        for n in range(replicas):
            port = free_port()
            config = workdir / f"receiver-{label}-{n}.yml"
            config.write_text(json.dumps({
                "listen": {"host": "127.0.0.1", "port": port},
                "state_dir": str(workdir / f"receiver-{label}-{n}"),
                "gitlab": {"project": PROJECT, "project_id": PROJECT_ID, "secret_tokens": ["env:BENCH_GITLAB_TOKEN"]},
                "gitops": {"repository": str(remote)},
                "launcher": {"type": "awx", "awx": {"url": sim.url, "token": "env:BENCH_AWX_TOKEN",
                                                     "poll_interval": 0.5}},
                "dispatch": {"concurrency": 32, **(dispatch or {})},
                **({"store": {"url": "env:BENCH_DATABASE_URL", "schema": self.schema}} if database else {}),
            }, indent=2))  # JSON is YAML
            self.configs.append(config)
            self.ports.append(port)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}/hooks/gitlab" for port in self.ports]

    def log(self, n: int) -> Path:
        return self.workdir / f"receiver-{self.label}-{n}.log"

    def start(self, *which: int) -> None:
        """Starts the replicas (all by default) and waits until each answers /readyz 200."""
        for n in which or range(len(self.ports)):
            with open(self.log(n), "a") as out:
                self.processes[n] = subprocess.Popen(
                    [str(BIN / "stoa-receiver"), "serve", "--config", str(self.configs[n])], env=self.env,
                    stdout=out, stderr=out, start_new_session=True)
        for n in which or range(len(self.ports)):
            base = f"http://127.0.0.1:{self.ports[n]}"
            wait_until(lambda base=base: http_json(base + "/readyz", 2)[0] == 200, 120, f"stoa-receiver {n}",
                       self.processes[n], self.log(n))

    def kill9(self, n: int) -> None:
        """A crash of replica ``n``: SIGKILL to its ingest and worker processes at once (its process group)."""
        kill_group(self.processes[n])

    def cpu_seconds(self) -> float:
        return sum(_cpu_seconds(p.pid) for p in self.processes if p and p.poll() is None)

    def rss_mb(self) -> float:
        return sum(_rss_mb(p.pid) for p in self.processes if p and p.poll() is None)

    def stats(self) -> dict:
        done = subprocess.run([str(BIN / "stoa-receiver"), "--config", str(self.configs[0]), "status", "--json"],
                              capture_output=True, text=True, env=self.env, check=False)
        if done.returncode != 0:
            sys.exit(f"stoa-receiver status failed (exit {done.returncode}): {done.stderr[-2000:]}")
        return json.loads(done.stdout)["stats"]

    def wait_idle(self, bound: float) -> dict:
        """Polls ``stoa-receiver status`` every second until nothing is unrouted, queued or running (at most
        ``bound`` s). Returns stored, events_by_status, requests, dead, idle, drain_seconds."""
        began, idle = time.monotonic(), False
        while time.monotonic() - began < bound:
            stats = self.stats()
            if (not stats["events"].get("accepted") and not stats["queue_depth"]
                    and not stats["requests"].get("launching") and not stats["requests"].get("running")):
                idle = True
                break
            time.sleep(1.0)
        return {"stored": sum(stats["events"].values()), "events_by_status": stats["events"],
                "requests": stats["requests"], "dead": stats["dead_letters"], "idle": idle,
                "drain_seconds": time.monotonic() - began}

    def close(self) -> None:
        for process in self.processes:
            if process is not None:
                stop(process)
        if self.database:
            drop_schema(self.database, self.schema)


def run_ours(bodies: list[bytes], remote: Path, sim: AwxSim, clients: int, workdir: Path, time_bound: float,
             drain_bound: float, replicas: int = 1, database: str | None = None, label: str = "ours") -> dict:
    """Deliveries spread over :class:`Receivers`; figures, CPU per ack (all replicas), what was stored and
    launched once idle."""
    sim.reset()
    jobs_before = sim.jobs()
    receivers = Receivers(remote, sim, workdir, replicas, database, label)
    try:
        receivers.start()
        cpu = receivers.cpu_seconds()
        run = send_all(receivers.urls, bodies, _gitlab_headers(label), clients, 202, time_bound)
        result = figures(run)
        result["acked_ids"] = run["acked_ids"]
        result["cpu_ms"] = (receivers.cpu_seconds() - cpu) * 1000 / max(1, result["acked"])
        result.update(receivers.wait_idle(drain_bound), jobs=sim.jobs() - jobs_before, rss_mb=receivers.rss_mb())
        return result
    finally:
        receivers.close()


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


class Rulebook:
    """ansible-rulebook with the webhook source and run_job_template against the AWX simulator (the peer)."""

    TOKEN = "bench-rulebook-token"

    def __init__(self, sim: AwxSim, workdir: Path):
        self.venv, home = rulebook_venv(), java_home()
        if not home:
            sys.exit("ansible-rulebook needs a JDK 17+: no java on PATH")
        self.sim, self.workdir, self.process = sim, workdir, None
        self.port = free_port()
        self.rulebook = workdir / "rulebook.yml"
        self.rulebook.write_text(RULEBOOK.format(port=self.port, token=self.TOKEN, tenant=load_repo.TENANT))
        self.inventory = workdir / "inventory.yml"
        self.inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
        self.env = {**os.environ, "JAVA_HOME": home, "PATH": f"{self.venv / 'bin'}:{os.environ['PATH']}",
                    "EDA_JOB_TEMPLATE_REFRESH_DELAY": RULEBOOK_REFRESH,
                    "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp")}
        self.log = workdir / "rulebook.log"
        self.url = f"http://127.0.0.1:{self.port}/hooks/gitlab"

    def headers(self, run: str):
        return _gitlab_headers(run, {"Authorization": f"Bearer {self.TOKEN}"})

    def start(self) -> None:
        """Starts it and waits until its webhook answers (401 without the token: nothing queued)."""
        with open(self.log, "a") as out:
            self.process = subprocess.Popen(
                [str(self.venv / "bin" / "ansible-rulebook"), "--rulebook", str(self.rulebook), "-i",
                 str(self.inventory), "--controller-url", self.sim.url, "--controller-token", AWX_TOKEN,
                 "--execution-strategy", "parallel", "-m", str(RULEBOOK_MAX_ACTIONS)], cwd=self.workdir,
                env=self.env, stdout=out, stderr=out, start_new_session=True)

        def listening() -> bool:
            request = urllib.request.Request(self.url.replace("/hooks/gitlab", "/ready"), data=b"{}", method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(request, timeout=2)
            except urllib.error.HTTPError as exc:
                return exc.code == 401
            except OSError:
                return False
            return False

        wait_until(listening, 180, "ansible-rulebook", self.process, self.log)

    def kill9(self) -> None:
        """A crash: SIGKILL to ansible-rulebook and its children (its process group)."""
        kill_group(self.process)

    def wait_jobs(self, expected: int, jobs_before: int, bound: float) -> float:
        """Until ``expected`` jobs were launched or nothing moved for 10 s (at most ``bound`` s): the seconds."""
        began, last, moved = time.monotonic(), -1, time.monotonic()
        while time.monotonic() - began < bound:
            jobs = self.sim.jobs() - jobs_before
            if jobs >= expected:
                break
            if jobs != last:
                last, moved = jobs, time.monotonic()
            elif time.monotonic() - moved > 10:
                break
            time.sleep(0.5)
        return time.monotonic() - began

    def close(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGINT)


def run_rulebook(bodies: list[bytes], sim: AwxSim, clients: int, workdir: Path, time_bound: float,
                 drain_bound: float) -> dict:
    sim.reset()
    jobs_before = sim.jobs()
    peer = Rulebook(sim, workdir)
    try:
        peer.start()
        cpu = _cpu_seconds(peer.process.pid)
        result = figures(send_all(peer.url, bodies, peer.headers("peer"), clients, 200, time_bound))
        result["cpu_ms"] = (_cpu_seconds(peer.process.pid) - cpu) * 1000 / max(1, result["acked"])
        result["drain_seconds"] = peer.wait_jobs(result["acked"], jobs_before, drain_bound)
        result.update(jobs=sim.jobs() - jobs_before, rss_mb=_rss_mb(peer.process.pid))
        return result
    finally:
        peer.close()


# -- main ------------------------------------------------------------------------------------------
def full_note(f: dict) -> str:
    return f" (but {f['full']} Full Deploy jobs reconciled everything)" if f["full"] else ""


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
    parser.add_argument("--no-postgres", action="store_true",
                        help="skip the run of two replicas sharing PostgreSQL (it starts the local PostgreSQL)")
    args = parser.parse_args()
    apis = args.apis or args.events
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    database = None if args.no_postgres else database_url()

    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as tmp:
        workdir = Path(tmp)
        remote, shas = load_repo.build(workdir / "gitops", args.events, args.apis)
        bodies = push_bodies(shas)
        generator = measure_generator(bodies, args.clients, workdir, args.time_bound)
        sim = AwxSim(workdir)
        runs = []
        try:
            ours = run_ours(bodies, remote, sim, args.clients, workdir, args.time_bound, args.drain_bound)
            ours.update(launch_accounting(sim, shas, ours["acked_ids"], apis))
            runs.append(("ours: stoa-receiver, SQLite (fsync'd)", ours))
            if database:
                pg = run_ours(bodies, remote, sim, args.clients, workdir, args.time_bound, args.drain_bound,
                              replicas=2, database=database, label="pg")
                pg.update(launch_accounting(sim, shas, pg["acked_ids"], apis))
                runs.append(("ours: 2 replicas, PostgreSQL", pg))
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
    for label, f in runs:
        print(row(label, f))
    if peer:
        print(row(f"peer: ansible-rulebook {RULEBOOK_VERSION} (memory)", peer))
    for label, f in [*runs, ("peer", peer)]:
        if f and f["error_kinds"]:
            print(f"  {label} errors: {f['error_kinds']}")
    print()
    for label, f in runs:
        print(f"{label}: {f['acked']} acked, {f['stored']} stored "
              f"({', '.join(f'{k} {v}' for k, v in sorted(f['events_by_status'].items()))}); {f['jobs']} AWX jobs "
              f"launched; lost (acked, no job at its commit) {f['without_job']}"
              f"{full_note(f)}, "
              f"launched twice {f['duplicated']}; job requests {f['requests']}, dead letters {f['dead']}; "
              f"{'idle' if f['idle'] else 'NOT idle'} {f['drain_seconds']:.1f} s after the load; RSS {f['rss_mb']:.0f} MB; "
              f"CPU {f['cpu_ms']:.2f} ms per acked event during the load")
    print(f"ours against the targets: {ours['rate']:,.0f} durable acks/s (target >= {TARGET_RATE:,}: "
          f"{'met' if ours['rate'] >= TARGET_RATE else 'NOT met'}), p99 {ours['p99']:.1f} ms (target < {TARGET_P99_MS}: "
          f"{'met' if ours['p99'] < TARGET_P99_MS else 'NOT met'})")
    if peer:
        print(f"peer: {peer['acked']} acked, {peer['jobs']} AWX jobs launched {peer['drain_seconds']:.1f} s after the "
              f"load (acked events held in memory only); RSS {peer['rss_mb']:.0f} MB; CPU {peer['cpu_ms']:.2f} ms per "
              "acked event during the load")
        for label, f in runs:
            print(f"ratios, {label} / peer: throughput {f['rate'] / peer['rate']:.2f}, p99 peer/ours "
                  f"{peer['p99'] / f['p99']:.2f}")
    for label, f in runs:
        print(f"{label} / generator ceiling: {f['rate'] / generator['rate']:.2f}")
    print(f"run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
