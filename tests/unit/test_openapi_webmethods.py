"""The webMethods 10.15 import fixes, each on a minimal document."""
from __future__ import annotations

import copy

import stoa_tools  # noqa: F401
from ansible_collections.stoa.platform.plugins.module_utils.openapi_webmethods import apply_webmethods_fixes

DOC_30 = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "externalDocs": {"url": "https://docs"},
    "servers": [{"url": "/v1"}],
    "paths": {"/a": {"get": {
        "parameters": [{"name": "q", "in": "query", "schema": {"type": "object", "additionalProperties": True}}],
        "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {
                "type": "array", "items": {"$ref": "#/components/schemas/A"}}}}},
            "204": {"description": "none", "content": {"text/plain": {"schema": {"type": "string"}}}},
        }}}},
    "components": {
        "schemas": {"A": {"type": "object", "additionalProperties": False,
                          "properties": {"additionalProperties": {"type": "boolean"}}}},
        "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"},
                            "basic": {"type": "http", "scheme": "basic"}},
    },
}


def by_pointer(fixes):
    return {f["pointer"]: f for f in fixes}


def test_each_fix_is_applied_and_reported_and_the_input_is_untouched():
    original = copy.deepcopy(DOC_30)
    fixed, fixes = apply_webmethods_fixes(DOC_30)
    assert DOC_30 == original
    found = by_pointer(fixes)

    ok = "/paths/~1a/get/responses/200/content/application~1json/schema"
    assert "schema" not in fixed["paths"]["/a"]["get"]["responses"]["200"]["content"]["application/json"]
    assert found[ok]["lossy"] is True
    # A response schema without $ref stays.
    assert fixed["paths"]["/a"]["get"]["responses"]["204"]["content"]["text/plain"]["schema"] == {"type": "string"}

    assert fixed["components"]["securitySchemes"]["key"] == {"type": "APIKEY", "in": "HEADER", "name": "X-Key"}
    assert fixed["components"]["securitySchemes"]["basic"] == {"type": "HTTP", "scheme": "BASIC"}
    assert fixed["externalDocs"] == [{"url": "https://docs"}]

    schema = fixed["components"]["schemas"]["A"]
    assert schema["additionalProperties"] == {}
    assert found["/components/schemas/A/additionalProperties"]["lossy"] is True
    # A property that is named additionalProperties is data, not the keyword.
    assert schema["properties"]["additionalProperties"] == {"type": "boolean"}
    parameter_schema = fixed["paths"]["/a"]["get"]["parameters"][0]["schema"]
    assert parameter_schema["additionalProperties"] == {}
    assert found["/paths/~1a/get/parameters/0/schema/additionalProperties"]["lossy"] is False
    assert "/servers/0/url" in found


def test_swagger_20_response_schema_and_security_definitions():
    doc = {"swagger": "2.0", "info": {"title": "t", "version": "1"},
           "paths": {"/a": {"get": {"responses": {"200": {"description": "ok",
                                                           "schema": {"$ref": "#/definitions/A"}}}}}},
           "definitions": {"A": {"type": "object"}},
           "securityDefinitions": {"k": {"type": "apiKey", "in": "query", "name": "k"}}}
    fixed, fixes = apply_webmethods_fixes(doc)
    assert "schema" not in fixed["paths"]["/a"]["get"]["responses"]["200"]
    assert fixed["securityDefinitions"]["k"]["type"] == "APIKEY"
    assert len(fixes) == 3


def test_nothing_to_fix_reports_nothing():
    doc = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "servers": [{"url": "https://api"}],
           "paths": {}}
    fixed, fixes = apply_webmethods_fixes(doc)
    assert fixed == doc and fixes == []
