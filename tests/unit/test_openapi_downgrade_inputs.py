"""openapi_downgrade on the inputs that broke it (shared/bugs/openapi) and on other inputs of the same kinds.

Each case is checked the way its README asks: sample values validated with a 3.1 validator on the input
and a 3.0 validator on the output must get the same answer; references either resolve to the same
target or are refused with the JSON pointer of the $ref; every output is valid 3.0.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import stoa_tools  # noqa: F401  (puts the collection on sys.path)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import (
    DocumentError,
    load_document,
    openapi30_errors,
)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_downgrade import downgrade
from openapi_validators import SAMPLES, file_uri, validator30, validator31

BUGS = Path(__file__).resolve().parents[3] / "shared" / "bugs" / "openapi"
CLI = Path(sys.executable).parent / "stoa-openapi-downgrade"
COLLECTION = Path(__file__).resolve().parents[2] / "collections"
MODULE = COLLECTION / "ansible_collections/stoa/platform/plugins/modules/openapi_downgrade.py"


def load(path: Path) -> dict:
    return load_document(path.read_text(encoding="utf-8"), str(path))[0]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=60, check=False, cwd=cwd)


def run_module(tmp_path: Path, **params) -> dict:
    """The module as Ansible runs it (its own process, arguments in a file), its JSON result."""
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    env = dict(os.environ, PYTHONPATH=str(COLLECTION))
    done = subprocess.run([sys.executable, str(MODULE), str(args)], capture_output=True, text=True, timeout=60,
                          check=False, env=env)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return json.loads(done.stdout)


def assert_same_answers(source: dict, out: dict, pointer: str, samples=SAMPLES, **uris):
    v31, v30 = validator31(source, pointer, **uris), validator30(out, pointer)
    for value in samples:
        assert v31.is_valid(value) == v30.is_valid(value), (pointer, value, v31.is_valid(value))


def convert(document: dict, **kwargs):
    out, warnings, _ = downgrade(copy.deepcopy(document), **kwargs)
    assert openapi30_errors(out) == [], out
    return out, warnings


def doc(schemas: dict, **extra) -> dict:
    document = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {},
                "components": {"schemas": schemas}}
    document.update(extra)
    return document


# -- the cases of shared/bugs/openapi --------------------------------------------------
def test_01_null_through_a_ref_union_is_accepted_exactly_where_31_accepts_it():
    path = BUGS / "01-nullable-ref-anyof.yaml"
    source = load(path)
    out, _ = convert(source, source=str(path))
    stack = "/components/schemas/Job/properties/stack"
    assert validator30(out, stack).is_valid(None) and validator31(source, stack).is_valid(None)
    for pointer in (stack, "/components/schemas/Job/properties/previous", "/components/schemas/Job",
                    "/components/schemas/NullThing"):
        assert_same_answers(source, out, pointer, SAMPLES + [{"stack": None, "previous": None}, {"stack": {}}])
    # the union is kept; only the null branch became a nullable schema
    assert out["components"]["schemas"]["Job"]["properties"]["stack"]["anyOf"] == [
        {"$ref": "#/components/schemas/Summary"}, {"nullable": True, "enum": [None]}]


def test_11_oneof_of_refs_plus_null_keeps_the_discriminator_on_named_schemas():
    path = BUGS / "11-oneof-refs-null-discriminator.yaml"
    source = load(path)
    out, _ = convert(source, source=str(path))
    foo = "/components/schemas/Holder/properties/foo"
    bar_only = {"kind": "Bar", "bar": "x", "baz": "notint"}  # Bar's and only Bar's: oneOf holds in 3.1
    for value, accepted in ((None, True), (bar_only, True), ({"kind": 5}, False), ("x", False)):
        assert validator31(source, foo).is_valid(value) is accepted, value
        assert validator30(out, foo).is_valid(value) is accepted, value  # with discriminator dispatch
    assert_same_answers(source, out, "/components/schemas/Holder/properties/plain")
    union = out["components"]["schemas"]["Holder"]["properties"]["foo"]["oneOf"]
    named = [branch for branch in union if "discriminator" in branch]
    assert len(named) == 1 and named[0]["discriminator"] == {"propertyName": "kind"}
    assert named[0]["oneOf"] == [{"$ref": "#/components/schemas/Bar"}, {"$ref": "#/components/schemas/Baz"}]


def test_13_relative_external_ref_is_bundled_and_converted(tmp_path):
    path = BUGS / "13-external-relative-ref.yaml"
    source = load(path)
    out, warnings = convert(source, source=str(path))
    text = json.dumps(out)
    assert "components/test.yml" not in text and "3.1" not in text
    bundled = out["components"]["schemas"]["Test"]
    assert bundled["properties"]["test"] == {"type": "string", "nullable": True}
    assert bundled["properties"]["n"] == {"type": "integer", "exclusiveMinimum": True, "minimum": 0}
    assert any("bundled" in w["message"] and w["pointer"] == "/components/schemas/test/$ref" for w in warnings)
    external = load(BUGS / "components" / "test.yml")
    samples = SAMPLES + [{"test": None, "n": 1}, {"n": 0}, {"test": 3}]
    assert_same_answers(source, out, "/components/schemas/test", samples, uri=file_uri(path),
                        others={file_uri(BUGS / "components" / "test.yml"): external})
    # written elsewhere, the output still stands on its own; --validate passes, no traceback
    written = tmp_path / "elsewhere" / "out.yaml"
    written.parent.mkdir()
    result = cli("--validate", str(path), str(written), cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert openapi30_errors(yaml.safe_load(written.read_text())) == []
    # the module reads the file the same way
    module = run_module(tmp_path, src=str(path))
    assert not module.get("failed"), module.get("msg")
    assert module["document"]["components"]["schemas"]["Test"] == bundled


def test_13_external_ref_without_a_file_location_is_refused_clearly(tmp_path):
    text = (BUGS / "13-external-relative-ref.yaml").read_text()
    with pytest.raises(DocumentError) as error:
        downgrade(load_document(text)[0])
    assert "/components/schemas/test/$ref" in str(error.value) and "file" in str(error.value)
    module = run_module(tmp_path, content=text)
    assert module["failed"] and "/components/schemas/test/$ref" in module["msg"]
    result = cli("-", "--validate")  # standard input: no location either
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_20_missing_ref_is_an_error_naming_the_pointer_and_the_target(tmp_path):
    path = BUGS / "20-missing-ref.yaml"
    where = "/paths/~1x/get/responses/200/content/application~1json/schema/$ref"
    for args in ([str(path)], ["--validate", str(path)]):
        result = cli(*args)
        assert result.returncode == 1
        assert where in result.stderr and "/components/schemas/DoesNotExist" in result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
    module = run_module(tmp_path, src=str(path))
    assert module["failed"] and where in module["msg"] and "DoesNotExist" in module["msg"]
    assert "Broken reference" not in json.dumps(module)  # the document is never dumped
    assert len(module["msg"]) < 400


# -- the same kinds: null through any composition ---------------------------------------
NAMED = {"Summary": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
         "Nullable": {"type": ["object", "null"], "properties": {"name": {"type": "string"}}},
         "NullThing": {"type": "null"},
         "Bar": {"type": "object", "properties": {"kind": {"type": "string"}, "bar": {"type": "string"}},
                 "required": ["kind"]},
         "Baz": {"type": "object", "properties": {"kind": {"type": "string"}, "baz": {"type": "integer"}},
                 "required": ["kind"]}}
REF = {"$ref": "#/components/schemas/Summary"}


@pytest.mark.parametrize("schema", [
    {"anyOf": [REF, {"type": "null"}]},
    {"anyOf": [{"type": "null"}, REF], "description": "d", "title": "t"},
    {"oneOf": [REF, {"$ref": "#/components/schemas/NullThing"}]},
    {"anyOf": [REF, {"type": "string", "maxLength": 3}, {"const": None}]},
    {"oneOf": [{"type": "string"}, {"type": "integer"}, {"enum": [None]}]},
    {"anyOf": [{"type": "string", "enum": ["abc"]}, {"type": "null"}]},
    {"allOf": [{"$ref": "#/components/schemas/Nullable"}]},
    {"allOf": [{"$ref": "#/components/schemas/Nullable"}, REF]},
    {"allOf": [{"anyOf": [REF, {"type": "null"}]}], "description": "nested"},
    {"$ref": "#/components/schemas/Nullable", "description": "a ref with a sibling"},
    {"$ref": "#/components/schemas/Summary", "type": ["object", "null"]},
    {"type": ["string", "null"], "enum": ["abc", "abcd"]},
    {"type": ["string", "null"], "enum": ["abc", None]},
    {"type": "string", "enum": ["abc", None]},
    {"type": "string", "const": None},
    {"type": "null", "const": 1},
    {"type": ["string", "integer", "null"], "minimum": 0},
    {"not": {"type": "null"}},
    {"not": {"anyOf": [REF, {"type": "null"}]}},
    {"type": "string", "nullable": True},  # nullable means nothing in 3.1: null stays refused
    {"anyOf": [{"$ref": "#/components/schemas/Nullable"}, {"type": "null"}]},
    {"oneOf": [{"$ref": "#/components/schemas/Nullable"}, {"type": "null"}]},  # null matches both: refused
    {"if": {"type": "null"}, "then": {"const": None}, "else": REF},
    {"type": "object", "properties": {"a": {"anyOf": [REF, {"type": "null"}]}}, "required": ["a"]},
    {"oneOf": [{"$ref": "#/components/schemas/Bar"}, {"$ref": "#/components/schemas/Baz"}, {"type": "null"}],
     "discriminator": {"propertyName": "kind"}},
], ids=lambda s: json.dumps(s)[:60])
def test_null_is_accepted_exactly_where_31_accepts_it(schema):
    source = doc(dict(NAMED, S=schema))
    out, _ = convert(source)
    samples = SAMPLES + [{"a": None}, {"a": {"name": "x"}}, {"a": "s"}]
    if "discriminator" in schema:  # 3.0 dispatches on it: compared on what 3.1 accepts the same way
        samples = [None, "x", {"kind": 5}, {"kind": "Bar", "bar": "x", "baz": "notint"}]
    assert_same_answers(source, out, "/components/schemas/S", samples)


def test_discriminator_mapping_follows_moved_schemas_and_refuses_missing_ones():
    mapping = {"bar": "#/components/schemas/Bar", "baz": "Baz", "def": "#/components/schemas/Holder/$defs/Qux"}
    holder = {"oneOf": [{"$ref": "#/components/schemas/Bar", "title": "bar"}, {"$ref": "#/components/schemas/Baz"},
                        {"$ref": "#/components/schemas/Holder/$defs/Qux"}],
              "discriminator": {"propertyName": "kind", "mapping": mapping},
              "$defs": {"Qux": {"type": "object", "properties": {"kind": {"type": "string"}}}}}
    out, _ = convert(doc(dict(NAMED, Holder=holder)))
    converted = out["components"]["schemas"]["Holder"]
    assert converted["discriminator"]["mapping"] == {
        "bar": "#/components/schemas/Bar", "baz": "Baz", "def": "#/components/schemas/Holder_Qux"}
    assert converted["oneOf"][0] == {"$ref": "#/components/schemas/Bar"}  # annotations dropped: a named schema
    broken = copy.deepcopy(holder)
    broken["discriminator"]["mapping"]["gone"] = "Gone"
    with pytest.raises(DocumentError, match="/components/schemas/Holder/discriminator/mapping/gone"):
        downgrade(doc(dict(NAMED, Holder=broken)))


# -- references: $id, $anchor, $defs anywhere, missing, remote ---------------------------------
def test_id_and_anchor_relative_references_are_rewritten_to_the_same_targets():
    schemas = {
        "Order": {"$id": "https://example.test/schemas/order", "type": "object",
                  "properties": {"line": {"$ref": "#/$defs/Line"}, "note": {"$ref": "#note"},
                                 "customer": {"$ref": "customer"}},
                  "$defs": {"Line": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}},
                                     "required": ["qty"]},
                            "Note": {"$anchor": "note", "type": ["string", "null"], "maxLength": 3}}},
        "Customer": {"$id": "https://example.test/schemas/customer", "type": "object", "required": ["id"],
                     "properties": {"id": {"type": "string"}}},
        "Deep": {"type": "object", "properties": {"inner": {"type": "object", "$defs": {
            "Code": {"type": "string", "pattern": "^[A-Z]+$"}}, "properties": {"code": {"$ref": "#/$defs/Code"}}},
            "again": {"$ref": "#/components/schemas/Deep/properties/inner/$defs/Code"}}},
    }
    source = doc(schemas)
    source["components"]["schemas"]["Deep"]["properties"]["inner"]["$id"] = "urn:example:inner"
    out, _ = convert(source)
    order = out["components"]["schemas"]["Order"]["properties"]
    assert order["line"] == {"$ref": "#/components/schemas/Order_Line"}
    assert order["note"] == {"$ref": "#/components/schemas/Order_Note"}
    assert order["customer"] == {"$ref": "#/components/schemas/Customer"}
    samples = SAMPLES + [{"line": {"qty": 0}}, {"line": {"qty": 2}}, {"note": None}, {"note": "toolong"},
                         {"customer": {}}, {"customer": {"id": "c"}}, {"inner": {"code": "ab"}},
                         {"inner": {"code": "AB"}}, {"again": "x"}, {"again": "X"}]
    for name in ("Order", "Deep"):
        assert_same_answers(source, out, "/components/schemas/" + name, samples)


@pytest.mark.parametrize("ref, message", [
    ("#/components/schemas/Nope", "/components/schemas/Nope does not exist"),
    ("#/components/schemas/T/properties/missing", "does not exist"),
    ("#nowhere", "no $anchor 'nowhere'"),
    ("https://example.test/remote.json#/X", "remote references are not fetched"),
    ("other.yaml#/X", "not read from a file"),
])
def test_unresolvable_schema_references_are_refused_with_the_pointer(ref, message):
    source = doc({"T": {"type": "object"}, "S": {"type": "object", "properties": {"a": {"items": {"$ref": ref}}}}})
    with pytest.raises(DocumentError) as error:
        downgrade(source)
    assert str(error.value).startswith("/components/schemas/S/properties/a/items/$ref: ")
    assert message in str(error.value)


def test_missing_targets_of_other_reference_objects_are_refused():
    source = doc({"T": {"type": "string"}}, paths={"/a": {"get": {
        "parameters": [{"$ref": "#/components/parameters/Missing"}],
        "responses": {"200": {"description": "ok", "content": {"application/json": {
            "examples": {"one": {"$ref": "#/components/examples/Gone"}}}}}}}}})
    with pytest.raises(DocumentError, match=r"^/paths/~1a/get/parameters/0/\$ref: .*Missing does not exist"):
        downgrade(source)
    del source["paths"]["/a"]["get"]["parameters"]
    with pytest.raises(DocumentError, match=r"examples/one/\$ref: .*Gone does not exist"):
        downgrade(source)


def test_external_files_are_bundled_with_their_own_references(tmp_path):
    (tmp_path / "api").mkdir()
    (tmp_path / "common").mkdir()
    (tmp_path / "api" / "openapi.yaml").write_text(yaml.safe_dump({
        "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
        "paths": {"/p/{id}": {"get": {
            "parameters": [{"$ref": "../common/params.yaml#/Id"}],
            "responses": {"200": {"description": "ok", "content": {"application/json": {
                "schema": {"$ref": "../common/models.yaml#/Pet"}}}}}}}},
        "components": {"schemas": {"Pet": {"type": "string"}}}}))
    (tmp_path / "common" / "params.yaml").write_text(yaml.safe_dump({
        "Id": {"name": "id", "in": "path", "required": True, "schema": {"type": ["integer", "null"]}}}))
    (tmp_path / "common" / "models.yaml").write_text(yaml.safe_dump({
        "Pet": {"type": "object", "properties": {"owner": {"$ref": "owner.yaml"}, "tag": {"$ref": "#/Tag"}}},
        "Tag": {"type": "string", "const": "x"}}))
    (tmp_path / "common" / "owner.yaml").write_text(yaml.safe_dump({"type": ["string", "null"]}))
    source_path = tmp_path / "api" / "openapi.yaml"
    source = load(source_path)
    with pytest.raises(DocumentError, match="outside"):  # by default only files under the source's directory
        downgrade(copy.deepcopy(source), source=str(source_path))
    out, _ = convert(source, source=str(source_path), ref_root=str(tmp_path))
    schemas = out["components"]["schemas"]
    operation = out["paths"]["/p/{id}"]["get"]
    assert operation["parameters"] == [{"$ref": "#/components/parameters/Id"}]
    assert out["components"]["parameters"]["Id"]["schema"] == {"type": "integer", "nullable": True}
    pet = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert pet == "#/components/schemas/models_Pet"  # 'Pet' is taken by the source's own schema
    assert schemas["models_Pet"]["properties"] == {"owner": {"$ref": "#/components/schemas/owner"},
                                                   "tag": {"$ref": "#/components/schemas/Tag"}}
    assert schemas["owner"] == {"type": "string", "nullable": True} and schemas["Tag"] == {"enum": ["x"],
                                                                                            "type": "string"}


def test_a_symlink_out_of_the_reference_root_is_refused(tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("type: string\n")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "link.yaml").symlink_to(outside)
    source = doc({"S": {"$ref": "link.yaml"}})
    with pytest.raises(DocumentError, match=r"^/components/schemas/S/\$ref: .*outside"):
        downgrade(source, source=str(tmp_path / "api" / "openapi.yaml"))


# -- degenerate but valid 3.1 ------------------------------------------------------------
@pytest.mark.parametrize("schema", [
    {"enum": []},
    {"type": "string", "enum": []},
    {"type": "string", "maxLength": 5.0, "minLength": 1.0},
    {"type": "array", "maxItems": 2.0, "items": {"type": "integer"}},
    {"type": "string", "default": None},
    {"type": "integer", "default": "1"},
    {"type": "string", "enum": ["a"], "default": "b"},
    {"type": "string", "nullable": True, "default": None},
    {"type": "object", "required": ["a"], "if": {"required": ["b"]}, "then": {"required": ["c"]}},
    {"$ref": "#/components/schemas/T", "required": ["zz"]},
    {"type": "object", "required": ["a", "a"]},
    {"type": "object", "dependentRequired": {"a": ["b"]}, "required": ["q"]},
], ids=lambda s: json.dumps(s)[:60])
def test_degenerate_31_schemas_become_valid_30_with_the_same_meaning(schema):
    source = doc({"S": schema, "T": {"type": "object"}})
    out, _ = convert(source)  # asserts valid 3.0
    assert_same_answers(source, out, "/components/schemas/S",
                        SAMPLES + [{"a": 1}, {"a": 1, "b": 1}, {"a": 1, "b": 1, "c": 1}, "abcdef", [1, 2, 3]])


def test_type_with_no_types_is_refused_with_its_pointer():
    with pytest.raises(DocumentError, match=r"^/components/schemas/S/type: "):
        downgrade(doc({"S": {"type": []}}))


def test_validation_never_raises_and_never_dumps_the_document():
    broken = {"openapi": "3.0.3", "info": {"title": "A very recognisable title", "version": "1"},
              "paths": {"/x": {"get": {"responses": {"200": {"description": "ok", "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/Gone"}}}}}}}}}
    errors = openapi30_errors(broken)
    assert errors and "Gone" in errors[0] and "recognisable" not in " ".join(errors)
    result = subprocess.run([str(CLI), "--validate", "-"], input=yaml.safe_dump(broken), capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 4 and "Traceback" not in result.stderr and "recognisable" not in result.stderr


def test_a_document_pointer_under_an_id_is_refused_with_the_base_it_was_resolved_against():
    # 2020-12: '#/...' inside a schema with an $id points into that schema, not into the document
    source = doc({"X": {"type": "string"},
                  "O": {"$id": "https://example.test/o", "properties": {"x": {"$ref": "#/components/schemas/X"}}}})
    with pytest.raises(DocumentError) as error:
        downgrade(source)
    assert str(error.value).startswith("/components/schemas/O/properties/x/$ref: ")
    assert "https://example.test/o" in str(error.value) and "does not exist" in str(error.value)
