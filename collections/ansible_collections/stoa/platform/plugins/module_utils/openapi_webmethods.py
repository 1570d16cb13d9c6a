# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The import fixes a live webMethods API Gateway 10.15 needs (shared/webmethods/LIVE-NOTES.md).

Separate from the semantic 3.1 -> 3.0 downgrade and opt-in: these are
gateway bugs worked around, some at the cost of information, each reported.
Input: an OpenAPI 3.0.x or Swagger 2.0 document (never modified; a copy is).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import join_pointer

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCHEMA_CHILD_LISTS = ("allOf", "anyOf", "oneOf")
SCHEMA_CHILDREN = ("items", "not", "additionalProperties")


def _fix(fixes, pointer, message, lossy):
    fixes.append({"pointer": pointer, "message": message, "lossy": lossy})


def _contains_ref(node):
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "$ref" in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _iter_operations(paths, pointer):
    if not isinstance(paths, dict):
        return
    for path, item in paths.items():
        if not isinstance(item, dict) or str(path).startswith("x-"):
            continue
        for method in HTTP_METHODS:
            if isinstance(item.get(method), dict):
                yield item[method], join_pointer(pointer, path, method)


def _iter_top_schemas(doc, swagger):
    """(schema, pointer) for each schema at a place the document structure defines."""
    operations = list(_iter_operations(doc.get("paths"), "/paths"))
    components = doc.get("components") if isinstance(doc.get("components"), dict) else {}
    if swagger:
        for name, schema in (doc.get("definitions") or {}).items():
            yield schema, join_pointer("/definitions", name)
    for name, schema in (components.get("schemas") or {}).items():
        yield schema, join_pointer("/components/schemas", name)
    holders = []  # objects with `schema` or `content`: parameters, headers, bodies, responses
    for operation, pointer in operations:
        for index, parameter in enumerate(operation.get("parameters") or []):
            holders.append((parameter, join_pointer(pointer, "parameters", index)))
        if isinstance(operation.get("requestBody"), dict):
            holders.append((operation["requestBody"], pointer + "/requestBody"))
        for code, response in (operation.get("responses") or {}).items():
            holders.append((response, join_pointer(pointer, "responses", code)))
    for section in ("parameters", "requestBodies", "responses", "headers"):
        for name, holder in (components.get(section) or {}).items():
            holders.append((holder, join_pointer("/components", section, name)))
    while holders:
        holder, pointer = holders.pop()
        if not isinstance(holder, dict):
            continue
        if isinstance(holder.get("schema"), dict):
            yield holder["schema"], pointer + "/schema"
        for media, media_object in (holder.get("content") or {}).items():
            if isinstance(media_object, dict) and isinstance(media_object.get("schema"), dict):
                yield media_object["schema"], join_pointer(pointer, "content", media, "schema")
        for name, header in (holder.get("headers") or {}).items():
            holders.append((header, join_pointer(pointer, "headers", name)))


def _walk_schema(schema, pointer, visit):
    stack = [(schema, pointer)]
    while stack:
        node, where = stack.pop()
        if not isinstance(node, dict):
            continue
        visit(node, where)
        for name, child in (node.get("properties") or {}).items():
            stack.append((child, join_pointer(where, "properties", name)))
        for keyword in SCHEMA_CHILDREN:
            stack.append((node.get(keyword), join_pointer(where, keyword)))
        for keyword in SCHEMA_CHILD_LISTS:
            for index, child in enumerate(node.get(keyword) or []):
                stack.append((child, join_pointer(where, keyword, index)))


def _strip_response_schemas(doc, swagger, fixes):
    responses = []
    for operation, pointer in _iter_operations(doc.get("paths"), "/paths"):
        for code, response in (operation.get("responses") or {}).items():
            responses.append((response, join_pointer(pointer, "responses", code)))
    components = doc.get("components") if isinstance(doc.get("components"), dict) else {}
    for name, response in ((doc.get("responses") if swagger else components.get("responses")) or {}).items():
        responses.append((response, join_pointer("/responses" if swagger else "/components/responses", name)))
    for response, pointer in responses:
        if not isinstance(response, dict):
            continue
        if swagger and _contains_ref(response.get("schema")):
            del response["schema"]
            _fix(fixes, pointer + "/schema", "response schema with $ref removed (10.15's parser crashes on it)",
                 lossy=True)
        for media, media_object in (response.get("content") or {}).items():
            if isinstance(media_object, dict) and _contains_ref(media_object.get("schema")):
                del media_object["schema"]
                _fix(fixes, join_pointer(pointer, "content", media, "schema"),
                     "response schema with $ref removed (10.15's parser crashes on it)", lossy=True)


def _upper_case_security_schemes(doc, swagger, fixes):
    components = doc.get("components") if isinstance(doc.get("components"), dict) else {}
    schemes = doc.get("securityDefinitions") if swagger else components.get("securitySchemes")
    base = "/securityDefinitions" if swagger else "/components/securitySchemes"
    for name, scheme in (schemes or {}).items():
        if not isinstance(scheme, dict) or "$ref" in scheme:
            continue
        for field in ("type", "in", "scheme"):
            value = scheme.get(field)
            if isinstance(value, str) and value != value.upper():
                scheme[field] = value.upper()
                _fix(fixes, join_pointer(base, name, field), "%s %r upper-cased for 10.15" % (field, value),
                     lossy=False)


def apply_webmethods_fixes(document):
    """Returns (fixed copy, fixes). Each fix: pointer, message, lossy."""
    doc = copy.deepcopy(document)
    swagger = str(doc.get("swagger", "")) == "2.0"
    fixes = []
    _strip_response_schemas(doc, swagger, fixes)
    _upper_case_security_schemes(doc, swagger, fixes)

    if isinstance(doc.get("externalDocs"), dict):
        doc["externalDocs"] = [doc["externalDocs"]]
        _fix(fixes, "/externalDocs", "root externalDocs written as a list for 10.15", lossy=False)

    def boolean_additional_properties(schema, pointer):
        value = schema.get("additionalProperties")
        if isinstance(value, bool):
            schema["additionalProperties"] = {}
            _fix(fixes, pointer + "/additionalProperties",
                 "additionalProperties %s written as {} (10.15's update answers 500 on a boolean)%s"
                 % (str(value).lower(), ": extra properties are no longer refused" if value is False else ""),
                 lossy=value is False)

    for schema, pointer in _iter_top_schemas(doc, swagger):
        _walk_schema(schema, pointer, boolean_additional_properties)

    servers = doc.get("servers")
    if not swagger and isinstance(servers, list) and servers and isinstance(servers[0], dict):
        url = str(servers[0].get("url", ""))
        if "://" not in url and not url.startswith("{"):
            _fix(fixes, "/servers/0/url", "relative server url %r: 10.15 derives the native endpoint from "
                 "servers[0].url and has nothing to proxy to; point it at the backend or routing alias" % url,
                 lossy=False)
    return doc, fixes
