"""APIs (APIGatewayServiceManagement.json, CONTRACT §1, LIVE-NOTES).

Behaviour kept from a live 10.15 where the swagger says otherwise:
- ``POST /apis`` answers 201, and 409 when the apiName exists (any version);
- ``PUT /apis/{id}`` is refused with 400 while the API is active;
- an unknown id answers 401, not 404;
- a new version is minted only from the latest one, and keeps the applications
  only when the body says exactly ``"retainApplications": true``;
- ``teams`` sits at envelope level.
"""
from __future__ import annotations

import copy
import json
import urllib.request
from urllib.error import URLError

from . import documents
from .errors import api_error, bad_payload, no_permission
from .http import route
from .policies import clone_policy, delete_policy, new_api_policy
from .store import gateway_time, new_id

DEFAULT_TEAMS = [{"id": "Administrators", "name": "Administrators", "source": "SYSTEM"},
                 {"id": "Default", "name": "Default", "source": "SYSTEM"}]
SUMMARY_FIELDS = ("apiName", "apiVersion", "apiDescription", "isActive", "type", "publishedPortals", "systemVersion", "id")


def _api(req, api_id: str) -> dict:
    api = req.store.apis.get(api_id)
    if api is None:
        raise no_permission()
    return api


def _gateway_endpoints(req, api: dict) -> list[str]:
    if not api["isActive"]:
        return []
    return [f"{req.public_url}/gateway/{api['apiName']}/{api['apiVersion']}"]


def _versions(req, api: dict) -> list[dict]:
    chain = [a for a in req.store.apis.values() if a["apiName"] == api["apiName"]]
    return [{"versionNumber": a["apiVersion"], "apiId": a["id"]} for a in sorted(chain, key=lambda a: a["systemVersion"])]


def _envelope(req, api: dict, with_endpoints: bool = False) -> dict:
    envelope = {"api": {k: v for k, v in api.items() if k != "teams"}, "responseStatus": "SUCCESS",
                "versions": _versions(req, api), "teams": api["teams"]}
    if with_endpoints:
        envelope["gatewayEndPoints"] = _gateway_endpoints(req, api)
    return {"apiResponse": envelope}


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the import-by-URL feature
            return response.read()
    except (URLError, ValueError, OSError) as exc:
        raise api_error(400, f"Unable to read the API definition from {url}: {exc}") from None


def _incoming_document(req) -> tuple[dict, dict]:
    """(fields, document) of a multipart, URL or inline import."""
    if req.is_multipart:
        form = req.form()
        fields = {k: v.decode("utf-8", "replace") for k, v in form.items() if k != "file"}
        if "file" not in form:
            raise api_error(400, "The file is missing in the request")
        return fields, documents.parse(form["file"])
    body = req.json_object()
    fields = {k: v for k, v in body.items() if isinstance(v, str)}
    if "url" in body:
        return fields, documents.parse(_fetch(body["url"]))
    if isinstance(body.get("apiDefinition"), dict):
        return fields, body["apiDefinition"]
    raise api_error(400, "Provide a file, a url or an apiDefinition")


def _apply_document(api: dict, store, doc: dict, found: str, keep_tags: bool) -> None:
    tags = api.get("apiDefinition", {}).get("apiTags", []) if keep_tags else [
        t["name"] for t in doc.get("tags", []) if isinstance(t, dict) and "name" in t]
    api["apiDefinition"] = documents.api_definition(doc, found, tags)
    endpoint = documents.native_endpoint(doc, found)
    api["nativeEndpoint"] = [{"passSecurityHeaders": True, "uri": endpoint, "connectionTimeoutDuration": 0, "alias": False}] if endpoint else []
    store.documents[api["id"]] = {"format": found, "document": doc}


@route("GET", "/apis")
def list_apis(req):
    wanted = req.list_arg("apiIds")
    entries = []
    for api_id in wanted or list(req.store.apis):
        api = req.store.apis.get(api_id)
        if api is None:
            entries.append({"responseStatus": "NOT_FOUND", "api": {"id": api_id}})
            continue
        entries.append({"api": {k: api[k] for k in SUMMARY_FIELDS}, "responseStatus": "SUCCESS", "teams": api["teams"]})
    if not entries:
        # The official use cases test apiResponse[0].responseStatus == "NOT_FOUND" on an empty gateway.
        entries.append({"responseStatus": "NOT_FOUND"})
    return 200, {"apiResponse": entries}


@route("POST", "/apis")
def create_api(req):
    fields, doc = _incoming_document(req)
    found = documents.check(doc, fields.get("type", ""))
    name = fields.get("apiName") or doc["info"]["title"]
    if not documents.API_NAME.match(name):
        raise api_error(400, f"Invalid API name {name!r}: use letters, digits, '.', '_' and '-' only")
    if any(a["apiName"] == name for a in req.store.apis.values()):
        raise api_error(409, f"API with the name {name} already exists. Create a new version instead.")
    now = gateway_time()
    api = {
        "id": new_id(), "apiName": name,
        "apiVersion": fields.get("apiVersion") or str(doc["info"].get("version", "1.0")),
        "apiDescription": fields.get("apiDescription") or doc["info"].get("description", ""),
        "type": "REST", "isActive": False, "systemVersion": 1, "maturityState": fields.get("maturityState", "Beta"),
        "owner": "Administrator", "scopes": [], "apiGroups": [], "publishedPortals": [],
        "creationDate": now, "lastModified": now, "tracingEnabled": False,
        "teams": copy.deepcopy(DEFAULT_TEAMS),
    }
    _apply_document(api, req.store, doc, found, keep_tags=False)
    endpoint = api["nativeEndpoint"][0]["uri"] if api["nativeEndpoint"] else None
    api["policies"] = [new_api_policy(req.store, name, endpoint)["id"]]
    req.store.apis[api["id"]] = api
    return 201, _envelope(req, api)


@route("GET", "/apis/{api_id}")
def get_api(req, api_id):
    api = _api(req, api_id)
    wanted_format = req.arg("format")
    if wanted_format:
        stored = req.store.documents.get(api_id)
        if not stored or wanted_format not in ("openapi", "swagger"):
            raise api_error(400, f"The API cannot be exported as {wanted_format}", api_id)
        doc = copy.deepcopy(stored["document"])
        endpoints = _gateway_endpoints(req, api) or [f"{req.public_url}/gateway/{api['apiName']}/{api['apiVersion']}"]
        if stored["format"] == "openapi":
            doc["servers"] = [{"url": e} for e in endpoints]
        return 200, json.dumps(doc)
    return 200, _envelope(req, api, with_endpoints=True)


@route("PUT", "/apis/{api_id}")
def update_api(req, api_id):
    api = _api(req, api_id)
    if api["isActive"]:
        raise api_error(400, "API is active. Deactivate the API before updating it.", api_id)
    if req.is_multipart or "url" in req.json_object():
        fields, doc = _incoming_document(req)
        found = documents.check(doc, fields.get("type", ""), updating=True)
        keep_tags = (req.arg("overwriteTags", "false") or "").lower() != "true"
        _apply_document(api, req.store, doc, found, keep_tags)
        if fields.get("apiDescription"):
            api["apiDescription"] = fields["apiDescription"]
    else:
        body = req.json_object()
        if body.get("apiName", api["apiName"]) != api["apiName"] or body.get("apiVersion", api["apiVersion"]) != api["apiVersion"]:
            raise api_error(400, "apiName and apiVersion cannot be changed by an update", api_id)
        for key in ("apiDescription", "maturityState", "scopes", "apiGroups"):
            if key in body:
                api[key] = body[key]
        definition = body.get("apiDefinition")
        if isinstance(definition, dict) and isinstance(definition.get("apiTags"), list):
            if not all(isinstance(t, str) for t in definition["apiTags"]):
                raise bad_payload()
            api["apiDefinition"]["apiTags"] = list(definition["apiTags"])
    api["lastModified"] = gateway_time()
    return 200, _envelope(req, api)


@route("PUT", "/apis/{api_id}/activate")
def activate(req, api_id):
    api = _api(req, api_id)
    if api["isActive"]:
        raise api_error(400, "API is already active.", api_id)
    stored = req.store.documents.get(api_id)
    if stored and not documents.has_operations(stored["document"]):
        raise api_error(400, "API cannot be activated: no resources or operations are enabled.", api_id)
    api["isActive"] = True
    return 200, _envelope(req, api, with_endpoints=True)


@route("PUT", "/apis/{api_id}/deactivate")
def deactivate(req, api_id):
    api = _api(req, api_id)
    if not api["isActive"]:
        raise api_error(400, "API is already inactive.", api_id)
    api["isActive"] = False
    return 200, _envelope(req, api)


@route("GET", "/apis/{api_id}/versions")
def list_versions(req, api_id):
    api = _api(req, api_id)
    return 200, {"apiResponse": {"responseStatus": "SUCCESS", "versions": _versions(req, api)}}


@route("POST", "/apis/{api_id}/versions")
def create_version(req, api_id):
    base = _api(req, api_id)
    body = req.json_object()
    new_version = body.get("newApiVersion")
    if not isinstance(new_version, str) or not new_version:
        raise api_error(400, "newApiVersion is required", api_id)
    if base.get("nextVersion"):
        raise api_error(400, "Versioning is allowed only from latest version", api_id)
    if any(a["apiName"] == base["apiName"] and a["apiVersion"] == new_version for a in req.store.apis.values()):
        raise api_error(400, f"Version {new_version} of {base['apiName']} already exists", api_id)
    now = gateway_time()
    api = copy.deepcopy(base)
    api.update(id=new_id(), apiVersion=new_version, isActive=False, systemVersion=base["systemVersion"] + 1,
               prevVersion=base["id"], creationDate=now, lastModified=now, publishedPortals=[])
    api.pop("nextVersion", None)
    api["policies"] = [clone_policy(req.store, pid, api["apiName"]) for pid in base["policies"]]
    base["nextVersion"] = api["id"]
    req.store.apis[api["id"]] = api
    if api_id in req.store.documents:
        req.store.documents[api["id"]] = copy.deepcopy(req.store.documents[api_id])
    # Case-exact and boolean: anything else loses the subscriptions, still with a success status.
    if body.get("retainApplications") is True:
        for app in req.store.applications.values():
            if api_id in app.get("apiIDs", []):
                app["apiIDs"].append(api["id"])
    return 201, _envelope(req, api)


@route("GET", "/apis/{api_id}/applications")
def api_applications(req, api_id):
    _api(req, api_id)
    from .applications import public_view

    apps = [public_view(a) for a in req.store.applications.values() if api_id in a.get("apiIDs", [])]
    return 200, {"applications": apps}


@route("DELETE", "/apis/{api_id}")
def delete_api(req, api_id):
    api = _api(req, api_id)
    if api["isActive"]:
        raise api_error(400, "API is active. Deactivate the API before deleting it.", api_id)
    subscribed = [a for a in req.store.applications.values() if api_id in a.get("apiIDs", [])]
    if subscribed and (req.arg("forceDelete", "true") or "").lower() != "true":
        raise api_error(400, "API has associated applications. Use forceDelete=true.", api_id)
    for app in subscribed:
        app["apiIDs"].remove(api_id)
    for pid in api.get("policies", []):
        delete_policy(req.store, pid)
    prev_id, next_id = api.get("prevVersion"), api.get("nextVersion")
    if prev_id in req.store.apis:
        if next_id:
            req.store.apis[prev_id]["nextVersion"] = next_id
        else:
            req.store.apis[prev_id].pop("nextVersion", None)
    if next_id in req.store.apis:
        if prev_id:
            req.store.apis[next_id]["prevVersion"] = prev_id
        else:
            req.store.apis[next_id].pop("prevVersion", None)
    del req.store.apis[api_id]
    req.store.documents.pop(api_id, None)
    return 204, None
