"""gateway_api_set and gateway_alias_set through ansible-playbook, against a fresh gateway simulator.

Check mode must predict exactly what the real run then does, on a mixed set (new, changed, unchanged, to
prune); a rerun changes nothing and sends GETs only; an API that fails (an invalid document, a gateway 500)
leaves the others converged and is named in the failure.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import requests
import yaml

import stoa_tools  # noqa: F401
from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_converge import ApiConverger, DesiredApi
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient

ROOT = Path(__file__).resolve().parents[2]
DOC = {"openapi": "3.0.3", "info": {"title": "X", "version": "1.0", "description": "x"},
       "servers": [{"url": "http://x.backend/v1"}],
       "paths": {"/x": {"get": {"responses": {"200": {"description": "ok"}}}}}}


def run_set(tmp_path, sim, module, options, check=False, name="run"):
    """One task of ``module`` with ``options``; returns (return code, registered result)."""
    out = tmp_path / f"{name}.json"
    playbook = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "set", module: options, "register": "r", "ignore_errors": True},
        {"name": "keep", "ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": str(out)},
         "check_mode": False}]}]
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(playbook))
    env = {**os.environ, **sim.env, "ANSIBLE_FORCE_COLOR": "0"}
    # The interpreter of this virtualenv (discovery may find a python3.x on PATH without the collection's deps).
    args = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
            "-e", f"ansible_python_interpreter={sys.executable}", str(path)]
    done = subprocess.run(args + (["--check"] if check else []), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert out.exists(), done.stdout[-4000:] + done.stderr[-2000:]
    return json.loads(out.read_text())


def api(name, **extra):
    return {"name": name, "version": "1.0", "tenant": "acme", "spec_content": copy.deepcopy(DOC), **extra}


def ops(result):
    return [(r["name"], r["version"], r["pruned"], r["operations"], bool(r["error"])) for r in result["results"]]


def test_check_mode_predicts_the_real_run_on_a_mixed_set_and_a_rerun_changes_nothing(tmp_path, gateway_sim):
    client = GatewayClient(gateway_sim.url, gateway_sim.username, gateway_sim.password)
    for name, tenant in (("same", "acme"), ("drift", "acme"), ("gone", "acme"), ("hand", None), ("other", "zeta")):
        ApiConverger(client).present(DesiredApi(name, "1.0", document=copy.deepcopy(DOC), document_type="openapi",
                                                tenant=tenant, policies={"rate_limit": {"requests": 5}}))
    wanted = {"apis": [api("same", policies={"rate_limit": {"requests": 5}}),
                       api("drift", description="changed", policies={"rate_limit": {"requests": 50},
                                                                    "cors": {"allowed_origins": ["https://a"]}}),
                       api("new", policies={"authentication": {"methods": ["api_key"]}}),
                       api("old", state="absent")],
              "tenants": ["acme"], "prune": True, "parallelism": 3}

    gateway_sim.clear_log()
    predicted = run_set(tmp_path, gateway_sim, "stoa.platform.gateway_api_set", wanted, check=True, name="check")
    assert not predicted.get("failed"), predicted.get("msg")
    assert gateway_sim.non_get_requests() == []
    real = run_set(tmp_path, gateway_sim, "stoa.platform.gateway_api_set", wanted, name="real")
    assert not real.get("failed"), real.get("msg")
    assert ops(predicted) == ops(real)
    by_name = {r["name"]: r for r in real["results"]}
    assert by_name["same"]["operations"] == [] and not by_name["same"]["changed"]
    assert by_name["drift"]["operations"] and by_name["new"]["operations"][0] == "create"
    assert by_name["gone"]["pruned"] and by_name["gone"]["operations"] == ["deactivate", "delete"]
    assert by_name["old"]["operations"] == [] and not by_name["old"]["changed"]  # absent already
    assert [e["name"] for e in real["removed"]] == ["gone"] and [e["name"] for e in real["untagged"]] == ["hand"]
    assert real["summary"]["changed"] == 3 and real["summary"]["failed"] == 0
    names = {a["apiName"] for a in client.list_apis()}
    assert names == {"same", "drift", "new", "hand", "other"}

    gateway_sim.clear_log()
    rerun = run_set(tmp_path, gateway_sim, "stoa.platform.gateway_api_set", wanted, name="rerun")
    assert not rerun["changed"] and rerun["summary"]["unchanged"] == 4, rerun["summary"]
    assert gateway_sim.requests() and gateway_sim.non_get_requests() == []
    # Shared reads: the list once, each named API once, policies and actions batched, stages never.
    assert len(gateway_sim.requests()) == 1 + 3 + 1 + 1 + 2, "list, 3 APIs, policies, actions, 2 others: " + " ".join(r["path"][17:25] + "?" + r["query"][:9] for r in gateway_sim.requests())


def test_one_failing_api_leaves_the_others_converged_and_is_named(tmp_path, gateway_sim):
    client = GatewayClient(gateway_sim.url, gateway_sim.username, gateway_sim.password)
    flaky = ApiConverger(client).present(DesiredApi("flaky", "1.0", document=copy.deepcopy(DOC),
                                                    document_type="openapi", tenant="acme"))[2]
    requests.post(f"{gateway_sim.url}/_sim/faults", json={"method": "PUT", "path": f"^/apis/{flaky['api_id']}$",
                                                          "status": 500}, timeout=5).raise_for_status()
    invalid = copy.deepcopy(DOC)
    invalid["paths"]["/x"]["get"]["responses"] = {"200": {}}  # a response needs a description
    wanted = {"apis": [api("good-1"), api("flaky", description="needs a PUT"), api("bad", spec_content=invalid),
                       api("good-2")]}
    result = run_set(tmp_path, gateway_sim, "stoa.platform.gateway_api_set", wanted)
    assert result["failed"]
    assert result["msg"].startswith("2 of 4 APIs failed: ") and "flaky 1.0: " in result["msg"] and "bad 1.0: " in result["msg"]
    by_name = {r["name"]: r for r in result["results"]}
    assert "500" in by_name["flaky"]["error"] and "reactivate_after_failure" in by_name["flaky"]["operations"]
    assert "not a valid OpenAPI 3.0 document" in by_name["bad"]["error"] and by_name["bad"]["operations"] == []
    live = {a["apiName"]: a for a in client.list_apis()}
    assert live["good-1"]["isActive"] and live["good-2"]["isActive"] and live["flaky"]["isActive"]
    assert "bad" not in live


def alias(name, url, timeout=30000):
    return {"apiVersion": "stoa.cab-i.com/v1", "kind": "GatewayAlias", "metadata": {"name": name},
            "spec": {"type": "endpoint", "endpoint": {"url": url, "connectionTimeout": timeout}}}


def test_alias_set_check_mode_predicts_the_real_run_and_a_broken_document_stays_alone(tmp_path, gateway_sim):
    first = {"definitions": [alias("a-same", "http://same"), alias("a-changed", "http://before")]}
    assert not run_set(tmp_path, gateway_sim, "stoa.platform.gateway_alias_set", first, name="seed").get("failed")
    wanted = {"definitions": [alias("a-same", "http://same"), alias("a-changed", "http://after"),
                              alias("a-new", "http://new"), {"kind": "GatewayAlias", "metadata": {"name": "a-broken"}}]}
    gateway_sim.clear_log()
    predicted = run_set(tmp_path, gateway_sim, "stoa.platform.gateway_alias_set", wanted, check=True, name="check")
    assert gateway_sim.non_get_requests() == []
    real = run_set(tmp_path, gateway_sim, "stoa.platform.gateway_alias_set", wanted, name="real")
    summary = [(r["name"], r["changed"], r["operations"], bool(r["error"])) for r in real["results"]]
    assert summary == [(r["name"], r["changed"], r["operations"], bool(r["error"])) for r in predicted["results"]]
    assert summary == [("a-same", False, [], False), ("a-changed", True, ["update"], False),
                       ("a-new", True, ["create"], False), ("a-broken", False, [], True)]
    assert real["failed"] and "1 of 4 aliases failed: a-broken: apiVersion must be" in real["msg"]
    gateway_sim.clear_log()
    rerun = run_set(tmp_path, gateway_sim, "stoa.platform.gateway_alias_set", {"definitions": wanted["definitions"][:3]},
                    name="rerun")
    assert not rerun["changed"] and not rerun.get("failed") and gateway_sim.non_get_requests() == []


def test_rendering_many_apis_returns_each_alias_they_route_to_once(tmp_path, gateway_sim):
    """gitops_api_config with ``apis`` gives gateway_alias_set its input: two APIs routing to one alias, and
    a third alias nobody names, make one definition (Jinja's ``unique`` over rendered dicts cost 6.5 s at 500)."""
    import shutil
    repo = tmp_path / "gitops"
    shutil.copytree(ROOT / "examples" / "gitops", repo)
    weather_dev = repo / "tenants/tenant-demo/apis/weather-api/environments/dev.yaml"
    weather_dev.write_text(weather_dev.read_text().replace("weather-backend-dev", "petstore-backend-dev"))
    result = run_set(tmp_path, gateway_sim, "stoa.platform.gitops_api_config", {
        "path": str(repo), "environment": "dev",
        "apis": [{"tenant": "tenant-demo", "api": "petstore-api"}, {"tenant": "tenant-demo", "api": "weather-api"}]})
    assert not result.get("failed"), result
    assert [r["api"] for r in result["rendered"]] == ["petstore-api", "weather-api"]
    assert [[a["metadata"]["name"] for a in r["aliases"]] for r in result["rendered"]] == [
        ["petstore-backend-dev"], ["petstore-backend-dev"]]
    assert [a["metadata"]["name"] for a in result["aliases"]] == ["petstore-backend-dev"]


def test_registered_apis_renders_the_apis_of_the_tenants_registered_for_the_environment(tmp_path, gateway_sim):
    """Sync Gateway's discovery: a tenant directory that iam/tenants.yaml does not register for the
    environment is left out, and the registered tenants come back for prune."""
    import shutil
    repo = tmp_path / "gitops"
    shutil.copytree(ROOT / "examples" / "gitops", repo)
    shutil.copytree(repo / "tenants/tenant-demo", repo / "tenants/tenant-ghost")
    options = {"path": str(repo), "registered_apis": True}
    dev = run_set(tmp_path, gateway_sim, "stoa.platform.gitops_api_config", {**options, "environment": "dev"}, name="dev")
    assert not dev.get("failed"), dev
    assert dev["tenants"] == ["tenant-demo"]
    assert [(r["tenant"], r["api"]) for r in dev["rendered"]] == [("tenant-demo", "petstore-api"),
                                                                   ("tenant-demo", "weather-api")]
    registry = repo / "iam/tenants.yaml"
    registry.write_text(registry.read_text() + "  - {id: [not-a-string]}\n")
    broken = run_set(tmp_path, gateway_sim, "stoa.platform.gitops_api_config", {**options, "environment": "dev"},
                     name="broken")
    assert broken.get("failed") and "iam/tenants.yaml" in broken["msg"], broken
