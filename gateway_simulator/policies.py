"""Policies and policy actions (APIGatewayPolicyManagement.json, CONTRACT §6).

- Bodies are enveloped both ways (``{"policy": …}``, ``{"policyAction": …}``).
- ``PUT /policies/{id}`` replaces ``policyEnforcements`` wholesale.
- A naked ``PUT /policyActions/{id}`` answers 200 and changes nothing (LIVE-NOTES).
- An API may hold one Identify & Authorize (``evaluatePolicy``) action only.
"""
from __future__ import annotations

import copy

from .errors import bad_payload, error_details, not_found
from .http import route
from .store import new_id

# GET /policyStages: the swagger's example for 10.15, plus what CONTRACT §6.1 adds from the
# Postman collections (requestPayloadProcessing; cors and the 10.15 templates). The stage of
# ``cors`` is not documented: the Postman collection groups it under Response Processing.
STAGE_LIST = [
    ("threatProtection", "Threat Protection", "insequence",
     ["globalipdos", "ipdos", "egviolationalert", "MsgSizeLimitFilter", "OAuthFilter", "mobileAppProtectionFilter",
      "sqlInjectionFilter", "antiVirusFilter", "jsonThreatProtectionFilter", "xmlThreatProtectionFilter",
      "customFilter"]),
    ("transport", "Transport", "insequence", ["entryProtocolPolicy", "setMediaType", "enableJmsORAmqp"]),
    ("IAM", "Identity and Access Management", "insequence",
     ["inboundAuthTransport", "webServiceSecurityPolicy", "authorizeUser", "evaluatePolicy"]),
    ("requestPayloadProcessing", "Request Processing", "insequence",
     ["invokeESB", "xsltTransformation", "validateSchema", "requestTransformation", "requestDataMasking",
      "validateAPISpec"]),
    ("routing", "Routing Policies", "insequence",
     ["contentBasedRouting", "contextBasedRouting", "dynamicRouting", "loadBalancerRouting", "straightThroughRouting",
      "customHttpHeaders", "outboundTransportAuthentication", "outboundMessageAuthentication"]),
    ("LMT", "Logging, Monitoring and Traffic Optimization", "insequence",
     ["logInvocation", "monitorServicePerformance", "monitorSLA", "throttle", "serviceResultCache"]),
    ("responseProcessing", "Response Processing", "outsequence",
     ["invokeESB", "xsltTransformation", "validateSchema", "cors", "responseTransformation", "responseDataMasking",
      "validateAPISpec"]),
    ("responseFaultProcessing", "Error Handling", "faultsequence", ["conditionalErrorProcessing", "faultDataMasking"]),
]
STAGES = [(key, templates) for key, _name, _sequence, templates in STAGE_LIST]
STAGE_TEMPLATES = dict(STAGES)
KNOWN_TEMPLATES = frozenset(t for _, templates in STAGES for t in templates)
ONCE_PER_POLICY = frozenset({"evaluatePolicy"})


def _valid_parameters(parameters) -> bool:
    """Every parameter has a templateKey and either string ``values`` or nested ``parameters``."""
    if not isinstance(parameters, list):
        return False
    for parameter in parameters:
        if not isinstance(parameter, dict) or not isinstance(parameter.get("templateKey"), str):
            return False
        if "parameters" in parameter:
            if not _valid_parameters(parameter["parameters"]):
                return False
        elif not (isinstance(parameter.get("values"), list) and all(isinstance(v, str) for v in parameter["values"])):
            return False
    return True


def _action_from_body(body: dict) -> dict:
    action = body.get("policyAction")
    if not isinstance(action, dict):
        raise bad_payload()
    if action.get("templateKey") not in KNOWN_TEMPLATES:
        raise error_details(400, f"Invalid policy action template: {action.get('templateKey')}")
    if not _valid_parameters(action.get("parameters", [])):
        raise error_details(400, "Invalid policy action parameters: values must be arrays of strings")
    return action


def new_action(store, template: str, parameters: list, name: str) -> dict:
    action = {"id": new_id(), "names": [{"value": name, "locale": "en"}], "descriptions": [],
              "templateKey": template, "parameters": parameters, "active": False}
    store.policy_actions[action["id"]] = action
    return action


def new_api_policy(store, api_name: str, endpoint: str | None) -> dict:
    """The policy the gateway creates with every API: transport + straight-through routing."""
    transport = new_action(store, "entryProtocolPolicy",
                           [{"templateKey": "protocol", "values": ["http", "https"]}], "Enable HTTP / HTTPS")
    routing = new_action(store, "straightThroughRouting", [
        {"templateKey": "endpointUri", "values": [f"{endpoint or ''}/${{sys:resource_path}}"]},
        {"templateKey": "method", "values": ["CUSTOM"]},
    ], "Straight Through Routing")
    policy = {
        "id": new_id(),
        "names": [{"value": f"Default Policy for API {api_name}", "locale": "English"}],
        "descriptions": [],
        "scope": {"applicableAPITypes": ["REST", "SOAP"], "logicalConnector": "AND", "scopeConditions": []},
        "policyEnforcements": [
            {"stageKey": "transport", "enforcements": [{"enforcementObjectId": transport["id"], "order": "0"}]},
            {"stageKey": "routing", "enforcements": [{"enforcementObjectId": routing["id"], "order": "0"}]},
        ],
        "policyScope": "SERVICE", "global": False, "active": False, "systemPolicy": False,
    }
    store.policies[policy["id"]] = policy
    return policy


def clone_policy(store, policy_id: str, api_name: str) -> str:
    """A new version gets copies of its base's policy and actions (new ids)."""
    source = store.policies[policy_id]
    policy = copy.deepcopy(source)
    policy["id"] = new_id()
    policy["names"] = [{"value": f"Default Policy for API {api_name}", "locale": "English"}]
    for stage in policy["policyEnforcements"]:
        for enforcement in stage.get("enforcements", []):
            action = copy.deepcopy(store.policy_actions[enforcement["enforcementObjectId"]])
            action["id"] = new_id()
            store.policy_actions[action["id"]] = action
            enforcement["enforcementObjectId"] = action["id"]
    store.policies[policy["id"]] = policy
    return policy["id"]


def delete_policy(store, policy_id: str) -> None:
    policy = store.policies.pop(policy_id, None)
    for stage in (policy or {}).get("policyEnforcements", []):
        for enforcement in stage.get("enforcements", []):
            store.policy_actions.pop(enforcement.get("enforcementObjectId"), None)


def _check_enforcements(store, enforcements) -> None:
    if not isinstance(enforcements, list):
        raise bad_payload()
    seen_templates: list[str] = []
    for stage in enforcements:
        if not isinstance(stage, dict) or stage.get("stageKey") not in STAGE_TEMPLATES:
            raise error_details(400, f"Invalid stage key: {stage.get('stageKey') if isinstance(stage, dict) else stage}")
        for enforcement in stage.get("enforcements", []):
            action = store.policy_actions.get(enforcement.get("enforcementObjectId"))
            if action is None:
                # LIVE-NOTES: a dangling action reference makes 10.15 fail with an NPE.
                raise error_details(500, "java.lang.NullPointerException")
            if action["templateKey"] not in STAGE_TEMPLATES[stage["stageKey"]]:
                raise error_details(400, f"Policy action {action['templateKey']} is not applicable to stage {stage['stageKey']}")
            seen_templates.append(action["templateKey"])
    for template in ONCE_PER_POLICY:
        if seen_templates.count(template) > 1:
            raise error_details(400, "An API can be associated with only one policy action with template id "
                                     "Identify & Authorize Application")


@route("GET", "/policyStages")
def list_stages(req):
    return 200, {"stages": [{"stageKey": key, "names": [{"value": name, "locale": "en"}], "descriptions": [],
                             "policyActionTemplates": templates, "sequence": sequence}
                            for key, name, sequence, templates in STAGE_LIST]}


@route("GET", "/policies")
def list_policies(req):
    wanted = req.list_arg("policyIds")
    policies = [p for pid, p in req.store.policies.items() if not wanted or pid in wanted]
    return 200, {"policy": policies}


@route("GET", "/policies/{policy_id}")
def get_policy(req, policy_id):
    if policy_id not in req.store.policies:
        raise not_found(policy_id)
    return 200, {"policy": req.store.policies[policy_id]}


@route("POST", "/policies")
def create_policy(req):
    policy = req.json_object().get("policy")
    if not isinstance(policy, dict):
        raise bad_payload()
    if "scope" not in policy and policy.get("policyEnforcements"):
        raise error_details(500, "With out Setting scope, policy actions cannot be added to the policy")
    _check_enforcements(req.store, policy.get("policyEnforcements", []))
    policy = {**policy, "id": new_id(), "systemPolicy": False}
    policy.setdefault("active", False)
    req.store.policies[policy["id"]] = policy
    return 201, {"policy": policy}


@route("PUT", "/policies/{policy_id}")
def update_policy(req, policy_id):
    current = req.store.policies.get(policy_id)
    if current is None:
        raise not_found(policy_id)
    policy = req.json_object().get("policy")
    if not isinstance(policy, dict):
        raise bad_payload()
    enforcements = policy.get("policyEnforcements", [])
    _check_enforcements(req.store, enforcements)
    updated = {**current, **{k: v for k, v in policy.items() if k not in ("id", "systemPolicy")}}
    updated["policyEnforcements"] = enforcements  # wholesale: stages not sent are gone
    req.store.policies[policy_id] = updated
    return 200, {"policy": updated}


@route("DELETE", "/policies/{policy_id}")
def remove_policy(req, policy_id):
    policy = req.store.policies.get(policy_id)
    if policy is None:
        raise not_found(policy_id)
    if policy.get("global") and policy.get("active"):
        raise error_details(500, "An active global policy cannot be deleted. Deactivate it first.")
    delete_policy(req.store, policy_id)
    return 204, None


@route("GET", "/policyActions")
def list_actions(req):
    wanted = req.list_arg("policyActionIds")
    actions = [a for aid, a in req.store.policy_actions.items() if not wanted or aid in wanted]
    return 200, {"policyAction": actions}


@route("GET", "/policyActions/{action_id}")
def get_action(req, action_id):
    if action_id not in req.store.policy_actions:
        raise not_found(action_id)
    return 200, {"policyAction": req.store.policy_actions[action_id]}


@route("POST", "/policyActions")
def create_action(req):
    action = _action_from_body(req.json_object())
    created = {"names": [], "descriptions": [], "active": False, **action, "id": new_id()}
    req.store.policy_actions[created["id"]] = created
    return 201, {"policyAction": created}


@route("PUT", "/policyActions/{action_id}")
def update_action(req, action_id):
    current = req.store.policy_actions.get(action_id)
    if current is None:
        raise not_found(action_id)
    body = req.json_object()
    if "policyAction" not in body:
        return 200, {"policyAction": current}  # LIVE-NOTES: naked PUT, 200, nothing persisted
    action = _action_from_body(body)
    if action["templateKey"] != current["templateKey"]:
        raise error_details(400, "The template of a policy action cannot be changed")
    updated = {**current, **action, "id": action_id}
    req.store.policy_actions[action_id] = updated
    return 200, {"policyAction": updated}


@route("DELETE", "/policyActions/{action_id}")
def remove_action(req, action_id):
    if req.store.policy_actions.pop(action_id, None) is None:
        raise not_found(action_id)
    return 204, None
