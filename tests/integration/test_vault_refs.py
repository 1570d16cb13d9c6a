"""Vault references against a real OpenBao: parsing, reading, errors that name the reference, AppRole."""
from __future__ import annotations

import secrets

import hvac
import pytest

import stoa_tools  # noqa: F401
from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import (
    VaultRefError,
    VaultResolver,
    parse_reference,
    resolve_all,
)


@pytest.fixture(scope="module")
def vault(vault_service):
    client = hvac.Client(url=vault_service["VAULT_ADDR"], token=vault_service["VAULT_TOKEN"])
    value = secrets.token_urlsafe(16)
    client.secrets.kv.v2.create_or_update_secret(path="test/refs/backend", secret={"password": value, "port": 5432},
                                                 mount_point="secret")
    return vault_service, client, value


def resolver(env, **overrides):
    options = {"vault_addr": env["VAULT_ADDR"], "vault_token": env["VAULT_TOKEN"], "vault_auth_method": "token"}
    options.update(overrides)
    return VaultResolver(options)


@pytest.mark.parametrize("text, mount, path, key", [
    ("vault:secret/data/dev/payment-backend#client_secret", "secret", "dev/payment-backend", "client_secret"),
    ("vault:kv/data/a/b/c#k", "kv", "a/b/c", "k"),
])
def test_references_parse(text, mount, path, key):
    ref = parse_reference(text)
    assert (ref.mount, ref.path, ref.key) == (mount, path, key)


@pytest.mark.parametrize("text", ["secret/data/x#k", "vault:secret/data/x", "vault:secret/data/x#", "vault:#k", None,
                                  "vault:secret/dev/x#k", "vault:secret/data//x#k"])
def test_malformed_references_say_what_is_expected(text):
    with pytest.raises(VaultRefError, match="expected vault:<mount>/data/<path>#<key>"):
        parse_reference(text)


def test_values_resolve_and_non_strings_become_strings(vault):
    env, _client, value = vault
    r = resolver(env)
    assert r.resolve("vault:secret/data/test/refs/backend#password") == value
    assert r.resolve("vault:secret/data/test/refs/backend#port") == "5432"
    assert r.version("vault:secret/data/test/refs/backend#password") >= 1


def test_every_failure_names_its_reference_and_never_a_value(vault):
    env, _client, value = vault
    with pytest.raises(VaultRefError) as caught:
        resolve_all(resolver(env), ["vault:secret/data/test/refs/backend#nokey",
                                    "vault:secret/data/test/refs/missing#password"])
    message = str(caught.value)
    assert "secret/data/test/refs/backend#nokey: the secret has no key 'nokey'" in message
    assert "secret/data/test/refs/missing#password: no secret at" in message
    assert value not in message


def test_a_mount_that_is_not_kv_version_2_says_so(vault):
    env, client, _value = vault
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    suffix = secrets.token_hex(4)
    kv1, transit = "stoa-test-kv1-" + suffix, "stoa-test-transit-" + suffix
    assert kv1 + "/" not in mounts
    client.sys.enable_secrets_engine("kv", path=kv1, options={"version": "1"})
    client.sys.enable_secrets_engine("transit", path=transit)
    try:
        client.secrets.kv.v1.create_or_update_secret(path="a/b", secret={"k": "v"}, mount_point=kv1)
        with pytest.raises(VaultRefError) as caught:
            resolve_all(resolver(env), [f"vault:{kv1}/data/a/b#k", f"vault:{transit}/data/a#k",
                                        f"vault:nothing-{suffix}/data/a#k"])
        message = str(caught.value)
        assert f"the mount {kv1}/ is KV version 1; references read KV version 2" in message
        assert f"the mount {transit}/ is a transit secrets engine, not KV version 2" in message
        assert f"nothing-{suffix}/data/a#k: no secret" in message or f"mounted at nothing-{suffix}/" in message
    finally:
        client.sys.disable_secrets_engine(kv1)
        client.sys.disable_secrets_engine(transit)


def test_a_denied_read_says_denied(vault):
    env, client, _value = vault
    client.sys.create_or_update_policy("stoa-test-nothing", 'path "secret/data/elsewhere/*" { capabilities = ["read"] }')
    token = client.auth.token.create(policies=["stoa-test-nothing"], ttl="5m")["auth"]["client_token"]
    with pytest.raises(VaultRefError, match=r"secret/data/test/refs/backend#password: reading .* denied"):
        resolve_all(resolver(env, vault_token=token), ["vault:secret/data/test/refs/backend#password"])


def test_approle_login(vault):
    env, client, value = vault
    if "approle/" not in client.sys.list_auth_methods():
        client.sys.enable_auth_method("approle")
    client.sys.create_or_update_policy("stoa-test-refs", 'path "secret/data/test/refs/*" { capabilities = ["read"] }')
    client.auth.approle.create_or_update_approle("stoa-test", token_policies=["stoa-test-refs"])
    role_id = client.auth.approle.read_role_id("stoa-test")["data"]["role_id"]
    secret_id = client.auth.approle.generate_secret_id("stoa-test")["data"]["secret_id"]
    r = resolver(env, vault_auth_method="approle", vault_token=None, vault_role_id=role_id, vault_secret_id=secret_id)
    assert r.resolve("vault:secret/data/test/refs/backend#password") == value
    with pytest.raises(VaultRefError, match="AppRole login at approle failed"):
        resolver(env, vault_auth_method="approle", vault_role_id=role_id, vault_secret_id="wrong")


def test_one_read_per_secret_path(vault):
    env, _client, _value = vault
    r = resolver(env)
    calls = []
    original = r.client.secrets.kv.v2.read_secret_version

    def counting(**kwargs):
        calls.append(kwargs["path"])
        return original(**kwargs)

    r.client.secrets.kv.v2.read_secret_version = counting
    r.resolve("vault:secret/data/test/refs/backend#password")
    r.resolve("vault:secret/data/test/refs/backend#port")
    assert calls == ["test/refs/backend"]
