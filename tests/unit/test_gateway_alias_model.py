"""GatewayAlias documents to gateway aliases, and the secrets fingerprint."""
from __future__ import annotations

import pytest

import stoa_tools  # noqa: F401
from ansible_collections.stoa.platform.plugins.module_utils.gateway_alias_model import (
    AliasSpecError,
    aliases_from_document,
    desired_alias,
    fingerprint,
    split_description,
    with_marker,
)

DESIGN_EXAMPLE = {  # design phase 3, aliases/dev/payment-backend.yaml
    "apiVersion": "stoa.cab-i.com/v1",
    "kind": "GatewayAlias",
    "metadata": {"name": "payment-backend-dev", "environment": "dev"},
    "spec": {
        "type": "endpoint",
        "endpoint": {"url": "https://payment-dev.internal.cab-i.com", "connectionTimeout": 30000, "readTimeout": 60000},
        "authentication": {"type": "oauth2", "oauth2": {
            "tokenUrl": "https://auth-dev.internal.cab-i.com/oauth/token",
            "clientIdRef": "vault:secret/data/dev/payment-backend#client_id",
            "clientSecretRef": "vault:secret/data/dev/payment-backend#client_secret",
            "scopes": ["read", "write"]}},
    },
}


def with_auth(auth):
    doc = {**DESIGN_EXAMPLE, "spec": {**DESIGN_EXAMPLE["spec"], "authentication": auth}}
    return aliases_from_document(doc)


def test_endpoint_timeouts_are_milliseconds_in_git_and_seconds_on_the_gateway():
    [(name, kind, _description, options)] = with_auth(None)
    assert (name, kind) == ("payment-backend-dev", "endpoint")
    assert options["endpoint"] == {"url": "https://payment-dev.internal.cab-i.com", "connection_timeout": 30,
                                   "read_timeout": 60}


def test_basic_auth_becomes_a_transport_security_alias_beside_the_endpoint():
    aliases = with_auth({"type": "basic", "basic": {"username": "svc", "passwordRef": "vault:secret/data/dev/p#pw"}})
    assert [(n, k) for n, k, _d, _o in aliases] == [("payment-backend-dev", "endpoint"),
                                                    ("payment-backend-dev-auth", "transport_security")]
    body, secrets = desired_alias(*aliases[1])
    assert body["authType"] == "HTTP_BASIC" and body["httpAuthCredentials"] == {"userName": "svc"}
    assert secrets == {"httpAuthCredentials.password": "vault:secret/data/dev/p#pw"}


def test_api_key_becomes_a_secret_simple_alias():
    aliases = with_auth({"type": "apiKey", "apiKey": {"valueRef": "vault:secret/data/dev/p#key"}})
    body, secrets = desired_alias(*aliases[1])
    assert aliases[1][0] == "payment-backend-dev-apikey" and "value" not in body
    assert secrets == {"value": "vault:secret/data/dev/p#key"}


def test_the_design_example_oauth2_client_credentials_is_refused_with_the_reason():
    with pytest.raises(AliasSpecError, match="cannot be expressed by a webMethods 10.15 alias"):
        aliases_from_document(DESIGN_EXAMPLE)


@pytest.mark.parametrize("doc, message", [
    ({**DESIGN_EXAMPLE, "kind": "API"}, "kind GatewayAlias"),
    ({**DESIGN_EXAMPLE, "metadata": {}}, "metadata.name is required"),
    ({**DESIGN_EXAMPLE, "spec": {"type": "endpoint", "endpoint": {}}}, "spec.endpoint.url is required"),
    ({**DESIGN_EXAMPLE, "spec": {"type": "endpoint", "endpoint": {"url": "http://x", "readTimeout": "soon"}}},
     "spec.endpoint.readTimeout must be a number of milliseconds"),
    ({**DESIGN_EXAMPLE, "spec": {"type": "queue"}}, "spec.type must be endpoint, simple or authServer"),
])
def test_bad_documents_name_the_field(doc, message):
    with pytest.raises(AliasSpecError, match=message):
        aliases_from_document(doc)


def test_fingerprint_depends_on_values_and_alias_name_and_hides_them():
    a = fingerprint("alias-a", {"p": "secret-1"})
    assert len(a) == 16 and a == fingerprint("alias-a", {"p": "secret-1"})
    assert a != fingerprint("alias-a", {"p": "secret-2"})
    assert a != fingerprint("alias-b", {"p": "secret-1"})  # salted: equal secrets do not show across aliases
    assert fingerprint("alias-a", {}) is None


def test_the_marker_round_trips_through_the_description():
    assert split_description(with_marker("backend creds", "0123456789abcdef")) == ("backend creds", "0123456789abcdef")
    assert split_description("plain text") == ("plain text", None)
    assert with_marker("", None) == ""
