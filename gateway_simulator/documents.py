"""What the 10.15 import accepts, and how the gateway derives its model from a document.

Accepted: Swagger 2.0 (``type=swagger``) and OpenAPI 3.0.x (``type=openapi``).
Refused, as the collection must expect on a real 10.15:
- OpenAPI 3.1 (400): 10.15's model is the OAS 3.0 one (CONTRACT §10); rejecting it
  forces the downgrade path. This is the one behaviour chosen by the simulator
  rather than documented (no source gives 10.15's actual error).
- a ``$ref`` inside a response schema (500): LIVE-NOTES, "the 10.15 parser crashes".
- ``additionalProperties: true|false`` on update (500, "Cannot construct instance of
  Schema"): LIVE-NOTES, POST import tolerates the boolean, PUT does not.
"""
from __future__ import annotations

import json
import re

import yaml

from .errors import api_error, error_details

API_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def parse(raw: bytes) -> dict:
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise api_error(400, f"Unable to parse the API definition file: {exc}") from None
    if not isinstance(doc, dict):
        raise api_error(400, "Unable to parse the API definition file: not an object")
    return doc


def check(doc: dict, declared_type: str, updating: bool = False) -> str:
    """Validate an imported document; return its format, ``openapi`` or ``swagger``."""
    declared = (declared_type or "").lower()
    if declared not in ("openapi", "swagger"):
        raise api_error(400, f"Invalid type {declared_type!r}: expected swagger, openapi, raml or wsdl")
    if "openapi" in doc:
        version = str(doc["openapi"])
        if not re.match(r"^3\.0\.\d+$", version):
            raise api_error(400, f"Unsupported OpenAPI version {version}: API Gateway 10.15 imports OpenAPI 3.0.x and Swagger 2.0")
        found = "openapi"
    elif str(doc.get("swagger")) == "2.0":
        found = "swagger"
    else:
        raise api_error(400, "The file is neither a Swagger 2.0 nor an OpenAPI 3.0 document")
    if found != declared:
        raise api_error(400, f"The document is {found} but the import declared type={declared}")
    info = doc.get("info")
    if not isinstance(info, dict) or not info.get("title"):
        raise api_error(400, "The API definition has no info.title")
    if not isinstance(doc.get("paths"), dict):
        raise api_error(400, "The API definition has no paths object")
    if _response_schema_refs(doc, found):
        raise error_details(500, "java.lang.NullPointerException while parsing response schema")
    if updating and _boolean_additional_properties(doc):
        raise error_details(500, "Cannot construct instance of `Schema` (although at least one Creator exists): "
                                 "no boolean/Boolean-argument constructor/factory method to deserialize from boolean value")
    return found


def _operations(doc: dict):
    for item in doc.get("paths", {}).values():
        if isinstance(item, dict):
            for method, op in item.items():
                if method in ("get", "put", "post", "delete", "options", "head", "patch", "trace") and isinstance(op, dict):
                    yield method, op


def _response_schema_refs(doc: dict, found: str) -> bool:
    for _method, op in _operations(doc):
        for response in (op.get("responses") or {}).values():
            if not isinstance(response, dict):
                continue
            schemas = [response.get("schema")] if found == "swagger" else [
                media.get("schema") for media in (response.get("content") or {}).values() if isinstance(media, dict)
            ]
            if any(_contains_ref(s) for s in schemas if s is not None):
                return True
    return False


def _contains_ref(node) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_contains_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_contains_ref(v) for v in node)
    return False


def _boolean_additional_properties(node) -> bool:
    if isinstance(node, dict):
        if isinstance(node.get("additionalProperties"), bool):
            return True
        return any(_boolean_additional_properties(v) for v in node.values())
    if isinstance(node, list):
        return any(_boolean_additional_properties(v) for v in node)
    return False


def native_endpoint(doc: dict, found: str) -> str | None:
    """The gateway proxies to ``servers[0].url`` (Swagger: scheme://host/basePath)."""
    if found == "openapi":
        servers = doc.get("servers") or []
        url = servers[0].get("url") if servers and isinstance(servers[0], dict) else None
        return url if url and "://" in url else None
    host = doc.get("host")
    if not host:
        return None
    scheme = (doc.get("schemes") or ["https"])[0]
    return f"{scheme}://{host}{doc.get('basePath', '')}"


def api_definition(doc: dict, found: str, api_tags: list[str]) -> dict:
    """A reduced form of the gateway's own ``RestAPI`` model of an imported document."""
    info = doc.get("info", {})
    model = {
        "type": "rest",
        "info": {k: info[k] for k in ("title", "description", "version") if k in info},
        "paths": {path: {"parameters": []} for path in doc.get("paths", {})},
        "apiTags": list(api_tags),
        "tags": [{"name": t["name"]} for t in doc.get("tags", []) if isinstance(t, dict) and "name" in t],
        "externalDocs": [],
    }
    endpoint = native_endpoint(doc, found)
    model["servers"] = [{"url": endpoint}] if endpoint else []
    return model


def has_operations(doc: dict) -> bool:
    return any(True for _ in _operations(doc))
