"""Aliases (APIGatewayAlias.json, CONTRACT §2, LIVE-NOTES).

Naked bodies in, ``{"alias": …}`` out; the list holds the built-in aliases;
secrets read back masked (base64 of asterisks, as a live 10.15 does), so a
client can never diff them; the type of an alias cannot change (405).
"""
from __future__ import annotations

import base64
import copy

from .errors import bad_payload, error_details
from .http import route
from .store import BUILTIN_ALIAS_IDS, new_id

ALIAS_TYPES = frozenset({
    "simple", "endpoint", "httpTransportSecurityAlias", "soapMessageSecurityAlias", "samlIssuerAlias",
    "authServerAlias", "webmethodsAlias", "transformationAlias", "serviceRegistryAlias",
    "clientMetadataMapping", "awsConfigurationAlias", "isConfigurationAlias",
})
SECRET_KEYS = frozenset({"password", "clientSecret", "secret", "accessToken", "refreshToken"})
MASK = base64.b64encode(b"********").decode()


def masked(node):
    if isinstance(node, dict):
        return {k: (MASK if k in SECRET_KEYS and v else masked(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [masked(v) for v in node]
    return node


def _validated(body: dict) -> dict:
    if not isinstance(body.get("name"), str) or not body["name"]:
        raise error_details(400, "Alias name is required")
    if body.get("type") not in ALIAS_TYPES:
        raise error_details(400, f"Invalid alias type: {body.get('type')}")
    if body["type"] == "endpoint" and not body.get("endPointURI"):
        # LIVE-NOTES: the key is case-exact; a wrong case is stored inert. We refuse it instead of storing nothing.
        raise error_details(400, "endPointURI is required for an endpoint alias")
    return body


def _alias(req, alias_id: str) -> dict:
    alias = req.store.aliases.get(alias_id)
    if alias is None:
        raise error_details(404, f"Alias with id: {alias_id} does not exist.")
    return alias


@route("GET", "/alias")
def list_aliases(req):
    return 200, {"alias": [masked(a) for a in req.store.aliases.values()]}


@route("GET", "/alias/{alias_id}")
def get_alias(req, alias_id):
    return 200, {"alias": masked(_alias(req, alias_id))}


@route("POST", "/alias")
def create_alias(req):
    body = _validated(copy.deepcopy(req.json_object()))
    if "alias" in body and "name" not in body:
        raise bad_payload()
    if any(a["name"] == body["name"] for a in req.store.aliases.values()):
        raise error_details(400, f"Alias with name {body['name']} already exists.")
    alias = {"description": "", "stage": "", "owner": "Administrator", **body, "id": new_id()}
    req.store.aliases[alias["id"]] = alias
    return 201, {"alias": masked(alias)}


@route("PUT", "/alias/{alias_id}")
def update_alias(req, alias_id):
    current = _alias(req, alias_id)
    body = _validated(copy.deepcopy(req.json_object()))
    if body["type"] != current["type"]:
        raise error_details(405, f"Unable to process the PUT request for alias. Method: PUT is not allowed on "
                                 f"resource: alias (type {current['type']} cannot become {body['type']})")
    if body["name"] != current["name"] and any(a["name"] == body["name"] for a in req.store.aliases.values()):
        raise error_details(400, f"Alias with name {body['name']} already exists.")
    body.pop("isAssociated", None)
    updated = {**body, "id": alias_id, "owner": current.get("owner", "Administrator")}
    req.store.aliases[alias_id] = updated
    return 200, {"alias": masked(updated)}


@route("DELETE", "/alias/{alias_id}")
def delete_alias(req, alias_id):
    _alias(req, alias_id)
    if alias_id in BUILTIN_ALIAS_IDS:
        raise error_details(405, f"Unable to process the DELETE request for alias. Method: DELETE is not allowed "
                                 f"on resource: alias {alias_id} (system alias)")
    del req.store.aliases[alias_id]
    return 204, None
