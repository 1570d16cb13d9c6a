"""ApiConverger against the gateway simulator: policies, failures half-way, check mode."""
from __future__ import annotations

import copy

import pytest

import stoa_tools  # noqa: F401
from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_converge import (
    ApiConverger,
    ConvergeError,
    DesiredApi,
)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient, GatewayError

DOC = {
    "openapi": "3.0.3",
    "info": {"title": "Pay", "version": "1.0", "description": "payments"},
    "servers": [{"url": "http://pay.backend/v1"}],
    "paths": {"/pay": {"post": {"responses": {"200": {"description": "ok"}}}}},
}
POLICIES = {
    "rate_limit": {"requests": 5, "period": "second", "interval": 1, "alert_message": "slow down"},
    "cors": {"allowed_origins": ["https://b", "https://a"], "allowed_methods": ["GET"], "allowed_headers": None,
             "exposed_headers": None, "allow_credentials": True, "max_age": 600},
    "authentication": {"methods": ["oauth2", "api_key"], "application_lookup": "strict", "allow_anonymous": False,
                       "logical_connector": "OR"},
}


@pytest.fixture
def client(gateway_sim):
    return GatewayClient(gateway_sim.url, gateway_sim.username, gateway_sim.password, retries=0)


def desired(**overrides):
    values = dict(name="pay", version="1.0", document=copy.deepcopy(DOC), document_type="openapi", tenant="acme",
                  policies=copy.deepcopy(POLICIES))
    values.update(overrides)
    return DesiredApi(**values)


def converge(client, check_mode=False, **overrides):
    converger = ApiConverger(client, check_mode=check_mode)
    return converger.present(desired(**overrides)), converger


def test_all_three_policies_round_trip_and_rerun_is_clean(client, gateway_sim):
    (changed, _before, after), _c = converge(client)
    assert changed and after["policies"]["cors"]["allowed_origins"] == ["https://a", "https://b"]
    assert after["policies"]["authentication"]["methods"] == ["api_key", "oauth2"]
    gateway_sim.clear_log()
    (changed, before, after), converger = converge(client)
    assert not changed and converger.operations == [] and before == after
    assert gateway_sim.non_get_requests() == []


def test_policy_change_updates_the_action_in_place_without_deactivating(client, gateway_sim):
    (_changed, _before, first), _c = converge(client)
    policy_id = client.get_api(first["api_id"])["policies"][0]
    ids_before = sorted(e["enforcementObjectId"] for s in client.get_policy(policy_id)["policyEnforcements"]
                        for e in s["enforcements"])
    changed_limits = copy.deepcopy(POLICIES)
    changed_limits["rate_limit"]["requests"] = 50
    gateway_sim.clear_log()
    (changed, _before, after), converger = converge(client, policies=changed_limits)
    assert changed and converger.operations == ["update_rate_limit"]
    assert [(r["method"], r["path"].split("/")[3]) for r in gateway_sim.non_get_requests()] == [("PUT", "policyActions")]
    ids_after = sorted(e["enforcementObjectId"] for s in client.get_policy(policy_id)["policyEnforcements"]
                       for e in s["enforcements"])
    assert ids_after == ids_before and after["policies"]["rate_limit"]["requests"] == 50 and after["active"]


def test_policies_not_listed_are_removed_and_their_actions_deleted(client):
    (_changed, _before, first), _c = converge(client)
    api = client.get_api(first["api_id"])
    managed = [a["id"] for a in client.get_policy_actions(
        [e["enforcementObjectId"] for s in client.get_policy(api["policies"][0])["policyEnforcements"] for e in s["enforcements"]])
        if a["templateKey"] in ("throttle", "cors", "evaluatePolicy")]
    (changed, _before, after), converger = converge(client, policies={"rate_limit": POLICIES["rate_limit"]})
    assert changed and sorted(converger.operations) == ["remove_authentication", "remove_cors"]
    assert set(after["policies"]) == {"rate_limit"}
    remaining = {a["id"] for a in client.get_policy_actions(managed)}
    assert len(remaining) == 1  # the other two actions are gone from the gateway, not only from the policy
    stages = {s["stageKey"] for s in client.get_policy(api["policies"][0])["policyEnforcements"]}
    assert {"transport", "routing", "LMT"} == stages  # the gateway's own stages are kept


def test_a_hand_edited_action_is_brought_back(client):
    (_changed, _before, first), _c = converge(client)
    api = client.get_api(first["api_id"])
    policy = client.get_policy(api["policies"][0])
    ids = [e["enforcementObjectId"] for s in policy["policyEnforcements"] for e in s["enforcements"]]
    throttle = next(a for a in client.get_policy_actions(ids) if a["templateKey"] == "throttle")
    client.update_policy_action(throttle["id"], dict(throttle, parameters=[{"templateKey": "alertInterval", "values": ["7"]}]))
    (changed, before, after), converger = converge(client)
    assert before["policies"]["rate_limit"] == {"unmanaged_parameters": [{"templateKey": "alertInterval", "values": ["7"]}]}
    assert changed and converger.operations == ["update_rate_limit"]
    assert after["policies"]["rate_limit"]["requests"] == 5


def test_failed_update_restores_activation_and_the_next_run_repairs(client, gateway_sim):
    (_changed, _before, first), _c = converge(client)
    broken = copy.deepcopy(DOC)
    broken["paths"]["/pay"]["post"]["requestBody"] = {"content": {"application/json": {"schema": {
        "type": "object", "additionalProperties": False}}}}  # 10.15's PUT answers 500 on this
    with pytest.raises(GatewayError, match=r"PUT /apis/.* answered HTTP 500"):
        converge(client, document=broken)
    api = client.get_api(first["api_id"])
    assert api["isActive"] is True  # re-activated: the outage window closed
    fixed = copy.deepcopy(broken)
    fixed["paths"]["/pay"]["post"]["requestBody"]["content"]["application/json"]["schema"]["additionalProperties"] = {}
    (changed, _before, after), _c = converge(client, document=fixed)
    assert changed and after["active"] and after["api_id"] == first["api_id"]


def test_check_mode_matches_the_real_run(client, gateway_sim):
    converge(client)
    new_doc = copy.deepcopy(DOC)
    new_doc["info"]["description"] = "v2"
    gateway_sim.clear_log()
    (c_changed, c_before, c_after), checker = converge(client, check_mode=True, document=new_doc, tags=["x"],
                                                       policies={"rate_limit": POLICIES["rate_limit"]})
    assert gateway_sim.non_get_requests() == []
    (r_changed, r_before, r_after), runner = converge(client, document=new_doc, tags=["x"],
                                                      policies={"rate_limit": POLICIES["rate_limit"]})
    assert (c_changed, c_before) == (r_changed, r_before)
    assert checker.operations == runner.operations
    assert ApiConverger.comparable(c_after) == ApiConverger.comparable(r_after)


def test_another_tenants_api_is_refused_before_any_write(client, gateway_sim):
    converge(client)
    gateway_sim.clear_log()
    with pytest.raises(ConvergeError, match="belongs to tenant acme"):
        converge(client, tenant="other", version="2.0")
    with pytest.raises(ConvergeError, match="belongs to tenant acme"):
        converge(client, tenant="other")
    assert gateway_sim.non_get_requests() == []


def test_creating_without_a_document_is_refused(client):
    with pytest.raises(ConvergeError, match="give its spec"):
        converge(client, document=None)


def test_owned_only_refuses_an_untagged_api_before_any_write_and_removes_a_tagged_one(client, gateway_sim):
    (_c, _b, untagged), _conv = converge(client, tenant=None, policies=None)
    gateway_sim.clear_log()
    for attempt in (lambda c: c.absent("pay", "1.0", "acme", owned_only=True),
                    lambda c: c.present(desired(), owned_only=True),
                    lambda c: c.present(desired(version="2.0"), owned_only=True)):  # no version minted from it
        with pytest.raises(ConvergeError, match="has no tenant:<tenant> tag"):
            attempt(ApiConverger(client))
    assert gateway_sim.non_get_requests() == []
    assert [a["id"] for a in client.list_apis()] == [untagged["api_id"]]
    # Without owned_only an untagged API is still adopted or removed, as before.
    assert ApiConverger(client, check_mode=True).absent("pay", "1.0", "acme")[0]

    client.deactivate_api(untagged["api_id"])
    client.delete_api(untagged["api_id"])
    converge(client)  # tagged acme
    with pytest.raises(ConvergeError, match="belongs to tenant acme"):
        ApiConverger(client).absent("pay", "1.0", "other", owned_only=True)
    checker = ApiConverger(client, check_mode=True)
    assert checker.absent("pay", "1.0", "acme", owned_only=True)[0] and client.list_apis()
    remover = ApiConverger(client)
    changed, before, after = remover.absent("pay", "1.0", "acme", owned_only=True)
    assert changed and before["tenant"] == "acme" and after is None and client.list_apis() == []
    assert checker.operations == remover.operations == ["deactivate", "delete"]
    assert ApiConverger(client).absent("pay", "1.0", "acme", owned_only=True) == (False, None, None)
