"""Inputs Keycloak would refuse, half-finished runs and Keycloak's own refusals (issue 16, ../shared/bugs/keycloak).

Every case runs the modules against the real Keycloak and OpenBao, in a realm of its own:
- 03b: a bad Vault reference of the second member fails in check mode and in the real run before anything is written;
  a run that stopped half-way is completed by the next one, the initial password of a user created without one
  included (the user logs in);
- 07: a tenant id with '/' is refused before any request; groups are found by exact name at the top level, never by
  a path (a subgroup of the same name is left alone);
- e-mails and names that Keycloak (its username rules, the realm's user profile) refuses are reported with the
  member's index and field before any write, in check mode too; what the model predicts is what Keycloak does;
- the realm's password policy is applied to the initial passwords still to be set, before any write;
- a write that Keycloak still refuses (a username taken by another user) names the tenant and the operation;
- keycloak_platform_accounts and keycloak_platform_realm resolve and check everything before their first write.
"""
from __future__ import annotations

import os
import secrets

import hvac
import pytest
import requests
from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakError
from test_keycloak_tenant import module

import stoa_tools  # noqa: F401  (puts the collection on the import path)
from ansible_collections.stoa.platform.plugins.module_utils.keycloak_tenant_model import (
    member_attributes,
    user_problems,
)

TENANT = "stoa.platform.keycloak_tenant"
REALM = "stoa.platform.keycloak_platform_realm"
ACCOUNTS = "stoa.platform.keycloak_platform_accounts"


@pytest.fixture
def kc(keycloak_service, vault_service):
    """A realm of its own with the platform's clients, a Vault secret with key ``initpw``, and the admin client."""
    realm = "qa-inputs-" + secrets.token_hex(3)
    env = {**os.environ, **keycloak_service, **vault_service}
    path = "qa/inputs/" + realm
    password = secrets.token_urlsafe(14)
    vault = hvac.Client(url=vault_service["VAULT_ADDR"], token=vault_service["VAULT_TOKEN"])
    vault.secrets.kv.v2.create_or_update_secret(path=path, secret={"initpw": password}, mount_point="secret")
    admin = KeycloakAdmin(server_url=keycloak_service["KEYCLOAK_URL"], username=keycloak_service["KEYCLOAK_ADMIN_USERNAME"],
                          password=keycloak_service["KEYCLOAK_ADMIN_PASSWORD"], realm_name="master",
                          user_realm_name="master")
    created = module(REALM, {"realm": realm, "direct_access_grants": ["control-plane-ui"]}, env)
    assert not created.get("failed"), created
    admin.change_current_realm(realm)
    yield dict(env=env, realm=realm, admin=admin, url=keycloak_service["KEYCLOAK_URL"], password=password,
               ref="vault:secret/data/%s#initpw" % path, bad_ref="vault:secret/data/%s#no_such_key" % path)
    admin.change_current_realm("master")
    admin.delete_realm(realm)
    vault.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point="secret")


def nothing_written(kc):
    kc["admin"].change_current_realm(kc["realm"])
    return kc["admin"].get_users({}) == [] and kc["admin"].get_groups() == []


def login(kc, username, password):
    return requests.post(f"{kc['url']}/realms/{kc['realm']}/protocol/openid-connect/token",
                         data={"grant_type": "password", "client_id": "control-plane-ui", "username": username,
                               "password": password}, timeout=30).status_code


def puffin(kc, gus_ref):
    return {"realm": kc["realm"], "initial_password_temporary": False,
            "tenant": {"id": "tenant-puffin", "display_name": "Puffin"},
            "members": [{"email": "fay.lund@puffin.example", "name": "Fay Lund", "role": "cpi", "initial_password": kc["ref"]},
                        {"email": "gus.moro@puffin.example", "name": "Gus Moro", "role": "devops", "initial_password": gus_ref}]}


def test_03b_bad_reference_fails_before_any_write_and_the_fixed_rerun_lets_gus_log_in(kc):
    args = puffin(kc, kc["bad_ref"])
    for check in (True, False):
        result = module(TENANT, args, kc["env"], check=check)
        assert result["failed"], result
        assert "members[1].initial_password" in result["msg"] and "no_such_key" in result["msg"], result["msg"]
        assert "members[0]" not in result["msg"]
        assert nothing_written(kc), "check mode" if check else "real run"
        assert kc["password"] not in str(result)
    fixed = module(TENANT, puffin(kc, kc["ref"]), kc["env"])
    assert not fixed["failed"] and fixed["changed"], fixed
    assert login(kc, "gus.moro@puffin.example", kc["password"]) == 200
    assert login(kc, "fay.lund@puffin.example", kc["password"]) == 200
    again = module(TENANT, puffin(kc, kc["ref"]), kc["env"])
    assert not again["changed"] and again["operations"] == [], again


def test_a_run_that_stopped_half_way_is_completed_including_the_initial_password(kc):
    """What the failed run of 03b used to leave: the group, Fay complete, Gus created with no group, role or password."""
    admin = kc["admin"]
    done = module(TENANT, dict(puffin(kc, kc["ref"]), members=puffin(kc, kc["ref"])["members"][:1]), kc["env"])
    assert done["changed"], done
    admin.create_user({"username": "gus.moro@puffin.example", "email": "gus.moro@puffin.example", "enabled": True,
                       "firstName": "Gus", "lastName": "Moro", "attributes": {"tenant_id": ["tenant-puffin"]}})
    args = puffin(kc, kc["ref"])
    check = module(TENANT, args, kc["env"], check=True)
    real = module(TENANT, args, kc["env"])
    assert check["operations"] == real["operations"] == [
        "add gus.moro@puffin.example to group tenant-puffin",
        "grant gus.moro@puffin.example the realm role devops",
        "set the initial password of gus.moro@puffin.example"], real
    assert real["existing"]["members"]["gus.moro@puffin.example"]["has_password"] is False
    assert real["end_state"]["members"]["gus.moro@puffin.example"]["has_password"] is True
    assert (check["existing"], check["end_state"]) == (real["existing"], real["end_state"])
    assert login(kc, "gus.moro@puffin.example", kc["password"]) == 200
    assert module(TENANT, args, kc["env"])["operations"] == []
    # A password the user has is never changed: Gus changes his, the next run leaves it alone.
    gus = admin.get_users({"email": "gus.moro@puffin.example", "exact": True})[0]
    admin.set_user_password(gus["id"], "gus-own-" + secrets.token_hex(8), temporary=False)
    assert module(TENANT, args, kc["env"])["operations"] == []
    assert login(kc, "gus.moro@puffin.example", kc["password"]) == 401


def test_07_tenant_id_with_a_slash_is_refused_before_any_request(kc):
    args = {"realm": kc["realm"], "tenant": {"id": "acme/eu", "display_name": "Acme EU"},
            "members": [{"email": "nora.lind@acme.example", "name": "Nora Lind", "role": "cpi"}]}
    for check in (True, False, True):
        result = module(TENANT, args, kc["env"], check=check)
        assert result["failed"] and "tenant.id: 'acme/eu' contains '/'" in result["msg"], result
    assert nothing_written(kc)
    # Second part of the case: a real /acme/eu subgroup exists; the tenant is still refused, the subgroup untouched.
    admin = kc["admin"]
    acme = admin.create_group({"name": "acme"})
    eu = admin.create_group({"name": "eu", "attributes": {"owner": ["someone else"]}}, parent=acme)
    third = module(TENANT, args, kc["env"], check=True)
    assert third["failed"] and "tenant.id" in third["msg"] and not third.get("operations")
    assert admin.get_group(eu)["attributes"] == {"owner": ["someone else"]}


def test_groups_are_found_by_exact_name_at_the_top_level_never_by_path(kc):
    admin = kc["admin"]
    acme = admin.create_group({"name": "acme"})
    child = admin.create_group({"name": "tenant-eu", "attributes": {"owner": ["acme"]}}, parent=acme)
    admin.create_group({"name": "Tenant-EU"})  # another name for Keycloak (exact search is case-sensitive)
    args = {"realm": kc["realm"], "tenant": {"id": "tenant-eu", "display_name": "EU"},
            "members": [{"email": "nora.lind@acme.example", "name": "Nora Lind", "role": "cpi"}]}
    check = module(TENANT, args, kc["env"], check=True)
    assert "create group tenant-eu" in check["operations"], check
    assert not any("update the attributes" in o for o in check["operations"])
    real = module(TENANT, args, kc["env"])
    assert real["operations"] == check["operations"]
    top = [g for g in admin.get_groups() if g["name"] == "tenant-eu"]
    assert len(top) == 1 and top[0]["id"] != child
    assert admin.get_group(child)["attributes"] == {"owner": ["acme"]}
    assert module(TENANT, args, kc["env"])["operations"] == []


@pytest.mark.parametrize("members, messages", [
    ([{"email": "ok@acme.example", "role": "cpi"}, {"email": "o'neil@acme.example", "name": "Liam O'Neil", "role": "viewer"}],
     ["members[1].email: as the username, \"o'neil@acme.example\" contains \"'\", which Keycloak refuses"]),
    ([{"email": "anne@acme.example", "name": "Anne (Ops)", "role": "devops"}],
     ["members[0].name: as the last name, '(Ops)' contains '(', ')', which Keycloak refuses in a name"]),
    ([{"email": "\u0430dmin@acme.example", "role": "viewer"}],
     ["members[0].email: as the username", "not Latin script"]),
    ([{"email": "a..b@acme.example", "role": "viewer"}, {"email": "x" * 65 + "@acme.example", "role": "viewer"}],
     ["members[0].email: 'a..b@acme.example' is not an e-mail address Keycloak accepts",
      "members[1].email: '" + "x" * 65 + "@acme.example' is not an e-mail address Keycloak accepts"]),
    ([{"email": "long@acme.example", "name": "Jo " + "\u00dc" * 256, "role": "viewer"}],
     ["members[0].name: as the last name", "has 256 characters; the realm's user profile allows at most 255"]),
    ([{"email": "ab", "role": "viewer"}], ["members[0].email: as the username, 'ab' has 2 characters",
                                            "members[0].email: 'ab' is not an e-mail address"]),
])
def test_emails_and_names_keycloak_refuses_are_named_before_any_write(kc, members, messages):
    args = {"realm": kc["realm"], "tenant": {"id": "tenant-names"}, "members": members}
    for check in (True, False):
        result = module(TENANT, args, kc["env"], check=check)
        assert result["failed"], result
        for message in messages:
            assert message in result["msg"], result["msg"]
        assert "HTTP" not in result["msg"]
        assert nothing_written(kc)


def test_the_realms_own_user_profile_rules_are_applied(kc):
    admin = kc["admin"]
    profile = admin.get_realm_users_profile()
    for attribute in profile["attributes"]:
        if attribute["name"] == "lastName":
            attribute["validations"]["pattern"] = {"pattern": "^[A-Z][a-z]+$", "error-message": "capitalised"}
    profile["attributes"].append({"name": "department", "displayName": "Department", "required": {"roles": ["admin", "user"]},
                                  "permissions": {"view": ["admin"], "edit": ["admin"]}, "multivalued": False})
    admin.update_realm_users_profile(profile)
    args = {"realm": kc["realm"], "tenant": {"id": "tenant-profile"},
            "members": [{"email": "ok@acme.example", "name": "Ok Fine", "role": "cpi"},
                        {"email": "low@acme.example", "name": "Anne lower", "role": "viewer"}]}
    result = module(TENANT, args, kc["env"], check=True)
    assert result["failed"], result
    assert "members[1].name: as the last name, 'lower' does not match the pattern ^[A-Z][a-z]+$" in result["msg"]
    assert "members[0]: the realm's user profile requires the attribute department" in result["msg"]
    assert nothing_written(kc)


VALUES = [
    ("plain@acme.example", "Anne", "Lind"), ("a+tag@acme.example", "Jo,Ann", "\u00c9mile:x"),
    ("o'neil@acme.example", "Liam", "O'Neil"), ("a!b@acme.example", "A", "B"), ("a#b@acme.example", "A", "B"),
    ("\u00e9l\u00e8ve@acme.example", "Jos\u00e9", "\u00d1\u00fa\u00f1ez"), ("\u5f20@acme.example", "A", "B"),
    ("\u0430dmin@acme.example", "A", "B"), ("nodot@localhost", "A", "B"), ("a..b@acme.example", "A", "B"),
    ("x" * 65 + "@acme.example", "A", "B"), ("ok@acme.example", "Anne (Ops)", "B"), ("ok@acme.example", "A", "a/b"),
    ("ok@acme.example", "Jo\tAnn", "B"), ("ok@acme.example", "Jo@Ann", "x'y"), ("ok@acme.example", "A", "\u00dc" * 256),
    ("ok@acme.example", "Jo\u200bAnn", "B"), ("ab", "A", "B"), ("a@b", "A", "B"), ("a@-b.example", "A", "B"),
]


def test_the_models_verdict_is_keycloaks(kc):
    """For each value: the model refuses it exactly when Keycloak refuses to create the user (default profile)."""
    admin = kc["admin"]
    profile = admin.get_realm_users_profile()
    disagreements = []
    for email, first, last in VALUES:
        member = {"username": email, "email": email, "firstName": first, "lastName": last}
        predicted = user_problems(profile, member_attributes(member, "tenant-x"), "m")
        try:
            user_id = admin.create_user(dict(member, enabled=True, attributes={}))
            accepted = True
            admin.delete_user(user_id)
        except KeycloakError:
            accepted = False
        if accepted == bool(predicted):
            disagreements.append((email, first, last[:10], predicted))
    assert disagreements == []


def test_the_realms_password_policy_is_applied_to_passwords_still_to_be_set(kc):
    admin = kc["admin"]
    admin.update_realm(kc["realm"], {"passwordPolicy": "length(40) and digits(30)"})
    for check in (True, False):
        result = module(TENANT, puffin(kc, kc["ref"]), kc["env"], check=check)
        assert result["failed"], result
        for member in (0, 1):
            assert (f"members[{member}].initial_password: the realm's password policy wants at least 40 characters"
                    in result["msg"]), result["msg"]
            assert f"members[{member}].initial_password: the realm's password policy wants at least 30 digits" in result["msg"]
        assert kc["password"] not in result["msg"]
        assert nothing_written(kc)
    admin.update_realm(kc["realm"], {"passwordPolicy": ""})
    assert module(TENANT, puffin(kc, kc["ref"]), kc["env"])["changed"]
    # Once the users have their passwords, a stricter policy concerns no password this module still has to set.
    admin.update_realm(kc["realm"], {"passwordPolicy": "length(40)"})
    assert module(TENANT, puffin(kc, kc["ref"]), kc["env"])["operations"] == []


def test_a_write_keycloak_still_refuses_names_the_tenant_and_the_operation(kc):
    """A refusal the inputs cannot predict: another user already has Fay's e-mail as its username."""
    admin = kc["admin"]
    admin.create_user({"username": "fay.lund@puffin.example", "email": "someone.else@puffin.example", "enabled": True,
                       "firstName": "Some", "lastName": "One"})
    result = module(TENANT, puffin(kc, kc["ref"]), kc["env"])
    assert result["failed"], result
    assert ("tenant tenant-puffin: Keycloak refused to create user fay.lund@puffin.example (HTTP 409: "
            in result["msg"]), result["msg"]
    assert "planned operations were done before, the next run completes the rest" in result["msg"]
    assert kc["password"] not in result["msg"]
    other = admin.get_users({"username": "fay.lund@puffin.example", "exact": True})[0]
    admin.delete_user(other["id"])
    rerun = module(TENANT, puffin(kc, kc["ref"]), kc["env"])
    assert not rerun["failed"] and "create user fay.lund@puffin.example" in rerun["operations"], rerun
    assert "create group tenant-puffin" not in rerun["operations"]  # done by the failed run
    assert login(kc, "fay.lund@puffin.example", kc["password"]) == 200


def test_platform_accounts_check_everything_before_the_first_write(kc):
    args = {"realm": kc["realm"],
            "admins": [{"email": "root@acme.example", "name": "Root Admin"}, {"email": "o'hara@acme.example"},
                       {"email": "ROOT@acme.example"}],
            "service_accounts": [{"id": "awx", "roles": ["devops"], "secret": kc["bad_ref"]},
                                 {"id": "ci bot", "roles": ["viewer"]}]}
    result = module(ACCOUNTS, args, kc["env"], check=True)
    assert result["failed"] and "admins[2].email: root@acme.example is listed twice" in result["msg"], result
    del args["admins"][2]
    for check in (True, False):
        result = module(ACCOUNTS, args, kc["env"], check=check)
        assert result["failed"], result
        assert "admins[1].email: as the username, \"o'hara@acme.example\" contains" in result["msg"]
        assert "service_accounts[0].secret: Vault reference" in result["msg"] and "no_such_key" in result["msg"]
        assert "service_accounts[1].id: the client id 'sa-ci bot' contains blanks" in result["msg"]
    kc["admin"].change_current_realm(kc["realm"])
    assert kc["admin"].get_users({}) == []
    assert not [c for c in kc["admin"].get_clients() if c["clientId"].startswith("sa-")]
    fixed = {"realm": kc["realm"], "admins": [{"email": "root@acme.example", "name": "Root Admin"}],
             "service_accounts": [{"id": "awx", "roles": ["devops"], "secret": kc["ref"]}]}
    no_roles = module(ACCOUNTS, fixed, kc["env"], check=True)
    assert no_roles["failed"] and "has no realm role cpi-admin, devops, viewer" in no_roles["msg"], no_roles
    assert module(TENANT, {"realm": kc["realm"], "tenant": {"id": "tenant-roles"}}, kc["env"])["changed"]
    assert module(ACCOUNTS, fixed, kc["env"])["changed"]
    assert module(ACCOUNTS, fixed, kc["env"])["operations"] == []


def test_platform_realm_checks_everything_before_the_first_request(kc, keycloak_service):
    realm = "qa-inputs-new-" + secrets.token_hex(3)
    args = {"realm": realm, "environments": [{"name": "dev", "console_url": "console.dev.example",
                                              "portal_url": "https://portal.dev.example/#/home"}],
            "client_secrets": {"api-gateway": kc["bad_ref"], "control-plane-api": kc["ref"]},
            "direct_access_grants": ["control-plane-uii"]}
    for check in (True, False):
        result = module(REALM, args, kc["env"], check=check)
        assert result["failed"], result
        for message in ("client_secrets.api-gateway: Vault reference", "environments[0].console_url:",
                        "environments[0].portal_url:", "direct_access_grants[0]: control-plane-uii is not one of"):
            assert message in result["msg"], result["msg"]
        assert "control-plane-api:" not in result["msg"] and kc["password"] not in result["msg"]
    bad_name = module(REALM, {"realm": "qa%inputs"}, kc["env"], check=True)
    assert bad_name["failed"] and "realm: 'qa%inputs' contains '%'" in bad_name["msg"], bad_name
    kc["admin"].change_current_realm("master")
    assert realm not in [r["realm"] for r in kc["admin"].get_realms()]
