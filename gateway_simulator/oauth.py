"""OAuth2/JWT strategies and scope mappings (CONTRACT §4 and §5, LIVE-NOTES).

``GET /strategies`` is a bare array with secrets in clear (live 10.15); the
single GET and POST answer ``{"strategy": …}`` with the secret masked.
10.15 deletes strategies with ``DELETE /strategies?ids=``.
"""
from __future__ import annotations

import copy

from .aliases import masked
from .errors import bad_payload, error_details
from .http import route
from .store import new_id

STRATEGY_TYPES = frozenset({"JWT_RSA", "JWT_HSA", "OPENID_CONNECT_RSA", "OPENID_CONNECT_HSA", "OAUTH2",
                            "OAUTH2_LOCAL_RSA", "OAUTH2_LOCAL_HSA", "COMPOSITE"})


def _strategy_body(req) -> dict:
    body = copy.deepcopy(req.json_object())
    if not body.get("name") or body.get("type") not in STRATEGY_TYPES:
        raise error_details(400, f"Invalid strategy: name is required and type must be one of {sorted(STRATEGY_TYPES)}")
    alias = body.get("authServerAlias")
    if alias and not any(a["name"] == alias for a in req.store.aliases.values()):
        raise error_details(400, f"Authorization server alias {alias} does not exist.")
    return body


def _strategy(req, strategy_id):
    strategy = req.store.strategies.get(strategy_id)
    if strategy is None:
        raise error_details(404, f"Strategy with id: {strategy_id} does not exist.")
    return strategy


@route("GET", "/strategies")
def list_strategies(req):
    return 200, list(req.store.strategies.values())


@route("POST", "/strategies")
def create_strategy(req):
    body = _strategy_body(req)
    if any(s["name"] == body["name"] for s in req.store.strategies.values()):
        raise error_details(400, f"Strategy with name {body['name']} already exists.")
    strategy = {**body, "id": new_id()}
    req.store.strategies[strategy["id"]] = strategy
    return 200, {"strategy": masked(strategy)}


@route("GET", "/strategies/{strategy_id}")
def get_strategy(req, strategy_id):
    return 200, {"strategy": masked(_strategy(req, strategy_id))}


@route("PUT", "/strategies/{strategy_id}")
def update_strategy(req, strategy_id):
    _strategy(req, strategy_id)
    strategy = {**_strategy_body(req), "id": strategy_id}
    req.store.strategies[strategy_id] = strategy
    return 200, {"strategy": masked(strategy)}


@route("DELETE", "/strategies")
def delete_strategies(req):
    ids = req.list_arg("ids")
    if not ids or any(i not in req.store.strategies for i in ids):
        raise error_details(404, f"Strategy with id: {','.join(ids)} does not exist.")
    for strategy_id in ids:
        del req.store.strategies[strategy_id]
    return 204, None


def _scope_body(req) -> dict:
    body = copy.deepcopy(req.json_object())
    if not body.get("scopeName"):
        raise bad_payload()
    for required in body.get("requiredAuthScopes") or []:
        alias = next((a for a in req.store.aliases.values() if a["name"] == required.get("authServerAlias")), None)
        if alias is None or required.get("scopeName") not in [s.get("name") for s in alias.get("scopes") or []]:
            raise error_details(400, f"Scope {required.get('scopeName')} is not defined in authorization server "
                                     f"alias {required.get('authServerAlias')}.")
    return body


def _scope(req, scope_id):
    scope = req.store.scopes.get(scope_id)
    if scope is None:
        raise error_details(404, f"Scope with id: {scope_id} does not exist.")
    return scope


@route("GET", "/scopes")
def list_scopes(req):
    return 200, {"scopes": list(req.store.scopes.values())}


@route("POST", "/scopes")
def create_scope(req):
    body = _scope_body(req)
    if any(s["scopeName"] == body["scopeName"] for s in req.store.scopes.values()):
        raise error_details(400, f"Scope mapping {body['scopeName']} already exists.")
    scope = {**body, "id": new_id()}
    req.store.scopes[scope["id"]] = scope
    return 201, {"scope": scope}


@route("GET", "/scopes/{scope_id}")
def get_scope(req, scope_id):
    return 200, {"scope": _scope(req, scope_id)}


@route("PUT", "/scopes/{scope_id}")
def update_scope(req, scope_id):
    _scope(req, scope_id)
    scope = {**_scope_body(req), "id": scope_id}
    req.store.scopes[scope_id] = scope
    return 200, {"scope": scope}


@route("DELETE", "/scopes/{scope_id}")
def delete_scope(req, scope_id):
    _scope(req, scope_id)
    del req.store.scopes[scope_id]
    return 204, None
