"""The simulator behaves as LIVE-NOTES.md and CONTRACT.md say a 10.15 gateway does.

Raw HTTP on purpose: these tests pin the wire behaviour the collection's
client has to cope with, independently of that client.
"""
from __future__ import annotations

import functools
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

OAS30 = {
    "openapi": "3.0.3",
    "info": {"title": "Pets", "version": "1.0"},
    "servers": [{"url": "http://backend.local:8080/v1"}],
    "paths": {"/pets": {"get": {"responses": {"200": {"description": "ok"}}}}},
}
SWAGGER20 = {
    "swagger": "2.0", "info": {"title": "Old", "version": "1"}, "host": "legacy.local", "basePath": "/api",
    "paths": {"/x": {"get": {"responses": {"200": {"description": "ok"}}}}},
}


class Wire:
    def __init__(self, sim):
        self.base = sim.url + "/rest/apigateway"
        self.auth = (sim.username, sim.password)

    def __call__(self, method, path, **kwargs):
        return requests.request(method, self.base + path, auth=kwargs.pop("auth", self.auth), timeout=10, **kwargs)

    def import_doc(self, doc, name="pets", doc_type="openapi", version="1.0"):
        return self("POST", "/apis", files={"file": ("api.json", json.dumps(doc))},
                    data={"apiName": name, "type": doc_type, "apiVersion": version})


@pytest.fixture
def wire(gateway_sim):
    return Wire(gateway_sim)


def created_id(response):
    assert response.status_code == 201, response.text
    return response.json()["apiResponse"]["api"]["id"]


def test_auth_is_basic_and_health_needs_none(wire, gateway_sim):
    assert requests.get(wire.base + "/health", timeout=5).status_code == 200
    assert wire("GET", "/apis", auth=None).status_code == 401
    assert wire("GET", "/apis", auth=("Administrator", "wrong")).status_code == 401
    assert wire("GET", "/apis").status_code == 200


def test_empty_list_is_a_not_found_entry(wire):
    assert wire("GET", "/apis").json() == {"apiResponse": [{"responseStatus": "NOT_FOUND"}]}


def test_import_creates_inactive_api_with_default_policy_and_rejects_duplicates(wire):
    api = wire.import_doc(OAS30).json()["apiResponse"]
    assert api["api"]["isActive"] is False
    assert api["teams"] and api["api"]["nativeEndpoint"][0]["uri"] == "http://backend.local:8080/v1"
    policy = wire("GET", f"/policies/{api['api']['policies'][0]}").json()["policy"]
    assert [s["stageKey"] for s in policy["policyEnforcements"]] == ["transport", "routing"]
    again = wire.import_doc(OAS30, version="2.0")
    assert again.status_code == 409  # apiName exists, whatever the version


def test_swagger_20_accepted_and_openapi_31_refused(wire):
    assert wire.import_doc(SWAGGER20, name="old", doc_type="swagger").status_code == 201
    refused = wire.import_doc({**OAS30, "openapi": "3.1.0"}, name="new")
    assert refused.status_code == 400
    assert "3.1.0" in refused.json()["apiResponse"]["errorReason"]
    assert wire.import_doc(OAS30, name="mismatch", doc_type="swagger").status_code == 400


def test_import_by_url_and_by_json_definition(wire, tmp_path):
    (tmp_path / "api.json").write_text(json.dumps(OAS30))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/api.json" % server.server_address[1]
        by_url = wire("POST", "/apis", json={"apiName": "from-url", "apiVersion": "1.0", "type": "openapi", "url": url})
        assert by_url.status_code == 201, by_url.text
    finally:
        server.shutdown()
        server.server_close()
    by_json = wire("POST", "/apis", json={"apiName": "inline", "type": "openapi", "apiDefinition": SWAGGER20})
    assert by_json.status_code == 400  # declared openapi, got a Swagger 2.0 document
    by_json = wire("POST", "/apis", json={"apiName": "inline", "type": "swagger", "apiDefinition": SWAGGER20})
    assert by_json.status_code == 201
    names = sorted(e["api"]["apiName"] for e in wire("GET", "/apis").json()["apiResponse"])
    assert names == ["from-url", "inline"]
    assert wire("POST", "/apis", json={"apiName": "nothing", "type": "openapi"}).status_code == 400


def test_response_schema_ref_crashes_the_import(wire):
    doc = json.loads(json.dumps(OAS30))
    doc["paths"]["/pets"]["get"]["responses"]["200"]["content"] = {
        "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}
    assert wire.import_doc(doc).status_code == 500


def test_update_refused_while_active_and_activation_is_not_idempotent(wire):
    api_id = created_id(wire.import_doc(OAS30))
    assert wire("PUT", f"/apis/{api_id}/deactivate").status_code == 400  # already inactive
    assert wire("PUT", f"/apis/{api_id}/activate").status_code == 200
    assert wire("PUT", f"/apis/{api_id}/activate").status_code == 400  # already active
    changed = {**OAS30, "info": {"title": "Pets", "version": "1.0", "description": "v2"}}
    files = {"file": ("api.json", json.dumps(changed))}
    assert wire("PUT", f"/apis/{api_id}", files=files, data={"type": "openapi"}).status_code == 400
    assert wire("DELETE", f"/apis/{api_id}").status_code == 400  # delete refused while active
    wire("PUT", f"/apis/{api_id}/deactivate")
    updated = wire("PUT", f"/apis/{api_id}", files=files, data={"type": "openapi"})
    assert updated.status_code == 200 and updated.json()["apiResponse"]["api"]["id"] == api_id
    exported = wire("GET", f"/apis/{api_id}", params={"format": "openapi"}).json()
    assert exported["info"]["description"] == "v2"


def test_unknown_api_id_answers_401(wire):
    assert wire("GET", "/apis/00000000-0000-0000-0000-000000000000").status_code == 401
    assert wire("POST", "/apis/00000000-0000-0000-0000-000000000000/versions", json={"newApiVersion": "2"}).status_code == 401


@pytest.mark.parametrize("body, kept", [
    ({"newApiVersion": "2.0", "retainApplications": True}, True),
    ({"newApiVersion": "2.0", "RetainApplications": True}, False),
    ({"newApiVersion": "2.0", "retainApplications": "true"}, False),
    ({"newApiVersion": "2.0"}, False),
])
def test_versions_keep_subscriptions_only_with_exact_retain_applications(wire, body, kept):
    api_id = created_id(wire.import_doc(OAS30))
    app = wire("POST", "/applications", json={"name": "consumer"}).json()
    assert wire("PUT", f"/applications/{app['id']}/apis", json={"apiIDs": [api_id]}).status_code == 204
    minted = wire("POST", f"/apis/{api_id}/versions", json=body)
    assert minted.status_code == 201  # success status even when subscriptions are lost
    new_id = minted.json()["apiResponse"]["api"]["id"]
    assert new_id != api_id
    apps = wire("GET", f"/apis/{new_id}/applications").json()["applications"]
    assert bool(apps) is kept
    # Only from the latest version.
    again = wire("POST", f"/apis/{api_id}/versions", json={"newApiVersion": "3.0", "retainApplications": True})
    assert again.status_code == 400 and "latest" in again.json()["apiResponse"]["errorReason"]


def test_policy_action_naked_put_is_ignored_and_policy_put_replaces_stages(wire):
    api_id = created_id(wire.import_doc(OAS30))
    policy_id = wire("GET", f"/apis/{api_id}").json()["apiResponse"]["api"]["policies"][0]
    action = {"templateKey": "throttle", "parameters": [{"templateKey": "alertInterval", "values": ["1"]}]}
    assert wire("POST", "/policyActions", json=action).status_code == 400  # must be enveloped
    created = wire("POST", "/policyActions", json={"policyAction": action})
    assert created.status_code == 201
    action_id = created.json()["policyAction"]["id"]
    naked = {**action, "parameters": [{"templateKey": "alertInterval", "values": ["9"]}]}
    assert wire("PUT", f"/policyActions/{action_id}", json=naked).status_code == 200
    stored = wire("GET", f"/policyActions/{action_id}").json()["policyAction"]
    assert stored["parameters"][0]["values"] == ["1"]  # nothing persisted
    policy = wire("GET", f"/policies/{policy_id}").json()["policy"]
    policy["policyEnforcements"] = [{"stageKey": "LMT", "enforcements": [{"enforcementObjectId": action_id, "order": "0"}]}]
    assert wire("PUT", f"/policies/{policy_id}", json={"policy": policy}).status_code == 200
    stages = wire("GET", f"/policies/{policy_id}").json()["policy"]["policyEnforcements"]
    assert [s["stageKey"] for s in stages] == ["LMT"]  # transport and routing are gone


def test_one_identify_and_authorize_per_policy(wire):
    api_id = created_id(wire.import_doc(OAS30))
    policy_id = wire("GET", f"/apis/{api_id}").json()["apiResponse"]["api"]["policies"][0]
    ids = [wire("POST", "/policyActions", json={"policyAction": {"templateKey": "evaluatePolicy", "parameters": []}})
           .json()["policyAction"]["id"] for _ in range(2)]
    policy = wire("GET", f"/policies/{policy_id}").json()["policy"]
    policy["policyEnforcements"].append(
        {"stageKey": "IAM", "enforcements": [{"enforcementObjectId": i, "order": str(n)} for n, i in enumerate(ids)]})
    assert wire("PUT", f"/policies/{policy_id}", json={"policy": policy}).status_code == 400


def test_aliases_builtin_masked_and_type_fixed(wire):
    names = {a["name"] for a in wire("GET", "/alias").json()["alias"]}
    assert {"local", "OKTA", "PingFederate", "ServiceConsulDefault", "EurekaDefault"} <= names
    created = wire("POST", "/alias", json={
        "name": "kc", "type": "authServerAlias", "authServerType": "EXTERNAL",
        "remoteIntrospectionConfig": {"introspectionEndpoint": "http://kc/introspect", "clientId": "gw", "clientSecret": "s3cr3t"}})
    assert created.status_code == 201
    alias = created.json()["alias"]
    assert "s3cr3t" not in json.dumps(wire("GET", f"/alias/{alias['id']}").json())
    assert wire("POST", "/alias", json={"name": "kc", "type": "simple", "value": "x"}).status_code == 400
    assert wire("PUT", f"/alias/{alias['id']}", json={**alias, "type": "simple"}).status_code == 405
    assert wire("GET", "/alias/nope").status_code == 404
    assert "errorDetails" in wire("GET", "/alias/nope").json()


def test_application_envelopes_and_bare_array_association(wire):
    api_id = created_id(wire.import_doc(OAS30))
    created = wire("POST", "/applications", json={"name": "app", "identifiers": [{"key": "apiKey", "value": ["x"]}]})
    assert created.status_code == 400  # closed identifier enum
    app = wire("POST", "/applications", json={"name": "app"}).json()
    assert "id" in app and app["accessTokens"]["apiAccessKey_credentials"]["apiAccessKey"]
    single = wire("GET", f"/applications/{app['id']}").json()
    assert isinstance(single["applications"], list) and single["applications"][0]["id"] == app["id"]
    bare = wire("PUT", f"/applications/{app['id']}/apis", json=[api_id])
    assert bare.status_code == 500 and bare.json() == {"errorDetails": None}


def test_strategy_list_is_bare_and_shows_secret_while_get_masks_it(wire):
    wire("POST", "/alias", json={"name": "kc", "type": "authServerAlias", "authServerType": "EXTERNAL"})
    body = {"name": "s", "type": "OAUTH2", "authServerAlias": "kc", "clientId": "c", "clientSecret": "topsecret"}
    created = wire("POST", "/strategies", json=body).json()["strategy"]
    assert created["clientSecret"] != "topsecret"
    listed = wire("GET", "/strategies").json()
    assert isinstance(listed, list) and listed[0]["clientSecret"] == "topsecret"


def test_request_log_records_method_path_status(wire, gateway_sim):
    gateway_sim.clear_log()
    wire("GET", "/apis")
    wire("GET", "/apis/unknown")
    log = gateway_sim.requests()
    assert [(r["method"], r["path"].rsplit("/", 1)[-1], r["status"]) for r in log] == [
        ("GET", "apis", 200), ("GET", "unknown", 401)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_keeps_state_in_a_file_across_restarts(tmp_path):
    state = tmp_path / "state.json"
    port = free_port()

    def run():
        proc = subprocess.Popen([sys.executable, "-m", "gateway_simulator", "--port", str(port), "--state", str(state)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/rest/apigateway/health", timeout=1).status_code == 200:
                    return proc
            except requests.ConnectionError:
                time.sleep(0.1)
        proc.kill()
        raise AssertionError(proc.stdout.read().decode())

    base = f"http://127.0.0.1:{port}/rest/apigateway"
    proc = run()
    try:
        created = requests.post(base + "/apis", auth=("Administrator", "manage"), timeout=5,
                                files={"file": ("a.json", json.dumps(OAS30))}, data={"apiName": "kept", "type": "openapi"})
        assert created.status_code == 201
    finally:
        proc.terminate()
        proc.wait(10)
    proc = run()
    try:
        names = [e["api"]["apiName"] for e in requests.get(base + "/apis", auth=("Administrator", "manage"), timeout=5).json()["apiResponse"]]
        assert names == ["kept"]
    finally:
        proc.terminate()
        proc.wait(10)
