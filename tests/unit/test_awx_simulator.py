"""The AWX simulator answers as AWX 24.6.1 does, for the clients that will talk to it.

Fidelity is checked with the real clients: awxkit's Python API, the ``awx``
CLI, the awx.awx collection (modules and lookup), and the calls
ansible-rulebook's ``run_job_template`` makes. Behaviour (prompts ignored,
statuses, faults) is checked on the wire with ``requests``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

import awx_simulator
from awx_simulator.seed import load_objects

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOKEN = "sim-token-0123456789"
PASSWORD = "sim-password"
OBJECTS = load_objects(ROOT / "awx" / "objects.yml")


@pytest.fixture(scope="module")
def _server():
    sim, server = awx_simulator.start(token=TOKEN, username="admin", password=PASSWORD)
    yield sim
    server.shutdown()
    server.server_close()


@pytest.fixture
def sim(_server):
    """A fresh simulator: seeded objects, no jobs, no faults, fast jobs."""
    _server.reset()
    return _server


@pytest.fixture
def http(sim):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    base = sim.url

    def call(method, path, **kwargs):
        kwargs.setdefault("timeout", 10)
        return session.request(method, base + path, **kwargs)

    yield call
    session.close()


def template(http, name):
    found = http("GET", "/api/v2/job_templates/", params={"name": name}).json()
    assert found["count"] == 1, found
    return found["results"][0]


def awxkit_v2(sim, attempts=None):
    from awxkit import api, config

    config.base_url = sim.url
    if attempts is not None:
        config.client_connection_attempts = attempts
    root = api.Api()
    root.connection.login(None, None, token=TOKEN)
    return root.get().available_versions.v2.get()


@pytest.fixture
def awxkit_config():
    from awxkit import config

    saved = dict(config)
    yield
    config.clear()
    config.update(saved)


# -- roots, auth, seeded objects ---------------------------------------------------------------
def test_roots_need_no_auth_and_list_what_awxkit_walks(sim):
    root = requests.get(sim.url + "/api/", timeout=5)
    assert root.status_code == 200
    assert root.json()["current_version"] == "/api/v2/"
    assert root.json()["available_versions"] == {"v2": "/api/v2/"}
    v2 = requests.get(sim.url + "/api/v2/", timeout=5).json()
    for name in ("ping", "config", "me", "organizations", "inventory", "credentials", "projects", "job_templates",
                 "workflow_job_templates", "jobs", "workflow_jobs", "unified_job_templates", "unified_jobs", "labels"):
        assert v2[name].startswith("/api/v2/"), name
    assert v2["inventory"] == "/api/v2/inventories/"
    assert requests.get(sim.url + "/api/v2/ping/", timeout=5).json()["version"] == "24.6.1"
    # Without the trailing slash Django redirects, as AWX does.
    redirect = requests.get(sim.url + "/api/v2/ping", timeout=5, allow_redirects=False)
    assert (redirect.status_code, redirect.headers["Location"]) == (301, "/api/v2/ping/")


def test_auth_bearer_basic_token_creation_and_401s(sim):
    config = sim.url + "/api/v2/config/"
    anonymous = requests.get(config, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Authentication credentials were not provided. "
                                          "To establish a login session, visit /api/login/."}
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer realm=api")
    assert "X-API-Product-Version" not in anonymous.headers
    assert requests.get(config, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    bad_basic = requests.get(config, auth=("admin", "wrong"), timeout=5)
    assert bad_basic.status_code == 401 and bad_basic.json()["detail"].startswith("Invalid username/password.")

    ok = requests.get(config, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert ok.status_code == 200 and ok.json()["version"] == "24.6.1"
    assert (ok.headers["X-API-Product-Name"], ok.headers["X-API-Product-Version"]) == ("AWX", "24.6.1")
    assert requests.get(config, auth=("admin", PASSWORD), timeout=5).status_code == 200
    me = requests.get(sim.url + "/api/v2/me/", auth=("admin", PASSWORD), timeout=5).json()
    assert me["count"] == 1 and me["results"][0]["username"] == "admin"

    # What awx.awx modules do with a username/password: a token from POST /api/v2/tokens/.
    created = requests.post(sim.url + "/api/v2/tokens/", auth=("admin", PASSWORD), timeout=5,
                            json={"description": "t", "application": None, "scope": "write"})
    assert created.status_code == 201
    new_token = created.json()["token"]
    assert requests.get(config, headers={"Authorization": f"Bearer {new_token}"}, timeout=5).status_code == 200
    listed = requests.get(sim.url + "/api/v2/tokens/", auth=("admin", PASSWORD), timeout=5).json()
    assert new_token not in json.dumps(listed)  # shown once, as AWX does
    deleted = requests.delete(sim.url + f"/api/v2/tokens/{created.json()['id']}/", auth=("admin", PASSWORD), timeout=5)
    assert deleted.status_code == 204
    assert requests.get(config, headers={"Authorization": f"Bearer {new_token}"}, timeout=5).status_code == 401


def test_seeded_objects_are_those_of_awx_objects_yml(sim, http):
    names = sorted(t["name"] for t in http("GET", "/api/v2/job_templates/", params={"page_size": 200}).json()["results"])
    assert names == sorted(t["name"] for t in OBJECTS["awx_job_templates"])
    defaults = OBJECTS["awx_job_template_defaults"]
    for spec in OBJECTS["awx_job_templates"]:
        jt = template(http, spec["name"])
        assert jt["playbook"] == spec["playbook"]
        assert jt["summary_fields"]["organization"]["name"] == "STOA"
        assert jt["summary_fields"]["inventory"]["name"] == defaults["inventory"]
        for ask in ("ask_variables_on_launch", "ask_inventory_on_launch", "ask_credential_on_launch"):
            assert jt[ask] is defaults[ask], (spec["name"], ask)
        assert jt["ask_limit_on_launch"] is False and jt["allow_simultaneous"] is False
    inventories = {i["name"] for i in http("GET", "/api/v2/inventories/").json()["results"]}
    assert inventories == {"STOA dev", "STOA staging", "STOA prod"}
    assert {o["name"] for o in http("GET", "/api/v2/organizations/").json()["results"]} == {"Default", "STOA"}
    workflow = http("GET", "/api/v2/workflow_job_templates/", params={"name": "Full Deploy"}).json()["results"][0]
    nodes = http("GET", workflow["related"]["workflow_nodes"]).json()["results"]
    assert [(n["identifier"], n["summary_fields"]["unified_job_template"]["name"]) for n in nodes] == [
        ("aliases", "Sync Alias"), ("apis", "Sync Gateway")]
    assert nodes[0]["success_nodes"] == [nodes[1]["id"]]
    # !unsafe injector templates are kept verbatim.
    types = {t["name"]: t for t in http("GET", "/api/v2/credential_types/").json()["results"]}
    assert types["STOA Kafka"]["injectors"]["env"]["KAFKA_BOOTSTRAP_SERVERS"] == "{{ bootstrap_servers }}"


def test_list_filters_ordering_and_pagination(sim, http):
    first = http("GET", "/api/v2/job_templates/", params={"page_size": 5}).json()
    assert first["count"] == len(OBJECTS["awx_job_templates"]) and len(first["results"]) == 5
    assert first["previous"] is None and "page=2" in first["next"] and "page_size=5" in first["next"]
    second = http("GET", first["next"]).json()
    assert "page=1" in second["previous"]
    names = [t["name"] for t in first["results"] + second["results"]]
    assert names == sorted(names)  # JobTemplate's default ordering is by name
    assert http("GET", "/api/v2/job_templates/", params={"page": 99}).status_code == 404

    picked = http("GET", "/api/v2/job_templates/", params={"name__in": "Deploy API,IAM Sync", "order_by": "-name"}).json()
    assert [t["name"] for t in picked["results"]] == ["IAM Sync", "Deploy API"]
    ids = [t["id"] for t in picked["results"]]
    by_id = http("GET", "/api/v2/job_templates/", params={"id__in": f"{ids[0]},{ids[1]}"}).json()
    assert sorted(t["id"] for t in by_id["results"]) == sorted(ids)
    assert http("GET", "/api/v2/job_templates/", params={"organization__name": "Default"}).json()["count"] == 0
    with_api = [t for t in OBJECTS["awx_job_templates"] if "api" in t["name"].lower() and t["name"] != "Deploy API"]
    assert len(with_api) >= 3  # Register API Gateway, Promote API, Rollback API, ...
    filtered = http("GET", "/api/v2/job_templates/", params={"name__icontains": "api", "not__name": "Deploy API"})
    assert filtered.json()["count"] == len(with_api)
    # awx.awx's get_one: or__id / or__name
    either = http("GET", "/api/v2/inventories/", params={"or__id": 999, "or__name": "STOA prod"}).json()
    assert [i["name"] for i in either["results"]] == ["STOA prod"]
    unknown = http("GET", "/api/v2/job_templates/", params={"colour": "red"})
    assert unknown.status_code == 400 and "colour" in unknown.json()["detail"]
    named = http("GET", "/api/v2/job_templates/Deploy API++STOA/")
    assert named.status_code == 200 and named.json()["name"] == "Deploy API"


# -- launching ---------------------------------------------------------------------------------
def test_launch_answer_is_the_job_with_location_and_ignored_fields(sim, http):
    jt = template(http, "Deploy API")
    info = http("GET", jt["related"]["launch"]).json()
    assert info["ask_variables_on_launch"] is True and info["can_start_without_user_input"] is False
    assert info["defaults"]["inventory"] == {"name": "STOA dev", "id": jt["inventory"]}
    prod = http("GET", "/api/v2/inventories/", params={"name": "STOA prod"}).json()["results"][0]
    launched = http("POST", jt["related"]["launch"], json={
        "extra_vars": {"tenant_id": "t1", "stoa_launch_id": "L-1"}, "inventory": prod["id"], "limit": "gw1"})
    assert launched.status_code == 201
    body = launched.json()
    assert body["job"] == body["id"] and body["type"] == "job"
    assert launched.headers["Location"].endswith(f"/api/v2/jobs/{body['id']}/")
    assert body["url"] == f"/api/v2/jobs/{body['id']}/"
    assert body["status"] == "pending" and body["failed"] is False and body["launch_type"] == "manual"
    assert body["started"] is None and body["finished"] is None and body["elapsed"] == 0.0
    assert json.loads(body["extra_vars"]) == {"tenant_id": "t1", "stoa_launch_id": "L-1"}
    assert body["inventory"] == prod["id"] and body["job_template"] == jt["id"]
    assert body["ignored_fields"] == {"limit": "gw1"}  # ask_limit_on_launch is false
    assert body["limit"] == ""
    for name in ("stdout", "job_events", "cancel", "relaunch", "job_template"):
        assert body["related"][name].startswith("/api/v2/")
    assert body["summary_fields"]["job_template"]["name"] == "Deploy API"
    assert sim.launch_count(template="Deploy API") == 1 and sim.launch_count(launch_id="L-1") == 1


def test_variables_dropped_when_the_template_does_not_ask_for_them(sim, http):
    sim.update_job_template("Deploy API", ask_variables_on_launch=False, extra_vars={"environment": "dev"})
    jt = template(http, "Deploy API")
    assert jt["ask_variables_on_launch"] is False
    launched = http("POST", jt["related"]["launch"],
                    json={"extra_vars": {"tenant_id": "t1", "environment": "dev"}, "inventory": jt["inventory"]})
    assert launched.status_code == 201
    body = launched.json()
    # The value equal to the template's own is neither accepted nor ignored; the rest is ignored.
    assert body["ignored_fields"] == {"extra_vars": {"tenant_id": "t1"}}
    assert json.loads(body["extra_vars"]) == {"environment": "dev"}

    # With a survey only the survey's variables get through.
    sim.update_job_template("Deploy API", survey_enabled=True, survey_spec={
        "name": "", "description": "", "spec": [
            {"variable": "tenant_id", "question_name": "Tenant", "type": "text", "required": True},
            {"variable": "dry_run", "question_name": "Dry run", "type": "multiplechoice", "choices": ["yes", "no"],
             "required": False, "default": "no"}]})
    surveyed = http("POST", jt["related"]["launch"], json={"extra_vars": {"tenant_id": "t2", "api_name": "x"}}).json()
    assert surveyed["ignored_fields"] == {"extra_vars": {"api_name": "x"}}
    assert json.loads(surveyed["extra_vars"]) == {"environment": "dev", "dry_run": "no", "tenant_id": "t2"}
    missing = http("POST", jt["related"]["launch"], json={"extra_vars": {"api_name": "x"}})
    assert missing.status_code == 400
    assert missing.json() == {"variables_needed_to_start": ["'tenant_id' value missing"]}
    assert http("GET", jt["related"]["launch"]).json()["variables_needed_to_start"] == ["tenant_id"]


def test_bad_launch_bodies_are_400_and_unknown_templates_404(sim, http):
    launch = template(http, "Deploy API")["related"]["launch"]
    as_list = http("POST", launch, json={"extra_vars": [1, 2]})
    assert as_list.status_code == 400
    assert as_list.json()["extra_vars"][0].startswith("Cannot parse as JSON (error: ")
    scalar = http("POST", launch, json={"extra_vars": "just words"})
    assert scalar.status_code == 400 and "is not a dictionary" in scalar.json()["extra_vars"][0]
    as_yaml = http("POST", launch, json={"extra_vars": "tenant_id: t1\nforce: true\n"})
    assert as_yaml.status_code == 201 and json.loads(as_yaml.json()["extra_vars"]) == {"tenant_id": "t1", "force": True}
    broken = http("POST", launch, data=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["detail"].startswith("JSON parse error")
    bad_inventory = http("POST", launch, json={"inventory": 9999})
    assert bad_inventory.json() == {"inventory": ['Invalid pk "9999" - object does not exist.']}
    assert http("POST", "/api/v2/job_templates/9999/launch/", json={}).status_code == 404
    assert http("GET", "/api/v2/jobs/9999/").json() == {"detail": "Not found."}
    statuses = [record["status"] for record in sim.launches]
    assert statuses == [400, 400, 201, 400, 400, 404]
    assert sim.counters()["jobs_by_template"] == {"Deploy API": 1}


def test_statuses_progress_on_the_clock_and_sim_fail_fails(sim, http):
    sim.configure(pending_seconds=10, running_seconds=20)
    launch = template(http, "Sync Gateway")["related"]["launch"]
    ok_id = http("POST", launch, json={"extra_vars": {"x": 1}}).json()["job"]
    bad_id = http("POST", launch, json={"extra_vars": {"sim_fail": True}}).json()["job"]
    pending = http("GET", f"/api/v2/jobs/{ok_id}/").json()
    assert (pending["status"], pending["started"], pending["event_processing_finished"]) == ("pending", None, False)
    assert http("GET", f"/api/v2/jobs/{ok_id}/job_events/").json()["count"] == 0
    sim.advance_clock(10)
    running = http("GET", f"/api/v2/jobs/{ok_id}/").json()
    assert running["status"] == "running" and running["started"] and running["finished"] is None
    assert running["event_processing_finished"] is False and 0 <= running["elapsed"] < 1
    assert [e["event"] for e in http("GET", f"/api/v2/jobs/{ok_id}/job_events/").json()["results"]] == [
        "playbook_on_start", "playbook_on_play_start", "playbook_on_task_start"]
    sim.advance_clock(20)
    done = http("GET", f"/api/v2/jobs/{ok_id}/").json()
    assert done["status"] == "successful" and done["failed"] is False and done["event_processing_finished"] is True
    assert done["elapsed"] == pytest.approx(20, abs=0.01) and done["finished"] > done["started"]
    failed = http("GET", f"/api/v2/jobs/{bad_id}/").json()
    assert failed["status"] == "failed" and failed["failed"] is True
    stdout = http("GET", f"/api/v2/jobs/{bad_id}/stdout/", params={"format": "txt"})
    assert stdout.headers["Content-Type"].startswith("text/plain") and "FAILED!" in stdout.text
    events = http("GET", f"/api/v2/jobs/{ok_id}/job_events/", params={"order_by": "start_line"}).json()
    assert [e["event"] for e in events["results"]][-1] == "playbook_on_stats"
    assert http("GET", f"/api/v2/jobs/{ok_id}/stdout/", params={"format": "json"}).json()["content"].count("ok: [localhost]") == 1

    # A template set to fail.
    sim.configure(outcomes={"Sync Gateway": "failed"})
    again = http("POST", launch, json={}).json()["job"]
    sim.advance_clock(30)
    assert http("GET", f"/api/v2/jobs/{again}/").json()["status"] == "failed"


def test_batched_polling_as_ansible_rulebook_does(sim, http):
    """GET config, unified_job_templates?name=, POST launch, then jobs/?id__in=... until finished."""
    assert http("GET", "/api/v2/config/").json()["version"] == "24.6.1"
    found = http("GET", "/api/v2/unified_job_templates/", params={"name": "Deploy API"}).json()
    assert found["count"] == 1 and found["next"] is None
    item = found["results"][0]
    assert item["type"] == "job_template" and item["summary_fields"]["organization"]["name"] == "STOA"
    assert {item[k] for k in ("ask_limit_on_launch", "ask_inventory_on_launch", "ask_variables_on_launch")} == {False, True}
    wf = http("GET", "/api/v2/unified_job_templates/", params={"name": "Full Deploy"}).json()["results"][0]
    assert wf["type"] == "workflow_job_template" and wf["related"]["launch"].endswith("/launch/")
    urls = [http("POST", item["related"]["launch"], json={"extra_vars": {"ansible_eda": {"n": n}}}).json()["url"]
            for n in range(3)]
    ids = [int(u.rstrip("/").rsplit("/", 1)[1]) for u in urls]
    first = http("GET", "/api/v2/jobs/", params={"id__in": ",".join(map(str, ids)), "page_size": 3}).json()
    assert sorted(j["id"] for j in first["results"]) == ids
    assert {j["status"] for j in first["results"]} <= {"pending", "running", "successful"}
    time.sleep(0.2)
    later = http("GET", "/api/v2/jobs/", params={"id__in": ",".join(map(str, ids)), "status": "successful"}).json()
    assert later["count"] == 3
    unified = http("GET", "/api/v2/unified_jobs/", params={"id__in": ",".join(map(str, ids))}).json()
    assert unified["count"] == 3 and {j["type"] for j in unified["results"]} == {"job"}


def test_labels_as_ansible_rulebook_uses_them(sim, http):
    """Get or create a label in the organization, launch with it, find the job by label."""
    org = http("GET", "/api/v2/organizations/", params={"name": "STOA"}).json()["results"][0]
    assert http("GET", "/api/v2/labels/", params={"name": "eda"}).json()["count"] == 0
    created = http("POST", "/api/v2/labels/", json={"name": "eda", "organization": org["id"]})
    assert created.status_code == 201 and created.json()["organization"] == org["id"]
    again = http("POST", "/api/v2/labels/", json={"name": "eda", "organization": org["id"]})
    assert again.status_code == 400 and "already exists" in again.text
    assert http("POST", "/api/v2/labels/", json={"name": "x"}).json() == {"organization": ["This field is required."]}
    jt = template(http, "Deploy API")
    ignored = http("POST", jt["related"]["launch"], json={"labels": [created.json()["id"]]}).json()
    assert ignored["ignored_fields"] == {"labels": [created.json()["id"]]}  # ask_labels_on_launch is false
    sim.update_job_template("Deploy API", ask_labels_on_launch=True)
    labelled = http("POST", jt["related"]["launch"], json={"labels": [created.json()["id"]]}).json()
    assert labelled["ignored_fields"] == {} and labelled["summary_fields"]["labels"]["results"][0]["name"] == "eda"
    found = http("GET", jt["related"]["jobs"], params={"labels__name": "eda"}).json()
    assert [j["id"] for j in found["results"]] == [labelled["id"]]


def test_cancel_a_running_job(sim, http):
    sim.configure(pending_seconds=0, running_seconds=30)
    job_id = http("POST", template(http, "Sync Alias")["related"]["launch"], json={}).json()["job"]
    assert http("GET", f"/api/v2/jobs/{job_id}/cancel/").json() == {"can_cancel": True}
    assert http("POST", f"/api/v2/jobs/{job_id}/cancel/").status_code == 202
    job = http("GET", f"/api/v2/jobs/{job_id}/").json()
    assert (job["status"], job["failed"]) == ("canceled", True) and job["canceled_on"]
    assert http("POST", f"/api/v2/jobs/{job_id}/cancel/").status_code == 405


def test_workflow_launch_spawns_node_jobs_in_order(sim, http):
    wfjt = http("GET", "/api/v2/workflow_job_templates/", params={"name": "Full Deploy"}).json()["results"][0]
    launched = http("POST", wfjt["related"]["launch"], json={"extra_vars": {"environment": "dev"}, "limit": "x"})
    assert launched.status_code == 201
    body = launched.json()
    assert body["workflow_job"] == body["id"] and body["type"] == "workflow_job"
    assert body["ignored_fields"] == {"limit": "x"}
    assert launched.headers["Location"].endswith(f"/api/v2/workflow_jobs/{body['id']}/")
    deadline = time.monotonic() + 5
    while http("GET", f"/api/v2/workflow_jobs/{body['id']}/").json()["status"] != "successful":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    nodes = http("GET", f"/api/v2/workflow_jobs/{body['id']}/workflow_nodes/").json()["results"]
    children = [http("GET", f"/api/v2/jobs/{n['job']}/").json() for n in nodes]
    assert [c["name"] for c in children] == ["Sync Alias", "Sync Gateway"]
    assert all(c["launch_type"] == "workflow" and json.loads(c["extra_vars"]) == {"environment": "dev"} for c in children)
    assert children[1]["created"] >= children[0]["finished"]  # the second node starts when the first succeeded
    failing = http("POST", wfjt["related"]["launch"], json={"extra_vars": {"sim_fail": True}}).json()["id"]
    deadline = time.monotonic() + 5
    while (wf := http("GET", f"/api/v2/workflow_jobs/{failing}/").json())["status"] not in ("failed", "successful"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert wf["status"] == "failed"
    nodes = http("GET", f"/api/v2/workflow_jobs/{failing}/workflow_nodes/").json()["results"]
    assert nodes[1]["job"] is None and nodes[1]["do_not_run"] is True  # no success edge fired


# -- faults ------------------------------------------------------------------------------------
def test_503_window_for_launches_then_for_everything(sim, http):
    launch = template(http, "Deploy API")["related"]["launch"]
    sim.faults.error(503, requests=2, only="launch")
    assert http("GET", "/api/v2/jobs/").status_code == 200  # not a launch: untouched
    refused = [http("POST", launch, json={}) for _ in range(2)]
    assert [r.status_code for r in refused] == [503, 503]
    assert refused[0].headers["Content-Type"] == "text/html" and "503" in refused[0].text
    assert http("POST", launch, json={}).status_code == 201
    assert sim.counters()["jobs"] == 1  # the refused launches created nothing

    sim.faults.error(503, seconds=0.5)
    assert http("GET", "/api/v2/ping/").status_code == 503
    time.sleep(0.5)
    assert http("GET", "/api/v2/ping/").status_code == 200


def test_slow_answers(sim, http):
    sim.faults.delay(250, requests=1)
    started = time.monotonic()
    assert http("GET", "/api/v2/ping/").status_code == 200
    assert time.monotonic() - started >= 0.25
    started = time.monotonic()
    http("GET", "/api/v2/ping/")
    assert time.monotonic() - started < 0.25  # the window was one request


def test_lost_answer_the_job_exists_but_the_client_sees_an_error(sim, http):
    launch = template(http, "Deploy API")["related"]["launch"]
    sim.faults.lose_answers(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        http("POST", launch, json={"extra_vars": {"stoa_launch_id": "lost-1"}})
    found = http("GET", "/api/v2/jobs/", params={"extra_vars__icontains": "lost-1"}).json()
    assert found["count"] == 1 and json.loads(found["results"][0]["extra_vars"])["stoa_launch_id"] == "lost-1"
    assert [r["answered"] for r in sim.launches] == [False]
    assert sim.counters()["jobs_by_launch_id"] == {"lost-1": 1}
    assert http("POST", launch, json={}).status_code == 201  # only the next one was lost


def test_awxkit_retries_a_lost_launch_and_launches_twice(sim, awxkit_config):
    """awxkit's Connection re-sends a request after a connection error (5 attempts by default):
    a launch whose answer is lost runs twice. With one attempt the caller sees the error."""
    from requests.exceptions import ConnectionError as RequestsConnectionError

    v2 = awxkit_v2(sim, attempts=5)  # awxkit's default (AWXKIT_CLIENT_CONNECTION_ATTEMPTS); set: the config is global
    jt = v2.job_templates.get(name="Deploy API").results[0]
    sim.faults.lose_answers(1)
    job = jt.launch({"extra_vars": {"stoa_launch_id": "retry-1"}})
    assert job.status in ("pending", "running", "successful")
    assert sim.launch_count(launch_id="retry-1") == 2

    v2 = awxkit_v2(sim, attempts=1)
    jt = v2.job_templates.get(name="Deploy API").results[0]
    sim.faults.lose_answers(1)
    with pytest.raises(RequestsConnectionError):
        jt.launch({"extra_vars": {"stoa_launch_id": "once-1"}})
    assert sim.launch_count(launch_id="once-1") == 1


def test_refused_connections_then_recovery_on_the_same_port(sim, http):
    assert http("GET", "/api/v2/ping/").status_code == 200  # a keep-alive connection is open
    sim.faults.refuse(0.4)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        http("GET", "/api/v2/ping/")
    with pytest.raises(requests.exceptions.ConnectionError) as refused:
        requests.get(sim.url + "/api/v2/ping/", timeout=5)
    assert "refused" in str(refused.value).lower()
    assert sim.faults.describe()["refusing_seconds_left"] > 0
    while time.monotonic() - started < 3:
        try:
            answer = requests.get(sim.url + "/api/v2/ping/", timeout=5)
            break
        except requests.exceptions.ConnectionError:
            time.sleep(0.05)
    assert answer.status_code == 200
    assert 0.35 <= time.monotonic() - started < 1.5


def test_strict_filters_refuse_extra_vars_lookups_as_awx_does(sim, http):
    http("POST", template(http, "Deploy API")["related"]["launch"], json={"extra_vars": {"stoa_launch_id": "s-1"}})
    assert http("GET", "/api/v2/jobs/", params={"extra_vars__icontains": "s-1"}).json()["count"] == 1
    sim.configure(strict_filters=True)
    strict = http("GET", "/api/v2/jobs/", params={"extra_vars__icontains": "s-1"})
    assert strict.status_code == 403 and strict.json() == {"detail": "Filtering on extra_vars is not allowed."}
    # What works on a real AWX: list the template's recent jobs and read extra_vars from the list.
    jt_id = template(http, "Deploy API")["id"]
    recent = http("GET", "/api/v2/jobs/", params={"job_template": jt_id, "order_by": "-id", "page_size": 50}).json()
    assert [json.loads(j["extra_vars"]).get("stoa_launch_id") for j in recent["results"]] == ["s-1"]


def test_admin_api_over_http(sim):
    admin = sim.url + "/_sim"
    created = requests.post(admin + "/job_templates", timeout=5, json={
        "name": "No Vars", "playbook": "playbooks/deploy_api.yml", "inventory": "STOA prod",
        "ask_variables_on_launch": False, "sim_outcome": "failed"})
    assert created.status_code == 201, created.text
    assert created.json()["summary_fields"]["inventory"]["name"] == "STOA prod"
    patched = requests.patch(admin + "/job_templates/No Vars", timeout=5, json={"ask_limit_on_launch": True})
    assert patched.json()["ask_limit_on_launch"] is True
    assert requests.post(admin + "/job_templates", timeout=5, json={"name": "x", "colour": 1}).status_code == 400
    config = requests.patch(admin + "/config", timeout=5, json={"running_seconds": 0.01}).json()
    assert config["running_seconds"] == 0.01
    launched = requests.post(f"{sim.url}/api/v2/job_templates/{created.json()['id']}/launch/", timeout=5,
                             headers={"Authorization": f"Bearer {TOKEN}"},
                             json={"extra_vars": {"stoa_launch_id": "adm-1"}, "limit": "h1"}).json()
    assert launched["ignored_fields"] == {"extra_vars": {"stoa_launch_id": "adm-1"}}
    assert launched["limit"] == "h1"
    counters = requests.get(admin + "/counters", timeout=5).json()
    assert counters["jobs_by_template"] == {"No Vars": 1} and counters["jobs_by_launch_id"] == {"adm-1": 1}
    assert requests.get(admin + "/launches", timeout=5).json()[0]["body"]["limit"] == "h1"
    finished = requests.post(admin + f"/jobs/{launched['id']}/finish", timeout=5, json={"status": "error"}).json()
    assert finished["status"] == "error" and finished["job_explanation"]
    assert requests.post(admin + "/faults/error", timeout=5, json={"status": 503, "requests": 1}).status_code == 201
    assert requests.get(admin + "/faults", timeout=5).json()["errors"][0]["requests_left"] == 1
    assert requests.delete(admin + "/faults", timeout=5).status_code == 204
    assert [r["path"] for r in requests.get(admin + "/requests", timeout=5).json()] == [
        f"/api/v2/job_templates/{created.json()['id']}/launch/"]
    assert requests.post(admin + "/reset", timeout=5).status_code == 200
    assert requests.get(admin + "/launches", timeout=5).json() == []


def test_state_file_keeps_jobs_across_restarts(tmp_path):
    state = tmp_path / "awx.json"
    sim, server = awx_simulator.start(token=TOKEN, state_file=state)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        jt = requests.get(sim.url + "/api/v2/job_templates/?name=IAM Sync", headers=headers, timeout=5).json()["results"][0]
        job_id = requests.post(sim.url + jt["related"]["launch"], headers=headers, timeout=5, json={}).json()["job"]
    finally:
        server.shutdown()
        server.server_close()
    again, server = awx_simulator.start(token=TOKEN, state_file=state)
    try:
        job = requests.get(f"{again.url}/api/v2/jobs/{job_id}/", headers=headers, timeout=5).json()
        assert job["name"] == "IAM Sync"
        assert again.launch_count(template="IAM Sync") == 1
    finally:
        server.shutdown()
        server.server_close()


# -- the real clients ----------------------------------------------------------------------------
def test_awxkit_launch_wait_and_workflow(sim, awxkit_config):
    v2 = awxkit_v2(sim)
    jt = v2.job_templates.get(name="Deploy API").results[0]
    job = jt.launch({"extra_vars": {"tenant_id": "t1", "stoa_launch_id": "kit-1"}})
    job.wait_until_completed(interval=0.05, timeout=10)
    assert job.status == "successful" and job.is_successful
    assert "ok: [localhost]" in job.result_stdout
    failing = jt.launch({"extra_vars": {"sim_fail": True}})
    failing.wait_until_completed(interval=0.05, timeout=10)
    assert failing.status == "failed" and not failing.is_successful
    workflow = v2.workflow_job_templates.get(name="Full Deploy").results[0].launch({"extra_vars": {"environment": "dev"}})
    workflow.wait_until_completed(interval=0.05, timeout=10)
    assert workflow.is_successful
    assert sim.launches[0]["body"] == {"extra_vars": {"tenant_id": "t1", "stoa_launch_id": "kit-1"}}


def _awx_cli(sim, *args, **kwargs):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTROLLER_", "TOWER_", "AWXKIT_"))}
    return subprocess.Popen([str(BIN / "awx"), "--conf.host", sim.url, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def test_awx_cli_lists_and_launches_with_monitor_and_wait(sim):
    listed = _awx_cli(sim, "--conf.token", TOKEN, "job_templates", "list", "--name", "Deploy API", "-f", "json")
    login = _awx_cli(sim, "--conf.username", "admin", "--conf.password", PASSWORD, "login", "-f", "json")
    out, err = login.communicate(timeout=60)
    assert login.returncode == 0, err
    token = json.loads(out)["token"]  # `awx login`: a personal token, usable as a bearer token
    assert requests.get(sim.url + "/api/v2/me/", headers={"Authorization": f"Bearer {token}"}, timeout=5).ok
    out, err = listed.communicate(timeout=60)
    assert listed.returncode == 0, err
    assert [t["name"] for t in json.loads(out)["results"]] == ["Deploy API"]
    # The two launches run side by side: --monitor/--wait poll every 2.5 s at least.
    monitored = _awx_cli(sim, "--conf.token", TOKEN, "job_templates", "launch", "Deploy API",
                         "--inventory", "STOA dev", "--credentials", "gateway dev,kafka",
                         "--extra_vars", '{"tenant_id": "t1", "stoa_launch_id": "cli-1"}', "--monitor", "--interval", "2.5",
                         "-f", "json")
    waited = _awx_cli(sim, "--conf.username", "admin", "--conf.password", PASSWORD, "job_templates", "launch",
                      "Sync Gateway", "--extra_vars", '{"sim_fail": true}', "--wait", "--interval", "2.5", "-f", "json")
    out, err = monitored.communicate(timeout=60)
    assert monitored.returncode == 0, err
    assert "ok: [localhost]" in out and '"status": "successful"' in out
    out, err = waited.communicate(timeout=60)
    assert waited.returncode == 1, err  # the awx CLI exits 1 when the job failed
    assert '"status": "failed"' in out
    bodies = {r["template_name"]: r["body"] for r in sim.launches}
    # The CLI sends extra_vars as a JSON string and resolves names to ids.
    assert json.loads(bodies["Deploy API"]["extra_vars"]) == {"tenant_id": "t1", "stoa_launch_id": "cli-1"}
    assert len(bodies["Deploy API"]["credentials"]) == 2
    assert json.loads(bodies["Sync Gateway"]["extra_vars"]) == {"sim_fail": True}


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/awx.awx.controller:
      controller_host: "{{ sim_url }}"
      controller_oauthtoken: "{{ sim_token }}"
      validate_certs: false
  tasks:
    - name: Launch by template name
      awx.awx.job_launch:
        name: Deploy API
        organization: STOA
        inventory: STOA prod
        credentials: [gateway prod, kafka]
        extra_vars: {tenant_id: t1, stoa_launch_id: pb-1}
      register: launched
    - name: Wait for it
      awx.awx.job_wait:
        job_id: "{{ launched.id }}"
        interval: 0.1
        timeout: 20
      register: waited
    - name: Read the template back through the lookup
      ansible.builtin.set_fact:
        found: "{{ query('awx.awx.controller_api', 'job_templates', query_params={'name': 'Deploy API'},
                   host=sim_url, oauth_token=sim_token, verify_ssl=false) }}"
    - name: A template that does not ask for variables is refused by the module itself
      awx.awx.job_launch:
        name: Rollback API
        extra_vars: {tenant_id: t1}
      register: refused
      ignore_errors: true
    - name: Report
      ansible.builtin.copy:
        dest: "{{ report }}"
        content: "{{ {'launched': launched.id, 'status': waited.status, 'found': found | map(attribute='name') | list,
                      'refused': refused.errors | default([]) | join(' ')} | to_json }}"
"""


def test_awx_collection_modules_and_lookup(sim, tmp_path):
    sim.update_job_template("Rollback API", ask_variables_on_launch=False)
    playbook = tmp_path / "awx.yml"
    playbook.write_text(PLAYBOOK)
    report = tmp_path / "report.json"
    site = Path(yaml.__file__).resolve().parents[1]  # the venv's site-packages, which hold ansible_collections
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTROLLER_", "TOWER_", "KAFKA_"))}
    env["ANSIBLE_COLLECTIONS_PATH"] = f"{ROOT / 'collections'}:{site}"
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), str(playbook), "-e", f"sim_url={sim.url}", "-e", f"sim_token={TOKEN}",
         "-e", f"report={report}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads(report.read_text())
    assert outcome["status"] == "successful" and outcome["found"] == ["Deploy API"]
    assert "does not allow for it to be overridden" in outcome["refused"]
    launches = sim.launches
    assert [r["template_name"] for r in launches] == ["Deploy API"]  # the refused one never reached AWX
    prod = sim.store.find("inventories", "STOA prod")["id"]
    assert launches[0]["body"]["inventory"] == prod and len(launches[0]["body"]["credentials"]) == 2
    job = next(j for j in sim.jobs if j["id"] == outcome["launched"])
    assert job["status"] == "successful" and job["inventory"] == prod


def test_cli_script_serves_until_terminated(tmp_path):
    process = subprocess.Popen([str(BIN / "stoa-awx-sim"), "--port", "0", "--token", TOKEN],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reader = threading.Timer(20, process.kill)
        reader.start()
        line = process.stdout.readline()
        reader.cancel()
        assert line.startswith("stoa-awx-sim listening on http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[-1].replace("/api/v2/", "")
        ping = requests.get(url + "/api/v2/jobs/", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert ping.status_code == 200 and ping.json()["count"] == 0
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0


def test_queueing_of_templates_without_allow_simultaneous(sim, http):
    """Off by default; with queue_non_simultaneous a second job waits for the first, as AWX's task manager does."""
    sim.configure(pending_seconds=0, running_seconds=60)
    launch = template(http, "Promote API")["related"]["launch"]
    first, second = (http("POST", launch, json={"extra_vars": {"stoa_launch_id": f"q{n}"}}).json()["id"] for n in (1, 2))
    assert {j["status"] for j in sim.find_jobs(template="Promote API")} == {"running"}
    sim.configure(queue_non_simultaneous=True)
    third = http("POST", launch, json={"extra_vars": {"stoa_launch_id": "q3"}}).json()["id"]
    assert [j["status"] for j in sim.find_jobs(launch_id="q3")] == ["pending"]
    sim.advance_clock(60)
    statuses = {j["id"]: j["status"] for j in sim.jobs}
    assert (statuses[first], statuses[second], statuses[third]) == ("successful", "successful", "running")
    sim.advance_clock(60)
    assert http("GET", f"/api/v2/jobs/{third}/").json()["status"] == "successful"
    sim.update_job_template("Promote API", allow_simultaneous=True)
    fourth, fifth = (http("POST", launch, json={}).json()["id"] for _ in range(2))
    assert {http("GET", f"/api/v2/jobs/{j}/").json()["status"] for j in (fourth, fifth)} == {"running"}


def test_a_simulator_bug_is_a_500_never_a_silent_drop(sim, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(sim, "handle", broken)
    answer = requests.get(sim.url + "/api/v2/ping/", timeout=5)
    assert answer.status_code == 500 and answer.json() == {"detail": "A server error has occurred."}
