"""Applications and their API association (APIGatewayApplication.json, CONTRACT §3, LIVE-NOTES).

Create returns the bare object; a single GET returns a one-element
``applications`` array; ``PUT /applications/{id}/apis`` replaces the whole
set and a bare array there answers 500 with ``errorDetails: null``.
"""
from __future__ import annotations

import copy
import secrets

from .errors import bad_payload, error_details, no_permission
from .http import route
from .store import gateway_time, new_id

# LIVE-NOTES: a closed enum; anything else is a 400.
IDENTIFIER_KEYS = frozenset({
    "partnerId", "ipAddressRange", "httpsCertificate", "jwtClaims", "hostNameAddress", "token",
    "httpBasicAuth", "wssecUsernameToken", "payloadElement", "openIdClaims",
})
WRITABLE = ("name", "description", "version", "identifiers", "contactEmails", "siteURLs", "jsOrigins",
            "isSuspended", "authStrategyIds", "teams")


def public_view(app: dict) -> dict:
    view = {k: v for k, v in app.items() if k != "apiIDs"}
    view["consumingAPIs"] = list(app.get("apiIDs", []))
    return view


def _app(req, app_id: str) -> dict:
    app = req.store.applications.get(app_id)
    if app is None:
        raise error_details(404, f"Application with id: {app_id} does not exist.")
    return app


def _validated(body: dict) -> dict:
    if not isinstance(body.get("name"), str) or not body["name"]:
        raise error_details(400, "Application name is required")
    for identifier in body.get("identifiers") or []:
        if not isinstance(identifier, dict) or identifier.get("key") not in IDENTIFIER_KEYS:
            raise error_details(400, f"Invalid identifier key: {identifier.get('key') if isinstance(identifier, dict) else identifier}")
        if not isinstance(identifier.get("value"), list):
            raise error_details(400, "Identifier value must be a list of strings")
    return {k: copy.deepcopy(body[k]) for k in WRITABLE if k in body}


@route("GET", "/applications")
def list_applications(req):
    return 200, {"applications": [public_view(a) for a in req.store.applications.values()]}


@route("POST", "/applications")
def create_application(req):
    body = _validated(req.json_object())
    now = gateway_time()
    app = {"version": "1.0", "description": "", "identifiers": [], "contactEmails": [], "siteURLs": [],
           "jsOrigins": [], "isSuspended": False, "authStrategyIds": [], **body,
           "id": new_id(), "owner": "Administrator", "creationDate": now, "lastModified": now, "apiIDs": [],
           "accessTokens": {"apiAccessKey_credentials": {"apiAccessKey": secrets.token_hex(16), "expired": False}}}
    for identifier in app["identifiers"]:
        identifier.setdefault("id", new_id())
    req.store.applications[app["id"]] = app
    return 201, public_view(app)


@route("GET", "/applications/{app_id}")
def get_application(req, app_id):
    return 200, {"applications": [public_view(_app(req, app_id))]}


@route("PUT", "/applications/{app_id}")
def update_application(req, app_id):
    app = _app(req, app_id)
    app.update(_validated(req.json_object()))
    app["lastModified"] = gateway_time()
    return 200, {"applications": [public_view(app)]}


@route("DELETE", "/applications/{app_id}")
def delete_application(req, app_id):
    _app(req, app_id)
    del req.store.applications[app_id]
    return 204, None


@route("GET", "/applications/{app_id}/apis")
def application_apis(req, app_id):
    return 200, {"apiIDs": list(_app(req, app_id)["apiIDs"])}


def _associate(req, app_id):
    app = _app(req, app_id)
    body = req.json()
    if not isinstance(body, dict):
        raise error_details(500, None)  # LIVE-NOTES: a bare array gives 500 with errorDetails null
    ids = body.get("apiIDs")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_payload()
    unknown = [i for i in ids if i not in req.store.apis]
    if unknown:
        raise no_permission()
    app["apiIDs"] = list(dict.fromkeys(ids))
    return 204, None


route("PUT", "/applications/{app_id}/apis")(_associate)
route("POST", "/applications/{app_id}/apis")(_associate)
