"""keycloak_tenant_set against the real Keycloak: check mode predicts the real run on a mixed set, a rerun changes
nothing, one failing tenant leaves the others converged and is named, and the partial import makes the same users as
keycloak_tenant's one-by-one requests (a password that logs in, attributes, group, realm role)."""
from __future__ import annotations

import secrets

import pytest
import requests
from keycloak import KeycloakAdmin
from test_keycloak_tenant import module, realm_name
from vault_helpers import ensure_secret

SET = "stoa.platform.keycloak_tenant_set"


@pytest.fixture
def realm_env(keycloak_service, vault_service):
    import os

    env = {**os.environ, **keycloak_service, **vault_service}
    realm = realm_name()
    admin = KeycloakAdmin(server_url=keycloak_service["KEYCLOAK_URL"], username=keycloak_service["KEYCLOAK_ADMIN_USERNAME"],
                          password=keycloak_service["KEYCLOAK_ADMIN_PASSWORD"], realm_name="master",
                          user_realm_name="master")
    result = module("stoa.platform.keycloak_platform_realm", {"realm": realm, "direct_access_grants": ["control-plane-ui"]},
                    env)
    assert not result.get("failed"), result
    password = ensure_secret(vault_service, "test/iam-set", {"password": "Set-" + secrets.token_urlsafe(12) + "-9a"})["password"]
    yield dict(env=env, realm=realm, admin=admin, url=keycloak_service["KEYCLOAK_URL"], password=password)
    admin.change_current_realm("master")
    if realm in [r["realm"] for r in admin.get_realms()]:
        admin.delete_realm(realm)


REF = "vault:secret/data/test/iam-set#password"


def people(tenant: str, count: int, password: bool = False) -> list[dict]:
    return [dict(email=f"m{i}@{tenant}.example", name=f"Member {i}", role=("cpi", "devops", "viewer")[i % 3],
                 **({"initial_password": REF} if password else {})) for i in range(count)]


def entry(tenant: str, members: list[dict], **tenant_fields) -> dict:
    return {"tenant": {"id": tenant, **tenant_fields}, "members": members}


def operations(result: dict) -> dict:
    return {r["name"]: r["operations"] for r in result["results"]}


def test_check_mode_predicts_the_real_run_on_a_mixed_set_and_a_rerun_changes_nothing(realm_env):
    env, realm = realm_env["env"], realm_env["realm"]
    seeded = [entry("t-same", people("same", 4)), entry("t-changed", people("changed", 5), display_name="Before")]
    first = module(SET, {"realm": realm, "tenants": seeded}, env)
    assert not first["failed"], first.get("msg")
    assert first["summary"]["changed"] == 2 and first["summary"]["operations"]["create user <user>"] == 9
    assert [r["imported"] for r in first["results"]] == [1 + 4 * 3, 1 + 5 * 3]

    changed = people("changed", 5)
    changed[1]["name"] = "Renamed Member"  # update user
    changed[2]["role"] = "cpi"  # group stays, role changes
    del changed[4]  # leaves the tenant (exact mode)
    changed.append(dict(email="new@changed.example", role="viewer"))  # joins
    mixed = [entry("t-same", people("same", 4)), entry("t-changed", changed, display_name="After"),
             entry("t-new", people("new", 3, password=True))]
    predicted = module(SET, {"realm": realm, "tenants": mixed}, env, check=True)
    assert not predicted["failed"], predicted.get("msg")
    done = module(SET, {"realm": realm, "tenants": mixed}, env)
    assert not done["failed"], done.get("msg")
    assert operations(predicted) == operations(done)
    assert predicted["summary"] == done["summary"]
    assert done["summary"] == {"total": 3, "changed": 2, "unchanged": 1, "failed": 0,
                               "operations": done["summary"]["operations"]}
    ops = operations(done)
    assert ops["t-same"] == []
    assert "update the attributes of group t-changed" in ops["t-changed"]
    assert "update user m1@changed.example" in ops["t-changed"]
    assert "revoke viewer from m2@changed.example" in ops["t-changed"]
    assert "remove m4@changed.example from group t-changed" in ops["t-changed"]
    assert "create user new@changed.example" in ops["t-changed"]
    assert ops["t-new"][0] == "create group t-new" and "create user m0@new.example" in ops["t-new"]

    rerun = module(SET, {"realm": realm, "tenants": mixed}, env)
    assert not rerun["failed"] and not rerun["changed"], rerun
    assert rerun["summary"]["unchanged"] == 3
    again = module(SET, {"realm": realm, "tenants": mixed}, env, check=True)
    assert not again["changed"]

    admin = realm_env["admin"]
    admin.change_current_realm(realm)
    gone = admin.get_users({"email": "m4@changed.example", "exact": True})[0]
    assert "tenant_id" not in (gone.get("attributes") or {})
    assert [g["name"] for g in admin.get_user_groups(gone["id"])] == []


def test_one_failing_tenant_leaves_the_others_converged_and_is_named(realm_env):
    env, realm = realm_env["env"], realm_env["realm"]
    bad = people("bad", 2)
    bad[1]["initial_password"] = "vault:secret/data/test/no-such-secret-" + secrets.token_hex(3) + "#password"
    tenants = [entry("t-ok1", people("ok1", 3)), entry("t-bad", bad), entry("t-ok2", people("ok2", 3))]
    for check in (True, False):
        result = module(SET, {"realm": realm, "tenants": tenants}, env, check=check)
        assert result["failed"]
        assert "1 of 3 tenants failed: t-bad: " in result["msg"] and "members[1].initial_password" in result["msg"]
        errors = {r["name"]: r["error"] for r in result["results"]}
        assert errors["t-ok1"] is None and errors["t-ok2"] is None and errors["t-bad"]
        assert result["summary"]["failed"] == 1 and result["summary"]["changed"] == 2
    admin = realm_env["admin"]
    admin.change_current_realm(realm)
    groups = [g["name"] for g in admin.get_groups()]
    assert "t-ok1" in groups and "t-ok2" in groups and "t-bad" not in groups  # nothing written for t-bad
    assert not admin.get_users({"email": "m0@bad.example", "exact": True})
    rerun = module(SET, {"realm": realm, "tenants": [tenants[0], tenants[2]]}, env)
    assert not rerun["failed"] and not rerun["changed"]


def test_a_member_listed_by_two_tenants_is_refused_in_the_later_one(realm_env):
    env, realm = realm_env["env"], realm_env["realm"]
    shared = dict(email="both@shared.example", role="viewer")
    result = module(SET, {"realm": realm, "tenants": [entry("t-a", [shared]), entry("t-b", [shared])]}, env)
    assert result["failed"] and "t-b: members[0].email: both@shared.example is also a member of tenant t-a" in result["msg"]
    assert [r["error"] for r in result["results"]][0] is None


def test_partial_import_makes_the_same_users_as_one_by_one(realm_env):
    env, realm, admin = realm_env["env"], realm_env["realm"], realm_env["admin"]
    options = {"realm": realm, "initial_password_temporary": False}
    realm_part = module(SET, dict(options, tenants=[]), env)  # the realm-wide operations, so that neither has them
    assert not realm_part["failed"] and realm_part["realm_operations"], realm_part
    single = module("stoa.platform.keycloak_tenant", dict(options, tenant={"id": "t-single"},
                                                          members=people("single", 3, password=True)), env)
    assert not single["failed"], single.get("msg")
    bulk = module(SET, dict(options, tenants=[entry("t-bulk", people("bulk", 3, password=True))]), env)
    assert not bulk["failed"], bulk.get("msg")
    assert [o.replace("bulk", "single") for o in bulk["results"][0]["operations"]] == single["operations"]
    assert bulk["results"][0]["imported"] == len(single["operations"]) == 1 + 3 * 3  # one partial import did them all

    admin.change_current_realm(realm)

    def user(email: str, tenant: str) -> dict:
        found = admin.get_users({"email": email, "exact": True})[0]
        view = {k: found.get(k) for k in ("enabled", "emailVerified", "firstName", "lastName", "requiredActions",
                                          "attributes", "totp")}
        view["credentials"] = sorted((c["type"], c.get("temporary")) for c in admin.get_credentials(found["id"]))
        view["groups"] = [g["path"] for g in admin.get_user_groups(found["id"])]
        view["roles"] = sorted(r["name"] for r in admin.get_realm_roles_of_user(found["id"]))
        return {"username": found["username"].replace(tenant, "X"), **{
            k: (str(v).replace(tenant, "X") if k in ("attributes", "groups") else v) for k, v in view.items()}}

    for i in range(3):
        assert user(f"m{i}@bulk.example", "bulk") == user(f"m{i}@single.example", "single")
        for tenant in ("single", "bulk"):
            token = requests.post(f"{realm_env['url']}/realms/{realm}/protocol/openid-connect/token", timeout=30,
                                  data={"grant_type": "password", "client_id": "control-plane-ui",
                                        "username": f"m{i}@{tenant}.example", "password": realm_env["password"]})
            assert token.status_code == 200, token.text
