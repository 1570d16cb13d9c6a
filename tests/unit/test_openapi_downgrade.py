"""Each 3.1 -> 3.0 rule on a minimal input, then the whole corpus and the hard cases."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

import stoa_tools  # noqa: F401  (puts the collection on sys.path)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import (
    DocumentError,
    load_document,
    openapi30_errors,
)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_downgrade import downgrade

# shared/ lies beside the repository, for developers and in CI alike.
SHARED = Path(__file__).resolve().parents[3] / "shared" / "openapi31"


def doc_with(schema: object, **extra) -> dict:
    document = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {},
                "components": {"schemas": {"S": schema, "T": {"type": "object"}}}}
    document.update(extra)
    return document


def convert_schema(schema: object):
    out, warnings, _ = downgrade(doc_with(schema))
    assert openapi30_errors(out) == [], out
    return out["components"]["schemas"]["S"], warnings


def pointers(warnings, lossy=None):
    return [w["pointer"] for w in warnings if lossy is None or w["lossy"] is lossy]


# -- type and null --------------------------------------------------------------
@pytest.mark.parametrize("schema, expected", [
    ({"type": ["string", "null"]}, {"type": "string", "nullable": True}),
    ({"type": ["null", "integer"]}, {"type": "integer", "nullable": True}),
    ({"type": ["string"]}, {"type": "string"}),
    ({"type": "null"}, {"nullable": True, "enum": [None]}),
    ({"type": ["null"]}, {"nullable": True, "enum": [None]}),
    ({"type": ["string", "integer"]}, {"anyOf": [{"type": "string"}, {"type": "integer"}]}),
    ({"type": ["string", "integer", "null"]},
     {"anyOf": [{"type": "string", "nullable": True}, {"type": "integer", "nullable": True}]}),
])
def test_type_arrays_of_any_length(schema, expected):
    converted, warnings = convert_schema(schema)
    assert converted == expected
    assert pointers(warnings, lossy=True) == []


def test_type_array_beside_existing_anyof_keeps_both_constraints():
    converted, _ = convert_schema({"type": ["string", "integer"], "anyOf": [{"minLength": 1}, {"minimum": 1}]})
    assert converted["anyOf"] == [{"minLength": 1}, {"minimum": 1}]
    assert converted["allOf"] == [{"anyOf": [{"type": "string"}, {"type": "integer"}]}]


@pytest.mark.parametrize("keyword", ["anyOf", "oneOf"])
def test_null_branch_becomes_nullable(keyword):
    converted, _ = convert_schema({keyword: [{"type": "string", "maxLength": 3}, {"type": "null"}]})
    assert converted == {"type": "string", "maxLength": 3, "nullable": True}


def test_null_branch_beside_a_ref_keeps_the_union():
    # nullable beside allOf (no type) is ignored by 3.0.3: only the null branch becomes a nullable schema.
    converted, _ = convert_schema({"anyOf": [{"type": "null"}, {"$ref": "#/components/schemas/T"}]})
    assert converted == {"anyOf": [{"nullable": True, "enum": [None]}, {"$ref": "#/components/schemas/T"}]}


def test_null_branch_with_several_others_keeps_the_alternatives():
    converted, _ = convert_schema({"oneOf": [{"type": "string"}, {"type": "integer"}, {"const": None}]})
    assert converted == {"oneOf": [{"type": "string"}, {"type": "integer"}, {"enum": [None], "nullable": True}]}


# -- const, bounds, examples ------------------------------------------------------
@pytest.mark.parametrize("value", [False, 0, "", None, "x", 3.5, [1], {"a": 1}])
def test_const_of_any_value_becomes_a_one_value_enum(value):
    converted, _ = convert_schema({"const": value})
    assert converted["enum"] == [value]
    assert "const" not in converted
    if value is None:
        assert converted["nullable"] is True


@pytest.mark.parametrize("schema, expected", [
    ({"type": "integer", "exclusiveMinimum": 0}, {"type": "integer", "exclusiveMinimum": True, "minimum": 0}),
    ({"type": "number", "minimum": 1, "exclusiveMinimum": 5}, {"type": "number", "minimum": 5, "exclusiveMinimum": True}),
    ({"type": "number", "minimum": 10, "exclusiveMinimum": 5}, {"type": "number", "minimum": 10}),
    ({"type": "number", "minimum": 5, "exclusiveMinimum": 5}, {"type": "number", "minimum": 5, "exclusiveMinimum": True}),
    ({"type": "number", "exclusiveMaximum": 10, "maximum": 20}, {"type": "number", "exclusiveMaximum": True, "maximum": 10}),
    ({"type": "number", "exclusiveMaximum": 10, "maximum": 3}, {"type": "number", "maximum": 3}),
])
def test_numeric_exclusive_bounds_keep_the_stricter_bound(schema, expected):
    converted, _ = convert_schema(schema)
    assert converted == expected


def test_schema_examples_array_and_map():
    converted, _ = convert_schema({"type": "string", "examples": ["a", "b"]})
    assert converted["example"] == "a" and converted["x-examples"] == ["a", "b"]
    converted, _ = convert_schema({"type": "string", "examples": ["only"]})
    assert converted == {"type": "string", "example": "only"}
    converted, _ = convert_schema({"type": "string", "examples": {"first": {"value": "v1"}, "second": {"value": "v2"}}})
    assert converted["example"] == "v1"
    assert converted["x-examples"] == {"first": {"value": "v1"}, "second": {"value": "v2"}}


# -- references -----------------------------------------------------------------
def test_ref_with_siblings_moves_into_allof():
    converted, _ = convert_schema({"$ref": "#/components/schemas/T", "description": "why", "readOnly": True})
    assert converted == {"allOf": [{"$ref": "#/components/schemas/T"}], "description": "why", "readOnly": True}


def test_defs_are_hoisted_and_references_rewritten():
    document = doc_with({
        "type": "object",
        "properties": {"owner": {"$ref": "#/components/schemas/S/$defs/Person"}},
        "$defs": {"Person": {"type": "object", "properties": {"name": {"type": ["string", "null"]}}}},
    })
    out, warnings, _ = downgrade(document)
    assert openapi30_errors(out) == []
    schemas = out["components"]["schemas"]
    assert "$defs" not in schemas["S"]
    assert schemas["S"]["properties"]["owner"] == {"$ref": "#/components/schemas/S_Person"}
    assert schemas["S_Person"]["properties"]["name"] == {"type": "string", "nullable": True}
    assert "/components/schemas/S/$defs" in pointers(warnings, lossy=False)


def test_reference_siblings_outside_schemas_are_dropped_with_a_warning():
    document = doc_with({"type": "string"}, paths={"/a": {"get": {"responses": {
        "200": {"$ref": "#/components/responses/R", "description": "overrides"}}}}})
    document["components"]["responses"] = {"R": {"description": "r"}}
    out, warnings, _ = downgrade(document)
    assert out["paths"]["/a"]["get"]["responses"]["200"] == {"$ref": "#/components/responses/R"}
    assert "/paths/~1a/get/responses/200" in pointers(warnings, lossy=True)


# -- content, tuples, conditionals, dependencies -----------------------------------------
@pytest.mark.parametrize("schema, expected_format, lossy", [
    ({"type": "string", "contentEncoding": "base64"}, "byte", False),
    ({"type": "string", "contentEncoding": "binary"}, "binary", False),
    ({"type": "string", "contentMediaType": "application/octet-stream"}, "binary", False),
    ({"type": "string", "contentMediaType": "image/png"}, "binary", False),
    ({"type": "string", "contentEncoding": "quoted-printable"}, None, True),
    ({"type": "string", "contentMediaType": "application/json"}, None, False),
])
def test_content_encoding_and_media_type(schema, expected_format, lossy):
    converted, warnings = convert_schema(schema)
    assert converted.get("format") == expected_format
    assert "contentEncoding" not in converted and "contentMediaType" not in converted
    assert bool(pointers(warnings, lossy=True)) is lossy


def test_prefix_items_become_items_any_of_with_a_warning():
    converted, warnings = convert_schema({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}],
                                          "items": False})
    assert converted["items"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert converted["maxItems"] == 2
    assert "/components/schemas/S/prefixItems" in pointers(warnings, lossy=True)


def test_if_then_else_is_translated_exactly():
    condition = {"properties": {"kind": {"const": "card"}}, "required": ["kind"]}
    converted, warnings = convert_schema({"type": "object", "if": condition,
                                          "then": {"required": ["pan"]}, "else": {"required": ["iban"]}})
    if_30 = {"properties": {"kind": {"enum": ["card"]}}, "required": ["kind"]}
    assert converted["allOf"] == [{"anyOf": [
        {"allOf": [if_30, {"required": ["pan"]}]},
        {"allOf": [{"not": if_30}, {"required": ["iban"]}]},
    ]}]
    assert pointers(warnings, lossy=True) == []


def test_dependent_required_and_schemas_are_translated_exactly():
    converted, _ = convert_schema({"type": "object", "dependentRequired": {"card": ["cvc"]},
                                   "dependentSchemas": {"iban": {"required": ["bic"]}}})
    assert converted["allOf"] == [
        {"anyOf": [{"not": {"required": ["card"]}}, {"required": ["cvc"]}]},
        {"anyOf": [{"not": {"required": ["iban"]}}, {"required": ["bic"]}]},
    ]


def test_unevaluated_properties_without_composition_is_additional_properties():
    converted, warnings = convert_schema({"type": "object", "properties": {"a": {}}, "unevaluatedProperties": False})
    assert converted["additionalProperties"] is False
    assert pointers(warnings, lossy=True) == []
    converted, warnings = convert_schema({"allOf": [{"type": "object"}], "unevaluatedProperties": False})
    assert "additionalProperties" not in converted
    assert converted["x-unevaluatedProperties"] is False
    assert pointers(warnings, lossy=True) == ["/components/schemas/S/unevaluatedProperties"]


def test_pattern_properties_and_property_names_are_reported():
    converted, warnings = convert_schema({"type": "object", "patternProperties": {"^x": {"type": "string"}},
                                          "additionalProperties": False, "propertyNames": {"maxLength": 3}})
    assert converted["additionalProperties"] == {"type": "string"}
    assert converted["x-patternProperties"] == {"^x": {"type": "string"}}
    assert converted["x-propertyNames"] == {"maxLength": 3}
    assert set(pointers(warnings, lossy=True)) == {"/components/schemas/S/patternProperties",
                                                   "/components/schemas/S/propertyNames"}


def test_annotations_boolean_schemas_and_custom_keywords():
    converted, warnings = convert_schema({"$id": "urn:s", "$schema": "https://json-schema.org/draft/2020-12/schema",
                                          "$anchor": "a", "$comment": "c", "max_items": 3, "type": "object",
                                          "properties": {"yes": True, "no": False}, "required": []})
    assert converted == {"x-jsonschema-id": "urn:s",
                         "x-jsonschema-schema": "https://json-schema.org/draft/2020-12/schema",
                         "x-jsonschema-anchor": "a", "x-comment": "c", "x-max_items": 3, "type": "object",
                         "properties": {"yes": {}, "no": {"not": {}}}}
    assert pointers(warnings, lossy=True) == []
    assert "/components/schemas/S/max_items" in pointers(warnings, lossy=False)


# -- data is never rewritten ------------------------------------------------------
def test_properties_named_like_keywords_and_example_data_are_untouched():
    schema = {
        "type": "object",
        "properties": {"const": {"type": "string"}, "$id": {"type": "string"}, "type": {"type": "string"},
                       "examples": {"type": "array", "items": {"type": "string"}},
                       "prefixItems": {"type": "string"}},
        "example": {"const": "c1", "$id": "id-1", "type": "null", "examples": ["1", "2"]},
        "default": {"const": "d", "prefixItems": "p"},
        "x-vendor": {"const": 1, "type": ["x", "null"]},
    }
    converted, warnings = convert_schema(copy.deepcopy(schema))
    assert list(converted["properties"]) == ["const", "$id", "type", "examples", "prefixItems"]
    assert converted["properties"]["const"] == {"type": "string"}
    assert converted["example"] == schema["example"]
    assert converted["default"] == schema["default"]
    assert converted["x-vendor"] == schema["x-vendor"]
    assert warnings == []


def test_parameter_and_media_type_examples_are_untouched():
    example = {"type": ["null"], "const": 0}
    document = doc_with({"type": "string"}, paths={"/p": {"get": {
        "parameters": [{"name": "q", "in": "query", "schema": {"type": ["string", "null"]}, "example": example}],
        "responses": {"200": {"description": "ok", "content": {"application/json": {
            "schema": {"const": 1}, "examples": {"one": {"value": example}}}}}}}}})
    out, _, _ = downgrade(document)
    operation = out["paths"]["/p"]["get"]
    assert operation["parameters"][0]["example"] == example
    assert operation["parameters"][0]["schema"] == {"type": "string", "nullable": True}
    media = operation["responses"]["200"]["content"]["application/json"]
    assert media["examples"]["one"]["value"] == example and media["schema"] == {"enum": [1]}


# -- document level ---------------------------------------------------------------
def test_document_level_constructs():
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1", "summary": "s", "license": {"name": "MIT", "identifier": "MIT"}},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "webhooks": {"ping": {"post": {"requestBody": {"content": {"application/json": {
            "schema": {"type": ["object", "null"]}}}}}}},
        "components": {"securitySchemes": {"m": {"type": "mutualTLS"}}},
    }
    out, warnings, version = downgrade(document)
    assert version == "3.1.0" and out["openapi"] == "3.0.3"
    assert openapi30_errors(out) == []
    assert out["paths"] == {} and list(out)[:3] == ["openapi", "info", "paths"]
    assert out["info"]["x-summary"] == "s" and "summary" not in out["info"]
    assert out["info"]["license"] == {"name": "MIT", "x-identifier": "MIT", "url": "https://spdx.org/licenses/MIT.html"}
    webhook = out["x-webhooks"]["ping"]["post"]
    assert webhook["requestBody"]["content"]["application/json"]["schema"] == {"type": "object", "nullable": True}
    assert webhook["responses"] == {"default": {"description": "Default response"}}
    assert out["components"]["securitySchemes"]["m"]["type"] == "http"
    assert {"/jsonSchemaDialect", "/webhooks", "/components/securitySchemes/m/type"} <= set(pointers(warnings, True))


def test_path_item_references_to_components_are_inlined():
    document = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
                "paths": {"/a": {"$ref": "#/components/pathItems/A", "description": "here"}},
                "components": {"pathItems": {"A": {"description": "there", "get": {
                    "responses": {"200": {"description": "ok"}}}}}}}
    out, _, _ = downgrade(document)
    assert out["paths"]["/a"] == {"description": "here", "get": {"responses": {"200": {"description": "ok"}}}}
    assert openapi30_errors(out) == []


def test_non_oauth_security_requirement_scopes_are_dropped_with_a_warning():
    document = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {},
                "security": [{"bearer": ["read:users"]}, {"oauth": ["read"]}],
                "components": {"securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "oauth": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://t", "scopes": {"read": "r"}}}}}}}
    out, warnings, _ = downgrade(document)
    assert out["security"] == [{"bearer": []}, {"oauth": ["read"]}]
    assert pointers(warnings, lossy=True) == ["/security/0/bearer"]


@pytest.mark.parametrize("document", [
    {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}},
    {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {}},
])
def test_30_and_20_documents_come_back_untouched(document):
    original = copy.deepcopy(document)
    out, warnings, version = downgrade(document)
    assert out is document and out == original and warnings == []


@pytest.mark.parametrize("document, where", [
    ({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": []}, "/paths"),
    ({"openapi": "3.1.0", "paths": {}}, "/info"),
    (doc_with({"type": "str"}), "/components/schemas/S/type"),
    (doc_with({"allOf": {"type": "string"}}), "/components/schemas/S/allOf"),
    (doc_with({"properties": {"a": 3}}), "/components/schemas/S/properties/a"),
    (doc_with({"const": 1, "enum": 1.5}), "/components/schemas/S/enum"),
    ({"openapi": "4.0.0"}, "/openapi"),
    (["not", "a", "mapping"], "top level"),
])
def test_invalid_input_fails_with_the_location(document, where):
    with pytest.raises(DocumentError) as error:
        downgrade(document)
    assert where in str(error.value)


def test_yaml_dates_stay_strings():
    document, fmt = load_document("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n"
                                  "components: {schemas: {D: {type: string, example: 2024-01-31}}}\n")
    assert fmt == "yaml"
    assert document["components"]["schemas"]["D"]["example"] == "2024-01-31"


# -- the corpus and the hard cases ---------------------------------------------------
def corpus_files():
    return sorted(p for p in (SHARED / "corpus").glob("*") if p.suffix in (".json", ".yaml", ".yml")) + \
        sorted((SHARED / "hardcases").glob("*.yaml"))


def operations(document):
    for path, item in (document.get("paths") or {}).items():
        for method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
            if isinstance(item, dict) and method in item:
                yield path, method


THREE_ONE_ONLY = {"const", "prefixItems", "$defs", "if", "then", "else", "dependentRequired", "dependentSchemas",
                  "unevaluatedProperties", "unevaluatedItems", "patternProperties", "propertyNames",
                  "contentEncoding", "contentMediaType", "$id", "$schema", "$anchor", "$comment", "examples"}


def schema_keywords_outside_data(node, found, in_data=False):
    """Keys of schema-like mappings, skipping example/default/enum data and extensions."""
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).startswith("x-") or key in ("example", "default", "enum", "examples", "value"):
                continue
            if key in ("properties",) and isinstance(value, dict):
                for child in value.values():
                    schema_keywords_outside_data(child, found)
                continue
            found.add(key)
            schema_keywords_outside_data(value, found)
    elif isinstance(node, list):
        for item in node:
            schema_keywords_outside_data(item, found)


def test_the_corpus_is_there():
    assert len(corpus_files()) >= 28, f"expected the shared corpus and hard cases under {SHARED}"


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_and_hard_cases_become_valid_30(path):
    document, _ = load_document(path.read_text(encoding="utf-8"), str(path))
    original = copy.deepcopy(document)
    out, warnings, _ = downgrade(document)
    assert document == original, "the source document must not be modified"
    assert openapi30_errors(out) == []
    assert out["openapi"] == "3.0.3"
    assert set(operations(out)) == set(operations(original))
    original_schemas = set((original.get("components") or {}).get("schemas") or {})
    assert original_schemas <= set((out.get("components") or {}).get("schemas") or {})
    for schema in ((out.get("components") or {}).get("schemas") or {}).values():
        found: set = set()
        schema_keywords_outside_data(schema, found)
        assert not (found & THREE_ONE_ONLY), found & THREE_ONE_ONLY
    for warning in warnings:
        assert warning["pointer"].startswith("/") and warning["message"]
