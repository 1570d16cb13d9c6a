"""The simulator against the official webMethods API Gateway 10.15 swagger files.

Every endpoint the collection's gateway client calls is exercised through the
client itself; each answer is validated against the response schema that the
official swagger declares for that method, path and status. Where a live 10.15
is known to answer differently, the one listed deviation (with its source) in
``gateway_simulator.deviations`` says how the answer maps onto the spec.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import stoa_tools  # noqa: F401 - puts ./collections on sys.path
from ansible_collections.stoa.platform.plugins.module_utils import gateway_client
from gateway_simulator.deviations import DEVIATIONS

SPECS = Path(__file__).resolve().parents[3] / "shared" / "webmethods" / "specs"
SPEC_FILES = ["APIGatewayServiceManagement", "APIGatewayAlias", "APIGatewayApplication", "APIGatewayPolicyManagement"]

OPENAPI_30 = {
    "openapi": "3.0.3",
    "info": {"title": "Contract", "version": "1.0", "description": "contract test"},
    "servers": [{"url": "http://backend.local:8080/v1"}],
    "paths": {"/things": {"get": {"responses": {"200": {"description": "ok"}}}}},
}


class RecordingClient(gateway_client.GatewayClient):
    """The real client; also keeps each decoded answer for validation."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answers: list[tuple[str, str, int, object]] = []

    def call(self, method, template, **kwargs):
        body = super().call(method, template, **kwargs)
        self.answers.append((method, template, self.calls[-1][2], body))
        return body


def load_specs():
    operations = {}
    for name in SPEC_FILES:
        spec = json.loads((SPECS / f"{name}.json").read_text())
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                if method == "parameters":
                    continue
                template = re.sub(r"\{[^}]+\}", "{id}", path)
                operations[(method.upper(), template)] = (name, spec, operation)
    return operations


def exercise_every_endpoint(sim) -> RecordingClient:
    """One pass through everything the collection does on a gateway."""
    client = RecordingClient(sim.url, sim.username, sim.password, retries=0)
    doc = json.dumps(OPENAPI_30)
    api = client.import_api("contract-api", "1.0", doc, "openapi", "first")
    api_id = api["id"]
    client.list_apis()
    full = client.get_api(api_id)
    client.export_api(api_id)
    client.update_api_document(api_id, "contract-api", "1.0", doc.replace("first", "second"), "openapi")
    full["apiDefinition"]["apiTags"] = ["tenant:acme"]
    client.update_api(api_id, full)
    client.activate_api(api_id)
    client.deactivate_api(api_id)

    client.policy_stages()
    policy = client.get_policy(full["policies"][0])
    client.list_policies([policy["id"]])
    action = client.create_policy_action({"names": [{"value": "rate", "locale": "en"}], "templateKey": "throttle",
                                          "parameters": [{"templateKey": "alertInterval", "values": ["1"]}]})
    action["parameters"] = [{"templateKey": "alertInterval", "values": ["2"]}]
    client.update_policy_action(action["id"], action)
    client.get_policy_actions([action["id"]])
    policy["policyEnforcements"].append({"stageKey": "LMT", "enforcements": [{"enforcementObjectId": action["id"], "order": "0"}]})
    client.update_policy(policy["id"], policy)
    policy["policyEnforcements"] = [s for s in policy["policyEnforcements"] if s["stageKey"] != "LMT"]
    client.update_policy(policy["id"], policy)
    client.delete_policy_action(action["id"])

    alias = client.create_alias({"name": "kc", "type": "authServerAlias", "authServerType": "EXTERNAL",
                                 "localIntrospectionConfig": {"issuer": "http://kc/realms/stoa", "jwksuri": "http://kc/certs"},
                                 "scopes": [{"name": "openid", "description": "OpenID"}]})
    backend = client.create_alias({"name": "backend", "type": "endpoint", "endPointURI": "http://backend.local:8080",
                                   "connectionTimeout": 30, "readTimeout": 30})
    client.list_aliases()
    client.get_alias(backend["id"])
    client.update_alias(backend["id"], {**backend, "readTimeout": 60})

    strategy = client.create_strategy({"name": "acme-app", "type": "OAUTH2", "authServerAlias": "kc",
                                       "clientId": "acme-app", "audience": "account"})
    client.list_strategies()
    client.get_strategy(strategy["id"])
    client.update_strategy(strategy["id"], {**strategy, "audience": "api-gateway"})

    app = client.create_application({"name": "acme-app", "description": "d", "version": "1.0",
                                      "identifiers": [{"key": "openIdClaims", "name": "azp", "value": ["acme-app"]}],
                                      "authStrategyIds": [strategy["id"]]})
    client.list_applications()
    client.get_application(app["id"])
    client.update_application(app["id"], {**app, "description": "changed"})
    client.set_application_apis(app["id"], [api_id])
    client.application_apis(app["id"])
    client.api_applications(api_id)

    scope = client.create_scope({"scopeName": "kc:acme:contract-api:1.0:read", "scopeDescription": "d",
                                 "apiScopes": [api_id], "requiredAuthScopes": [{"authServerAlias": "kc", "scopeName": "openid"}]})
    client.list_scopes()
    client.get_scope(scope["id"])
    client.update_scope(scope["id"], {**scope, "scopeDescription": "changed"})

    client.create_api_version(api_id, "2.0", retain_applications=True)
    client.api_versions(api_id)

    client.delete_scope(scope["id"])
    client.delete_application(app["id"])
    client.delete_strategy(strategy["id"])
    client.delete_alias(backend["id"])
    client.delete_alias(alias["id"])
    client.delete_api(api_id)
    return client


def schema_errors(spec: dict, schema: dict, instance) -> list[str]:
    validator = jsonschema.Draft4Validator({**schema, "definitions": spec["definitions"]})
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(instance)]


def test_every_client_endpoint_answers_as_the_official_spec_says(gateway_sim):
    operations = load_specs()
    client = exercise_every_endpoint(gateway_sim)
    exercised = {(m, t) for m, t, _s, _b in client.answers}
    assert exercised == set(gateway_client.ENDPOINTS), "endpoints the client declares but the test did not exercise"

    problems = []
    for method, template, status, body in client.answers:
        key = (method, template)
        assert key in operations, f"{method} {template} is not in the official 10.15 swagger files"
        _spec_name, spec, operation = operations[key]
        deviation = DEVIATIONS.get(key)
        spec_status = deviation.spec_status(status) if deviation else status
        declared = operation["responses"].get(str(spec_status))
        if declared is None:
            problems.append(f"{method} {template}: status {status} is not declared by the spec")
            continue
        schema = declared.get("schema")
        if schema is None:
            if status == 204 and body is not None:
                problems.append(f"{method} {template}: 204 with a body")
            continue
        instances = deviation.instances(body) if deviation else [body]
        schema = deviation.schema(schema) if deviation else schema
        for instance in instances:
            problems += [f"{method} {template} ({status}): {e}" for e in schema_errors(spec, schema, instance)]
    assert not problems, "\n".join(problems)


def test_every_deviation_names_its_source_and_is_needed(gateway_sim):
    """A listed deviation must cite a source and must be one the raw answer actually needs."""
    operations = load_specs()
    client = exercise_every_endpoint(gateway_sim)
    answers = {(m, t): (s, b) for m, t, s, b in client.answers}
    for key, deviation in DEVIATIONS.items():
        assert deviation.source.strip(), key
        assert key in answers, f"deviation for {key} is about an endpoint the client does not call"
        status, body = answers[key]
        _name, spec, operation = operations[key]
        declared = operation["responses"].get(str(status))
        raw_ok = declared is not None and (
            declared.get("schema") is None or not schema_errors(spec, declared["schema"], body))
        assert not raw_ok, f"{key}: the raw answer already matches the spec; drop the deviation"

