"""The credential_rotation role end to end: real OpenBao, real Keycloak, the gateway simulator.

A database password and a Keycloak client secret are made due (last rotated
100 days ago); one run rotates both, sets the client's secret in Keycloak,
updates the alias that uses the password in place and leaves the API alone;
a second run changes nothing. Then a rotation whose propagation fails (gateway
down) is finished by the next run without rotating a second time.
"""
from __future__ import annotations

import base64
import datetime
import json
import secrets

import hvac
import pytest
import yaml
from keycloak import KeycloakAdmin
from test_modules_playbooks import run_playbook

import stoa_tools  # noqa: F401 - puts ./collections on sys.path
from ansible_collections.stoa.platform.plugins.module_utils.gateway_alias_model import secret_for_wire
from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_converge import ApiConverger, DesiredApi
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient

REALM = "stoa-rotation-test"
CLIENT = "rotation-client"
DB_REF = "vault:secret/data/dev/rotation/payment-db#password"
CLIENT_REF = "vault:secret/data/dev/rotation/keycloak-client#client_secret"
OAS = {"openapi": "3.0.3", "info": {"title": "Payments", "version": "1.0"},
       "servers": [{"url": "http://payments.backend/v1"}],
       "paths": {"/pay": {"post": {"responses": {"200": {"description": "ok"}}}}}}


def make_due(vault, path, key, value, days=100):
    vault.secrets.kv.v2.create_or_update_secret(path=path, secret={key: value}, mount_point="secret")
    stamp = (datetime.datetime.utcnow() - datetime.timedelta(days=days)).replace(microsecond=0).isoformat() + "Z"
    vault.secrets.kv.v2.update_metadata(path=path, mount_point="secret", custom_metadata={
        "last_rotated": stamp, "rotated_by": "test", "rotated_key": key, "rotation_state": "propagated"})


def read(vault, path, key):
    return vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)[
        "data"]["data"][key]


def metadata(vault, path):
    return vault.secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")["data"]


@pytest.fixture
def rotation_env(tmp_path, vault_service, keycloak_service, gateway_sim):
    vault = hvac.Client(url=vault_service["VAULT_ADDR"], token=vault_service["VAULT_TOKEN"])
    db_password, client_secret = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    make_due(vault, "dev/rotation/payment-db", "password", db_password)
    make_due(vault, "dev/rotation/keycloak-client", "client_secret", client_secret)

    admin = KeycloakAdmin(server_url=keycloak_service["KEYCLOAK_URL"], username=keycloak_service["KEYCLOAK_ADMIN_USERNAME"],
                          password=keycloak_service["KEYCLOAK_ADMIN_PASSWORD"], realm_name="master",
                          user_realm_name="master")
    if REALM not in [r["realm"] for r in admin.get_realms()]:
        admin.create_realm({"realm": REALM, "enabled": True})
    admin.change_current_realm(REALM)
    uuid = admin.get_client_id(CLIENT)
    if uuid is None:
        admin.create_client({"clientId": CLIENT, "publicClient": False, "secret": client_secret,
                             "serviceAccountsEnabled": True})
        uuid = admin.get_client_id(CLIENT)
    else:
        admin.update_client(uuid, {"secret": client_secret})

    (tmp_path / "rotation-vars.yml").write_text(yaml.safe_dump({
        "credential_rotation_secrets": [
            {"reference": DB_REF, "type": "database_password", "aliases": ["payment-db-auth"]},
            {"reference": CLIENT_REF, "type": "oauth_client_secret",
             "keycloak_client": {"realm": REALM, "client_id": CLIENT}},
        ],
        "credential_rotation_aliases": {"payment-db-auth": {
            "type": "transport_security",
            "transport_security": {"auth_type": "basic", "username": "svc", "password": DB_REF}}},
        "credential_rotation_rotated_by": "pytest",
    }))
    env = {**vault_service, **keycloak_service, **gateway_sim.env}
    return dict(vault=vault, admin=admin, uuid=uuid, env=env, sim=gateway_sim, tmp=tmp_path,
                old=(db_password, client_secret))


def sim_alias(sim, name):
    return next(a for a in sim.gateway.store.aliases.values() if a["name"] == name)


def test_rotation_end_to_end_then_nothing_due(rotation_env):
    vault, admin, sim, tmp = rotation_env["vault"], rotation_env["admin"], rotation_env["sim"], rotation_env["tmp"]
    old_password, old_client_secret = rotation_env["old"]

    # The alias and an API that routes through it exist before the rotation.
    client = GatewayClient(sim.url, sim.username, sim.password)
    client.create_alias({"name": "payment-db-auth", "type": "httpTransportSecurityAlias", "authType": "HTTP_BASIC",
                         "authMode": "NEW", "httpAuthCredentials": {
                             "userName": "svc", "password": secret_for_wire("httpAuthCredentials.password", old_password)}})
    _changed, _before, api = ApiConverger(client).present(DesiredApi("payments", "1.0", document=OAS,
                                                                     document_type="openapi", tenant="acme"))
    sim.clear_log()

    first = run_playbook("credential_rotation_role.yml", tmp, "-vvv", **rotation_env["env"])
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    new_password = read(vault, "dev/rotation/payment-db", "password")
    new_client_secret = read(vault, "dev/rotation/keycloak-client", "client_secret")
    assert new_password != old_password and new_client_secret != old_client_secret
    for path in ("dev/rotation/payment-db", "dev/rotation/keycloak-client"):
        custom = metadata(vault, path)["custom_metadata"]
        assert custom["rotation_state"] == "propagated" and custom["rotated_by"] == "pytest"
    assert admin.get_client_secrets(rotation_env["uuid"])["value"] == new_client_secret
    alias = sim_alias(sim, "payment-db-auth")
    assert alias["httpAuthCredentials"]["password"] == base64.b64encode(new_password.encode()).decode()
    writes = [(r["method"], r["path"]) for r in sim.requests() if r["method"] != "GET"]
    assert writes == [("PUT", "/rest/apigateway/alias/" + alias["id"])]  # the alias only, in place
    after = client.get_api(api["api_id"])
    assert after["isActive"] and after["id"] == api["api_id"]
    output = first.stdout + first.stderr
    for value in (old_password, old_client_secret, new_password, new_client_secret):
        assert value not in output

    sim.clear_log()
    version = metadata(vault, "dev/rotation/payment-db")["current_version"]
    second = run_playbook("credential_rotation_role.yml", tmp, **rotation_env["env"])
    assert second.returncode == 0, second.stdout[-4000:]
    assert "changed=0" in second.stdout
    assert [r for r in sim.requests() if r["method"] != "GET"] == []
    assert metadata(vault, "dev/rotation/payment-db")["current_version"] == version


def test_a_failed_propagation_is_finished_by_the_next_run(rotation_env):
    vault, sim, tmp = rotation_env["vault"], rotation_env["sim"], rotation_env["tmp"]
    down = dict(rotation_env["env"], STOA_GATEWAY_URL="http://127.0.0.1:9")  # nothing listens there
    failed = run_playbook("credential_rotation_role.yml", tmp, **down)
    assert failed.returncode != 0
    assert "failed=1" in failed.stdout
    pending = metadata(vault, "dev/rotation/payment-db")
    assert pending["custom_metadata"]["rotation_state"] == "pending"
    rotated_value, version = read(vault, "dev/rotation/payment-db", "password"), pending["current_version"]

    finished = run_playbook("credential_rotation_role.yml", tmp, **rotation_env["env"])
    assert finished.returncode == 0, finished.stdout[-4000:]
    done = metadata(vault, "dev/rotation/payment-db")
    assert done["custom_metadata"]["rotation_state"] == "propagated"
    assert done["current_version"] == version  # finished, not rotated a second time
    alias = sim_alias(sim, "payment-db-auth")
    assert alias["httpAuthCredentials"]["password"] == base64.b64encode(rotated_value.encode()).decode()
    assert json.dumps(alias).count("password") == 1
