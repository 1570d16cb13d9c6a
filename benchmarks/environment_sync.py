"""Whole environments through the job playbooks: Sync Gateway and Sync Alias over 50 and 500 APIs, IAM Sync over
200 tenants of 25 members.

    .venv/bin/python benchmarks/environment_sync.py [--sizes 50 500] [--baseline-sizes 50] [--baseline-ref REF]
        [--iam-tenants 200] [--iam-members 25] [--no-iam-baseline] [--no-iam-loop-passwords] [--iam-baseline-ref REF]

IAM Sync runs against the lead's Keycloak in realms of its own, see :func:`iam_sync_part` (``--sizes`` with no
value and ``--iam-tenants 40`` measure only IAM Sync, at a size this shared machine finishes in about half an hour).

For each size a GitOps repository is generated (``--tenants`` tenants declaring dev, one API each with a
3.0 document of five operations, a rate limit and an API-key policy, and one endpoint alias per API in
``aliases/dev/``), and the AWX jobs run as AWX runs them (``ansible-playbook -i inventories/dev
playbooks/sync_gateway.yml`` and ``sync_aliases.yml``), first against an empty gateway, then again with
nothing changed. Each run prints its wall time and the gateway requests per object, by method, from the
simulator's request log.

Two versions run in the same invocation, against the same simulator (reset before each first run):

- ``set``: the playbooks of this checkout (the set modules: one module call per environment);
- ``loop``: today's loop, the collection and playbooks as they were at ``--baseline-ref`` (by default the
  commit before gateway_api_set was added), extracted from Git into a temporary directory. The loop
  costs about a second per API, so by default it only runs for 50 APIs (``--baseline-sizes``).

The simulator is this checkout's ``stoa-gateway-sim``, started here on a free port and stopped at the end
(never the shared ones on 15555-15557). It answers in microseconds: the figures say how much work each
approach asks of a gateway and of Ansible, not how fast a real gateway is. A measurement, not a test.
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SET_MODULE = "collections/ansible_collections/stoa/platform/plugins/modules/gateway_api_set.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Simulator:
    """Our own ``stoa-gateway-sim`` process on a free port."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        password_file = workdir / "sim-password"
        password_file.write_text(self.password)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "sim.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(BIN / "stoa-gateway-sim"), "--port", str(self.port), "--password-file", str(password_file)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(100):
            try:
                if requests.get(self.url + "/rest/apigateway/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"the simulator did not start on {self.port}")

    def reset(self) -> None:
        requests.post(self.url + "/_sim/reset", timeout=30).raise_for_status()

    def take_log(self) -> Counter:
        log = requests.get(self.url + "/_sim/requests", timeout=30).json()
        requests.delete(self.url + "/_sim/requests", timeout=30).raise_for_status()
        return Counter(r["method"] for r in log)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def openapi(n: int) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": f"Bench {n}", "version": "1.0", "description": f"benchmark API {n}"},
        "servers": [{"url": f"http://backend-{n}.local:8080/v1"}],
        "paths": {f"/items/{{id}}/{k}": {"get": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok"}}}} for k in range(5)},
    }


def write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def generate_repository(target: Path, count: int, tenants: int) -> Path:
    """A plain GitOps directory (the jobs accept one as gitops_repo) with ``count`` APIs and aliases in dev."""
    shutil.copytree(ROOT / "examples" / "gitops" / "environments", target / "environments")
    registry = yaml.safe_load((ROOT / "examples" / "gitops" / "iam" / "tenants.yaml").read_text())
    template = registry["tenants"][0]
    registry["tenants"] = [dict(template, id=f"bench-{t:02d}", displayName=f"Bench {t}", environments=["dev"])
                           for t in range(tenants)]
    write(target / "iam" / "tenants.yaml", registry)
    for n in range(count):
        tenant, name = f"bench-{n % tenants:02d}", f"bench-api-{n:04d}"
        api = target / "tenants" / tenant / "apis" / name
        write(api / "api.yaml", {
            "apiVersion": "stoa.cab-i.com/v1", "kind": "API", "metadata": {"name": name, "tenant": tenant},
            "spec": {"displayName": f"Bench API {n}", "version": "1.0.0", "description": f"benchmark API {n}",
                     "openapi": "openapi.yaml",
                     "backend": {"url": "${BACKEND_URL}", "alias": "${BACKEND_ALIAS}"},
                     "security": {"type": "apiKey", "apiKeyHeader": "api_key"},
                     "policies": [{"rateLimit": {"requests": "${RATE_LIMIT_PER_MINUTE}", "period": "minute"}}]}})
        write(api / "openapi.yaml", openapi(n))
        write(api / "environments" / "dev.yaml", {
            "apiVersion": "stoa.cab-i.com/v1", "kind": "APIEnvironmentConfig",
            "metadata": {"name": f"{name}-dev", "environment": "dev"},
            "variables": {"BACKEND_URL": f"http://backend-{n}.local:8080/v1", "BACKEND_ALIAS": f"{name}-backend-dev"}})
        write(target / "aliases" / "dev" / f"{name}-backend.yaml", {
            "apiVersion": "stoa.cab-i.com/v1", "kind": "GatewayAlias",
            "metadata": {"name": f"{name}-backend-dev", "environment": "dev"},
            "spec": {"type": "endpoint", "description": f"backend of {name} (dev)",
                     "endpoint": {"url": f"http://backend-{n}.local:8080/v1", "connectionTimeout": 30000,
                                  "readTimeout": 60000}}})
    return target


def baseline_ref() -> str:
    first = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", SET_MODULE], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    if not first:
        raise SystemExit("gateway_api_set is not in this checkout's history: give --baseline-ref")
    return first[-1] + "^"


def extract(ref: str, target: Path) -> Path:
    """The collection, playbooks, inventories and ansible.cfg as they were at ``ref``."""
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", ref, "collections", "playbooks", "inventories",
                              "ansible.cfg"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def run_job(tree: Path, playbook: str, sim: Simulator, repo: Path, work: Path) -> tuple[float, int, str]:
    env = {**os.environ, "STOA_GATEWAY_DEV_URL": sim.url, "STOA_GATEWAY_DEV_PASSWORD": sim.password,
           "STOA_WORK_DIR": str(work), "ANSIBLE_FORCE_COLOR": "0"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", "inventories/dev", f"playbooks/{playbook}",
                           "-e", "environment=dev", "-e", f"gitops_repo={repo}"],
                          cwd=tree, env=env, capture_output=True, text=True, check=False, timeout=3600)
    return time.perf_counter() - started, done.returncode, done.stdout[-3000:] + done.stderr[-2000:]


def per_object(counts: Counter, objects: int) -> str:
    total = sum(counts.values())
    by_method = ", ".join(f"{m} {counts[m] / objects:.2f}" for m in sorted(counts))
    return f"{total / objects:.2f} ({by_method or '-'})"


def measure(label: str, tree: Path, playbook: str, sim: Simulator, repo: Path, work: Path, objects: int,
            rows: list) -> None:
    sim.reset()
    for run in ("first", "no-op"):
        wall, code, tail = run_job(tree, playbook, sim, repo, work)
        counts = sim.take_log()
        row = dict(label=label, run=run, objects=objects, wall=wall, ok=code == 0, counts=counts)
        rows.append(row)
        print(f"  {label:<26} {run:<6} {wall:8.1f} s  {'ok' if code == 0 else 'FAILED rc=%d' % code:<12} "
              f"requests/object {per_object(counts, objects)}", flush=True)
        if code != 0:
            print("    " + tail.replace("\n", "\n    "), flush=True)


class CountingProxy:
    """A forwarding HTTP proxy in front of Keycloak that counts the requests by method (admin API and token
    requests apart): Keycloak keeps no request log to read afterwards. Both versions go through it alike."""

    def __init__(self, upstream: str):
        import http.server
        import threading

        self.upstream, self.counts, self.lock = upstream.rstrip("/"), Counter(), threading.Lock()
        local, proxy = threading.local(), self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args):
                pass

            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not hasattr(local, "session"):
                    local.session = requests.Session()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length",
                                                                                         "connection")}
                answer = local.session.request(self.command, proxy.upstream + self.path, data=body,
                                               headers=headers, allow_redirects=False, timeout=600)
                kind = "token" if "/protocol/openid-connect/" in self.path else self.command
                with proxy.lock:
                    proxy.counts[kind] += 1
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> Counter:
        with self.lock:
            counts, self.counts = self.counts, Counter()
        return counts

    def stop(self) -> None:
        self.server.shutdown()


def services_env() -> dict:
    """The lead's local services (.stoa/services.env): Keycloak and OpenBao endpoints and credentials."""
    env = {}
    for line in (ROOT / ".stoa" / "services.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    return env


def generate_iam_repository(target: Path, tenants: int, members: int, password_ref: str | None) -> Path:
    """iam/tenants.yaml with ``tenants`` tenants of ``members`` members each (1 CPI, a fifth DevOps, the rest
    viewers), each given ``password_ref`` as initialPasswordRef when set; one global admin."""
    shutil.copytree(ROOT / "examples" / "gitops" / "environments", target / "environments")
    registry = {"apiVersion": "stoa.cab-i.com/v1", "kind": "TenantRegistry", "metadata": {"name": "tenant-registry"},
                "tenants": []}
    for t in range(tenants):
        people = [{"email": f"m{j:02d}@bench-{t:03d}.example", "name": f"Member {j} Bench{t}",
                   **({"initialPasswordRef": password_ref} if password_ref else {})} for j in range(members)]
        devops = max(1, members // 5)
        registry["tenants"].append({"id": f"bench-{t:03d}", "displayName": f"Bench {t}", "status": "active",
                                    "environments": ["dev"], "quotas": {"maxApis": 10, "maxApplications": 5},
                                    "members": {"cpi": people[:1], "devops": people[1:1 + devops],
                                                "viewers": people[1 + devops:]}})
    write(target / "iam" / "tenants.yaml", registry)
    write(target / "iam" / "global-admins.yaml", {
        "apiVersion": "stoa.cab-i.com/v1", "kind": "GlobalAdminRegistry", "metadata": {"name": "global-admins"},
        "admins": [{"email": "admin@bench.example", "name": "Bench Admin", "role": "cpi-admin"}]})
    return target


def iam_baseline_ref() -> str:
    first = subprocess.run(["git", "log", "-S", "class RealmView", "--format=%H", "--",
                            "collections/ansible_collections/stoa/platform/plugins/module_utils/keycloak_tenant_sync.py"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    if not first:
        raise SystemExit("keycloak_tenant_set is not in this checkout's history: give --iam-baseline-ref")
    return first[-1] + "^"


def run_iam_job(tree: Path, repo: Path, realm: str, env: dict, work: Path) -> tuple[float, int, str]:
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", "inventories/dev", "playbooks/iam_sync.yml",
                           "-e", f"gitops_repo={repo}", "-e", f"keycloak_realm={realm}"],
                          cwd=tree, env={**env, "STOA_WORK_DIR": str(work)}, capture_output=True, text=True,
                          check=False, timeout=7200)
    return time.perf_counter() - started, done.returncode, done.stdout[-3000:] + done.stderr[-2000:]


def iam_sync_part(args, rows: list) -> None:
    """IAM Sync over ``--iam-tenants`` tenants of ``--iam-members`` members on the lead's Keycloak (KEYCLOAK_URL of
    .stoa/services.env), through ``playbooks/iam_sync.yml``, in realms of its own (deleted at the end):

    - ``first``: an empty realm, members without initial password; ``no-op``: the same again;
    - ``first+pw``: another empty realm, every member with an initial password (one Vault reference, written to
      ``secret/bench/iam-<hex>`` of the lead's OpenBao and deleted at the end): Keycloak hashes each (argon2).

    ``set`` is this checkout (keycloak_tenant_set), ``loop`` the collection at ``--iam-baseline-ref`` (by default the
    commit before keycloak_tenant_set's RealmView: one keycloak_tenant call per tenant). Requests go through a
    :class:`CountingProxy` and are counted per tenant, by method (``token``: the logins).
    """
    import hvac
    from keycloak import KeycloakAdmin

    if not args.iam_tenants:
        print("  IAM Sync: skipped (--iam-tenants 0)", flush=True)
        return
    services = services_env()
    proxy = CountingProxy(services["KEYCLOAK_URL"])
    vault = hvac.Client(url=services["VAULT_ADDR"], token=services["VAULT_TOKEN"])
    secret_path = "bench/iam-" + secrets.token_hex(4)
    password = "Bench-" + secrets.token_urlsafe(12) + "-9a"
    vault.secrets.kv.v2.create_or_update_secret(path=secret_path, secret={"password": password}, mount_point="secret")
    admin = KeycloakAdmin(server_url=services["KEYCLOAK_URL"], username=services["KEYCLOAK_ADMIN_USERNAME"],
                          password=services["KEYCLOAK_ADMIN_PASSWORD"], realm_name="master", user_realm_name="master")
    env = {**os.environ, "KEYCLOAK_URL": proxy.url, "KEYCLOAK_ADMIN_REALM": "master",
           "KEYCLOAK_ADMIN_USERNAME": services["KEYCLOAK_ADMIN_USERNAME"],
           "KEYCLOAK_ADMIN_PASSWORD": services["KEYCLOAK_ADMIN_PASSWORD"], "VAULT_ADDR": services["VAULT_ADDR"],
           "VAULT_TOKEN": services["VAULT_TOKEN"], "ANSIBLE_FORCE_COLOR": "0"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    scratch = Path(tempfile.mkdtemp(prefix="stoa-iambench-"))
    realms = []
    try:
        ref = args.iam_baseline_ref or iam_baseline_ref()
        versions = [("set", ROOT)]
        if args.iam_baseline:
            versions.append(("loop", extract(ref, scratch / "loop")))
        size = f"{args.iam_tenants}x{args.iam_members}"
        plain = generate_iam_repository(scratch / "repo", args.iam_tenants, args.iam_members, None)
        with_pw = generate_iam_repository(scratch / "repo-pw", args.iam_tenants, args.iam_members,
                                          f"vault:secret/data/{secret_path}#password")
        print(f"  Keycloak {services['KEYCLOAK_URL']} through {proxy.url}; today's loop = {ref}; "
              f"{args.iam_tenants} tenants of {args.iam_members} members", flush=True)
        for version, tree in versions:
            tag = secrets.token_hex(3)
            runs = [("first", plain, f"bench-{version}-{tag}"), ("no-op", plain, f"bench-{version}-{tag}")]
            if version == "set" or args.iam_loop_passwords:
                runs.append(("first+pw", with_pw, f"bench-{version}pw-{tag}"))
            for run, repo, realm in runs:
                if realm not in realms:
                    realms.append(realm)
                proxy.take()
                wall, code, tail = run_iam_job(tree, repo, realm, env, scratch / f"work-{version}")
                counts = proxy.take()
                label = f"IAM Sync {size} ({version})"
                rows.append(dict(label=label, run=run, objects=args.iam_tenants, wall=wall, ok=code == 0,
                                 counts=counts))
                print(f"  {label:<26} {run:<8} {wall:8.1f} s  {'ok' if code == 0 else 'FAILED rc=%d' % code:<12} "
                      f"requests/tenant {per_object(counts, args.iam_tenants)}", flush=True)
                if code != 0:
                    print("    " + tail.replace("\n", "\n    "), flush=True)
        walls = {(r["label"], r["run"]): r["wall"] for r in rows}
        for run in ("first", "no-op", "first+pw"):
            loop, new = walls.get((f"IAM Sync {size} (loop)", run)), walls.get((f"IAM Sync {size} (set)", run))
            if loop and new:
                print(f"  IAM Sync {size} {run}: the set is {loop / new:.1f}x faster than the loop", flush=True)
        for version, _tree in versions:
            first, with_passwords = walls.get((f"IAM Sync {size} ({version})", "first")), walls.get(
                (f"IAM Sync {size} ({version})", "first+pw"))
            if first and with_passwords:
                print(f"  IAM Sync {size} ({version}): initial passwords add {with_passwords - first:.1f} s "
                      f"({(with_passwords - first) / with_passwords:.0%} of the run with them)", flush=True)
    finally:
        proxy.stop()
        for realm in realms:
            try:
                admin.delete_realm(realm)
            except Exception as exc:  # noqa: BLE001 - reported, the others are still deleted
                print(f"  could not delete realm {realm}: {exc}", flush=True)
        vault.secrets.kv.v2.delete_metadata_and_all_versions(path=secret_path, mount_point="secret")
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[50, 500], help="API counts (none: skip the gateway)")
    parser.add_argument("--baseline-sizes", type=int, nargs="*", default=[50],
                        help="sizes at which today's loop is measured too (it takes about a second per API)")
    parser.add_argument("--baseline-ref", help="the loop's commit (default: the one before gateway_api_set)")
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--iam-tenants", type=int, default=200, help="tenants of the IAM Sync part (0: skip it)")
    parser.add_argument("--iam-members", type=int, default=25, help="members of each tenant")
    parser.add_argument("--iam-baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="measure today's loop for IAM Sync too")
    parser.add_argument("--iam-loop-passwords", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the loop's first run with initial passwords (Keycloak hashes 5,000 of them: "
                             "minutes that bound both versions alike)")
    parser.add_argument("--iam-baseline-ref", help="the IAM loop's commit (default: the one before RealmView)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="stoa-envsync-"))
    sim = Simulator(scratch)
    rows: list[dict] = []
    try:
        ref = args.baseline_ref or baseline_ref()
        commit = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        loop_tree = extract(ref, scratch / "loop") if args.baseline_sizes else None
        print(f"simulator {sim.url} (pid {sim.process.pid}); today's loop = {ref} ({commit}); set = {ROOT}",
              flush=True)
        for size in args.sizes:
            repo = generate_repository(scratch / f"repo-{size}", size, min(args.tenants, size))
            print(f"\n{size} APIs, {size} aliases, {min(args.tenants, size)} tenants", flush=True)
            versions = [("set", ROOT)] + ([("loop", loop_tree)] if size in args.baseline_sizes else [])
            for job, playbook in (("Sync Gateway", "sync_gateway.yml"), ("Sync Alias", "sync_aliases.yml")):
                for version, tree in versions:
                    measure(f"{job} {size} ({version})", tree, playbook, sim, repo, scratch / f"work-{version}",
                            size, rows)
        print("\nIAM Sync", flush=True)
        iam_sync_part(args, rows)

        print("\nSummary (wall seconds; requests per object)")
        for row in rows:
            print(f"  {row['label']:<26} {row['run']:<6} {row['wall']:8.1f}  {per_object(row['counts'], row['objects'])}"
                  f"{'' if row['ok'] else '  FAILED'}")
        walls = {(r["label"], r["run"]): r["wall"] for r in rows}
        for size in args.baseline_sizes:
            for job in ("Sync Gateway", "Sync Alias"):
                for run in ("first", "no-op"):
                    loop, new = walls.get((f"{job} {size} (loop)", run)), walls.get((f"{job} {size} (set)", run))
                    if loop and new:
                        print(f"  {job} {size} {run}: the set is {loop / new:.1f}x faster than the loop")
    finally:
        sim.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
