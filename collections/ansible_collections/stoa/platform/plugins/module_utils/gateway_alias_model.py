# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Gateway aliases: module options to 10.15 alias bodies, secrets, fingerprints and views.

The gateway masks secrets on GET, so they cannot be compared. What was last
sent is recorded instead as a fingerprint at the end of the alias'
description, ``[stoa-secrets:<16 hex>]``: PBKDF2-HMAC-SHA256 of the secret
values, salted with the alias name (100,000 iterations, so that the
fingerprint of a weak password is costly to attack). A secret rotated in Vault
changes the fingerprint and leads to an update; an unchanged one to none.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import hashlib
import json
import re

MARKER = re.compile(r"\s*\[stoa-secrets:([0-9a-f]{16})\]$")
ITERATIONS = 100000
ALIAS_TYPES = {"simple": "simple", "endpoint": "endpoint", "auth_server": "authServerAlias",
               "transport_security": "httpTransportSecurityAlias"}
TRANSPORT_AUTH_TYPES = {"basic": "HTTP_BASIC", "oauth2_token": "OAUTH2"}
SERVER_OWNED = ("id", "owner", "isAssociated")


class AliasSpecError(ValueError):
    """Options that do not describe an alias; raised before anything is sent."""


def fingerprint(name, secrets):
    """Non-reversible fingerprint of the secret values (a dict path -> value)."""
    if not secrets:
        return None
    material = json.dumps(secrets, sort_keys=True).encode("utf-8")
    digest = hashlib.pbkdf2_hmac("sha256", material, ("stoa-gateway-alias:" + name).encode("utf-8"), ITERATIONS)
    return digest.hex()[:16]


def split_description(description):
    """(description without the marker, fingerprint or None)."""
    match = MARKER.search(description or "")
    if not match:
        return description or "", None
    return (description or "")[:match.start()], match.group(1)


def with_marker(description, secrets_fingerprint):
    if not secrets_fingerprint:
        return description or ""
    return ("%s [stoa-secrets:%s]" % (description or "", secrets_fingerprint)).lstrip()


def _set_path(body, path, value):
    node = body
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def _drop_none(node):
    if isinstance(node, dict):
        return dict((k, _drop_none(v)) for k, v in node.items() if v is not None and v != {} and v != [])
    return node


def desired_alias(name, alias_type, description, options):
    """(body without secrets, {secret path: value or Vault reference}) for one alias."""
    gateway_type = ALIAS_TYPES[alias_type]
    body = {"name": name, "type": gateway_type, "description": description or ""}
    secrets = {}
    if alias_type == "simple":
        value = options.get("value")
        if value is None:
            raise AliasSpecError("a simple alias needs value")
        if options.get("value_is_secret") or str(value).startswith("vault:"):
            secrets["value"] = value
        else:
            body["value"] = value
    elif alias_type == "endpoint":
        endpoint = options.get("endpoint") or {}
        if not endpoint.get("url"):
            raise AliasSpecError("an endpoint alias needs endpoint.url")
        body.update(_drop_none({
            "endPointURI": endpoint["url"],  # case-exact on 10.15: a wrong case is stored inert
            "connectionTimeout": endpoint.get("connection_timeout"),
            "readTimeout": endpoint.get("read_timeout"),
            "passSecurityHeaders": endpoint.get("pass_security_headers"),
            "optimizationTechnique": endpoint.get("optimization"),
            "keystoreAlias": endpoint.get("keystore_alias"),
            "keyAlias": endpoint.get("key_alias"),
            "truststoreAlias": endpoint.get("truststore_alias"),
        }))
    elif alias_type == "auth_server":
        server = options.get("auth_server") or {}
        if not server.get("issuer") and not server.get("introspection_endpoint"):
            raise AliasSpecError("an auth_server alias needs auth_server.issuer (local JWT validation) "
                                 "or auth_server.introspection_endpoint (remote introspection)")
        body.update(_drop_none({
            "authServerType": "EXTERNAL",
            "localIntrospectionConfig": {"issuer": server.get("issuer"), "jwksuri": server.get("jwks_uri")},
            "remoteIntrospectionConfig": {"introspectionEndpoint": server.get("introspection_endpoint"),
                                          "clientId": server.get("client_id"),
                                          "user": server.get("introspection_user")},
            "metadata": {"authorizeURL": server.get("authorize_url"), "accessTokenURL": server.get("token_url"),
                         "refreshTokenURL": server.get("refresh_token_url") or server.get("token_url")},
            "scopes": [{"name": s["name"], "description": s.get("description") or s["name"]}
                       for s in server.get("scopes") or []],
        }))
        if server.get("client_secret") is not None:
            secrets["remoteIntrospectionConfig.clientSecret"] = server["client_secret"]
    elif alias_type == "transport_security":
        transport = options.get("transport_security") or {}
        auth_type = transport.get("auth_type")
        body.update({"authType": TRANSPORT_AUTH_TYPES[auth_type], "authMode": "NEW"})
        if auth_type == "basic":
            if not transport.get("username") or transport.get("password") is None:
                raise AliasSpecError("transport_security with auth_type=basic needs username and password")
            if str(transport["username"]).startswith("vault:"):
                secrets["httpAuthCredentials.userName"] = transport["username"]
            else:
                body["httpAuthCredentials"] = {"userName": transport["username"]}
            secrets["httpAuthCredentials.password"] = transport["password"]
        else:
            if transport.get("token") is None:
                raise AliasSpecError("transport_security with auth_type=oauth2_token needs token")
            secrets["oauth2Token"] = transport["token"]
    return body, secrets


def secret_for_wire(path, value):
    """10.15 wants credential alias passwords base64-encoded (LIVE-NOTES)."""
    if path == "httpAuthCredentials.password":
        return base64.b64encode(value.encode("utf-8")).decode("ascii")
    return value


def request_body(current, body, secrets, secrets_fingerprint):
    """The whole alias to send: the read-back alias, the desired fields, every secret re-sent."""
    merged = dict((k, v) for k, v in copy.deepcopy(current or {}).items() if k not in SERVER_OWNED)
    for key, value in body.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    for path, value in secrets.items():
        _set_path(merged, path, secret_for_wire(path, value))
    merged["description"] = with_marker(body.get("description"), secrets_fingerprint)
    return merged


def _get_path(node, path):
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _managed_subset(current, desired):
    """The values of ``current`` at the keys ``desired`` sets (recursively), for comparison."""
    if isinstance(desired, dict):
        current = current if isinstance(current, dict) else {}
        return dict((k, _managed_subset(current.get(k), v)) for k, v in desired.items())
    if isinstance(desired, (int, float)) and not isinstance(desired, bool) and isinstance(current, str):
        try:
            return type(desired)(current)  # the gateway may store timeouts as strings
        except ValueError:
            return current
    return current


def _drop_paths(node, paths):
    """Remove the dotted ``paths`` (the secrets) from a nested dict, in place."""
    for path in paths:
        parent_path, _dot, key = path.rpartition(".")
        parent = _get_path(node, parent_path) if parent_path else node
        if isinstance(parent, dict):
            parent.pop(key, None)


def view(alias, secret_paths=()):
    """An operator-facing view: no secret, the fingerprint instead."""
    if alias is None:
        return None
    shown = copy.deepcopy(alias)
    description, recorded = split_description(shown.get("description"))
    shown["description"] = description
    _drop_paths(shown, secret_paths)
    shown["secrets_fingerprint"] = recorded
    return shown


def comparable(alias, body, secret_paths):
    """The managed part of an alias (current or desired), with its secrets fingerprint."""
    if alias is None:
        return None
    managed = _managed_subset(alias, dict((k, v) for k, v in body.items() if k != "description"))
    description, recorded = split_description(alias.get("description"))
    managed["description"] = description
    managed["secrets_fingerprint"] = recorded
    _drop_paths(managed, secret_paths)
    return managed


# -- converging one alias (gateway_alias, gateway_alias_set) -------------------------------------------
def find_alias(client, name, aliases=None):
    """The alias named ``name``, or None.

    Alone: ``GET /alias``, then ``GET /alias/{id}`` of the match, as Software AG's own role does.
    ``aliases`` is an already fetched ``GET /alias`` list (a set of aliases reads it once): its entries
    are whole Alias objects, secrets masked as on GET /alias/{id} (APIGatewayAlias.json declares the list
    as an array of Alias), so the match is used as it is, without a GET per alias.
    """
    matches = [a for a in (client.list_aliases() if aliases is None else aliases) if a.get("name") == name]
    if len(matches) > 1:
        raise AliasSpecError("%d aliases are named %s on the gateway" % (len(matches), name))
    if not matches:
        return None
    return copy.deepcopy(matches[0]) if aliases is not None else client.get_alias(matches[0]["id"])


def remove_alias(client, name, check_mode, aliases=None):
    """Delete the alias if it exists. Returns the result dict (name, changed, existing, end_state, diff)."""
    current = find_alias(client, name, aliases)
    result = dict(name=name, changed=False, existing=view(current), end_state=None)
    if current is not None:
        result.update(changed=True, alias_id=current["id"])
        if not check_mode:
            client.delete_alias(current["id"])
    result["diff"] = dict(before=result["existing"] or {}, after={})
    return result


def converge_alias(client, name, body, secrets, values, check_mode, aliases=None):
    """One alias to its desired state; ``secrets`` maps paths to values or references, ``values`` resolves them.

    Returns the result dict (name, changed, existing, end_state, diff, secrets_changed, alias_id).
    Raises :class:`AliasSpecError` when the alias exists with another type.
    """
    resolved = dict((path, values.get(value, value)) for path, value in secrets.items())
    secrets_fingerprint = fingerprint(name, resolved)
    paths = sorted(secrets)
    current = find_alias(client, name, aliases)
    if current is not None and current.get("type") != body["type"]:
        raise AliasSpecError(
            "alias %s is of type %s on the gateway, not %s; the type cannot change in place, and deleting it "
            "would break the APIs that resolved it: choose another name" % (name, current.get("type"), body["type"]))
    desired = dict(body, description=with_marker(body["description"], secrets_fingerprint))
    before, after = comparable(current, body, paths), comparable(desired, body, paths)
    result = dict(name=name, changed=False, existing=view(current, paths), diff=dict(before=before or {}, after=after),
                  secrets_changed=(before or {}).get("secrets_fingerprint") != secrets_fingerprint)
    if before == after:
        result.update(end_state=result["existing"], alias_id=current["id"])
        return result
    result["changed"] = True
    wire = request_body(current, body, resolved, secrets_fingerprint)
    if check_mode:
        predicted = dict(wire, id=(current or {}).get("id"))
        result.update(end_state=view(predicted, paths), alias_id=predicted["id"])
        return result
    saved = client.create_alias(wire) if current is None else client.update_alias(current["id"], wire)
    result.update(end_state=view(client.get_alias(saved["id"]), paths), alias_id=saved["id"])
    return result


# -- GatewayAlias documents of the GitOps repository (design phase 3) -------------------------------
API_VERSION = "stoa.cab-i.com/v1"


def _ms_to_seconds(value, where):
    if value is None:
        return None
    try:
        milliseconds = int(value)
    except (TypeError, ValueError):
        raise AliasSpecError("%s must be a number of milliseconds, not %r" % (where, value))
    return max(1, -(-milliseconds // 1000))  # the gateway counts whole seconds; round up


def _required(node, key, where):
    if not isinstance(node, dict) or node.get(key) in (None, ""):
        raise AliasSpecError("%s.%s is required" % (where, key))
    return node[key]


def aliases_from_document(document):
    """The gateway aliases one GatewayAlias document stands for: [(name, type, description, options)].

    An endpoint with ``authentication`` becomes two aliases, because a 10.15 endpoint alias has no
    credentials: ``<name>`` (URL, timeouts) for routing, and ``<name>-auth`` (HTTP transport security,
    for the API's outbound authentication policy) or ``<name>-apikey`` (a secret simple alias for a
    header policy). Timeouts are milliseconds in Git and whole seconds on the gateway.
    """
    if not isinstance(document, dict):
        raise AliasSpecError("a GatewayAlias document must be a mapping")
    if document.get("apiVersion") != API_VERSION or document.get("kind") != "GatewayAlias":
        raise AliasSpecError("apiVersion must be %s and kind GatewayAlias (got %r, %r)"
                             % (API_VERSION, document.get("apiVersion"), document.get("kind")))
    name = _required(document.get("metadata"), "name", "metadata")
    spec = document.get("spec")
    alias_type = _required(spec, "type", "spec")
    description = spec.get("description") or ""
    if alias_type == "simple":
        value = spec.get("valueRef") or _required(spec, "value", "spec")
        return [(name, "simple", description, {"value": value, "value_is_secret": bool(spec.get("valueRef"))})]
    if alias_type == "authServer":
        server = _required(spec, "authServer", "spec")
        return [(name, "auth_server", description, {"auth_server": {
            "issuer": server.get("issuer"), "jwks_uri": server.get("jwksUri"),
            "introspection_endpoint": server.get("introspectionEndpoint"), "client_id": server.get("clientId"),
            "client_secret": server.get("clientSecretRef"), "introspection_user": server.get("introspectionUser"),
            "authorize_url": server.get("authorizeUrl"), "token_url": server.get("tokenUrl"),
            "scopes": [{"name": s} if isinstance(s, str) else s for s in server.get("scopes") or []]}})]
    if alias_type != "endpoint":
        raise AliasSpecError("spec.type must be endpoint, simple or authServer, not %r" % alias_type)
    endpoint = _required(spec, "endpoint", "spec")
    aliases = [(name, "endpoint", description, {"endpoint": {
        "url": _required(endpoint, "url", "spec.endpoint"),
        "connection_timeout": _ms_to_seconds(endpoint.get("connectionTimeout"), "spec.endpoint.connectionTimeout"),
        "read_timeout": _ms_to_seconds(endpoint.get("readTimeout"), "spec.endpoint.readTimeout")}})]
    auth = spec.get("authentication")
    if not auth:
        return aliases
    auth_type = _required(auth, "type", "spec.authentication")
    if auth_type == "basic":
        basic = _required(auth, "basic", "spec.authentication")
        username = basic.get("usernameRef") or _required(basic, "username", "spec.authentication.basic")
        aliases.append((name + "-auth", "transport_security", "credentials for " + name, {"transport_security": {
            "auth_type": "basic", "username": username,
            "password": _required(basic, "passwordRef", "spec.authentication.basic")}}))
    elif auth_type == "oauth2Token":
        token = _required(auth, "oauth2Token", "spec.authentication")
        aliases.append((name + "-auth", "transport_security", "token for " + name, {"transport_security": {
            "auth_type": "oauth2_token", "token": _required(token, "tokenRef", "spec.authentication.oauth2Token")}}))
    elif auth_type == "apiKey":
        api_key = _required(auth, "apiKey", "spec.authentication")
        aliases.append((name + "-apikey", "simple", "API key for " + name, {
            "value": _required(api_key, "valueRef", "spec.authentication.apiKey"), "value_is_secret": True}))
    elif auth_type == "oauth2":
        raise AliasSpecError(
            "%s: spec.authentication.type oauth2 (client credentials with tokenUrl, clientIdRef, clientSecretRef) "
            "cannot be expressed by a webMethods 10.15 alias: its transport security alias holds a fixed token. "
            "Use type oauth2Token with a tokenRef that a job refreshes, or basic/apiKey" % name)
    else:
        raise AliasSpecError("spec.authentication.type must be basic, apiKey, oauth2Token or oauth2, not %r" % auth_type)
    return aliases
