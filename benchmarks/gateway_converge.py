"""Converge 50 APIs on the gateway simulator, then rerun: wall time and requests by method.

    make bench-gateway        (or: .venv/bin/python benchmarks/gateway_converge.py [--apis 50])

Three ways of deploying the same 50 APIs (a 3.0 document each, a rate limit
and an API-key policy, active) are measured in the same run, each against a
fresh simulator, each twice (first deployment, then an identical rerun):

- ``gateway_api`` as operators run it: one ansible-playbook, a loop of 50 tasks;
- the same converger in-process (no Ansible start-up per task): the cost of the
  HTTP conversation alone;
- the peer: what upstream automation did (delete the API if it exists, import,
  add the policy actions, activate: every run rewrites everything, new ids).

The simulator answers in microseconds, so the times say how much work each
approach asks of a gateway, not how fast a real one is. This is a measurement,
not a test: it asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import stoa_tools  # noqa: E402,F401  (puts the collection on sys.path)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_converge import (  # noqa: E402
    ApiConverger,
    DesiredApi,
)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient  # noqa: E402
from ansible_collections.stoa.platform.plugins.module_utils.gateway_policies import (  # noqa: E402
    encode_authentication,
    encode_rate_limit,
)
from gateway_simulator.http import Gateway, serve  # noqa: E402

POLICIES = {"rate_limit": {"requests": 100, "period": "minute", "interval": 1, "alert_message": "Rate limit exceeded"},
            "authentication": {"methods": ["api_key"], "application_lookup": "strict", "allow_anonymous": False,
                               "logical_connector": "OR"}}


def document(n: int) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": f"Bench {n}", "version": "1.0", "description": f"benchmark API {n}"},
        "servers": [{"url": f"http://backend-{n}.local:8080/v1"}],
        "paths": {f"/items/{{id}}/{k}": {"get": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok"}}}} for k in range(5)},
    }


class Simulator:
    def __init__(self):
        self.gateway = Gateway("Administrator", "bench")
        self.server = serve(self.gateway, "127.0.0.1", 0)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def take_log(self) -> Counter:
        log = requests.get(self.url + "/_sim/requests", timeout=10).json()
        requests.delete(self.url + "/_sim/requests", timeout=10)
        return Counter(r["method"] for r in log)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run_converger(sim: Simulator, count: int) -> None:
    client = GatewayClient(sim.url, "Administrator", "bench")
    for n in range(count):
        ApiConverger(client).present(DesiredApi(
            f"bench-{n}", "1.0", document=document(n), document_type="openapi", tenant="bench",
            policies=json.loads(json.dumps(POLICIES))))


def run_upstream_peer(sim: Simulator, count: int) -> None:
    """Delete and re-create: the pattern this collection replaces."""
    client = GatewayClient(sim.url, "Administrator", "bench")
    for n in range(count):
        name = f"bench-{n}"
        for api in client.list_apis():
            if api["apiName"] == name:
                if api.get("isActive"):
                    client.deactivate_api(api["id"])
                client.delete_api(api["id"])
        api = client.import_api(name, "1.0", json.dumps(document(n)), "openapi")
        policy = client.get_policy(api["policies"][0])
        throttle = client.create_policy_action({"templateKey": "throttle", "parameters": encode_rate_limit(POLICIES["rate_limit"])})
        iam = client.create_policy_action({"templateKey": "evaluatePolicy",
                                           "parameters": encode_authentication(POLICIES["authentication"])})
        policy["policyEnforcements"] += [
            {"stageKey": "LMT", "enforcements": [{"enforcementObjectId": throttle["id"], "order": "0"}]},
            {"stageKey": "IAM", "enforcements": [{"enforcementObjectId": iam["id"], "order": "0"}]}]
        client.update_policy(policy["id"], policy)
        client.activate_api(api["id"])


PLAYBOOK = """
- name: Converge the benchmark APIs
  hosts: localhost
  gather_facts: false
  tasks:
    - name: One API per item
      stoa.platform.gateway_api:
        gateway_url: "{{{{ lookup('ansible.builtin.env', 'STOA_GATEWAY_URL') }}}}"
        gateway_username: Administrator
        gateway_password: bench
        name: "bench-{{{{ item }}}}"
        version: "1.0"
        tenant: bench
        spec_path: "{docs}/{{{{ item }}}}.json"
        policies: {policies}
      loop: "{{{{ range({count}) | list }}}}"
"""


def run_playbook(sim: Simulator, count: int, workdir: Path) -> None:
    for n in range(count):
        (workdir / f"{n}.json").write_text(json.dumps(document(n)))
    playbook = workdir / "bench.yml"
    playbook.write_text(PLAYBOOK.format(docs=workdir, count=count, policies=json.dumps(POLICIES)))
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(playbook)], cwd=ROOT,
                            capture_output=True, text=True, env={**os.environ, "STOA_GATEWAY_URL": sim.url}, check=False)
    if result.returncode != 0:
        sys.exit(result.stdout[-3000:] + result.stderr[-2000:])


def measure(label: str, runner, count: int, rows: list) -> dict:
    sim = Simulator()
    try:
        figures = {}
        for run in ("first", "rerun"):
            sim.take_log()
            began = time.perf_counter()
            runner(sim, count)
            seconds = time.perf_counter() - began
            counts = sim.take_log()
            figures[run] = (seconds, counts)
            rows.append((label, run, seconds, counts))
        return figures
    finally:
        sim.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apis", type=int, default=50)
    parser.add_argument("--no-playbook", action="store_true", help="skip the ansible-playbook measurement")
    args = parser.parse_args()
    rows: list = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_playbook:
            measure("gateway_api (ansible-playbook)", lambda s, c: run_playbook(s, c, Path(tmp)), args.apis, rows)
        ours = measure("converger in-process", run_converger, args.apis, rows)
        peer = measure("peer: delete+re-create", run_upstream_peer, args.apis, rows)

    print(f"\n{args.apis} APIs, each a 3.0 document with a rate limit and an API-key policy, active\n")
    print(f"{'approach':32} {'run':6} {'wall s':>8} {'GET':>6} {'POST':>6} {'PUT':>6} {'DELETE':>7} {'total':>6}")
    for label, run, seconds, counts in rows:
        print(f"{label:32} {run:6} {seconds:8.2f} {counts['GET']:6} {counts['POST']:6} {counts['PUT']:6} "
              f"{counts['DELETE']:7} {sum(counts.values()):6}")
    for run in ("first", "rerun"):
        (o_s, o_c), (p_s, p_c) = ours[run], peer[run]
        print(f"ratio ours/peer, {run:5}: time {o_s / p_s:.2f}, requests {sum(o_c.values()) / sum(p_c.values()):.2f}, "
              f"writes {sum(v for k, v in o_c.items() if k != 'GET')}/{sum(v for k, v in p_c.items() if k != 'GET')}")


if __name__ == "__main__":
    main()
