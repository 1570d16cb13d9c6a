"""Property test: for schemas of the corpus, the 3.0 output accepts what the 3.1 input accepts, and back.

Instances come from hypothesis-jsonschema (generated from the 3.1 schema, and from the 3.0 output read
as draft-04) and from a generic JSON strategy; each is validated with OAS31Validator on the input and
OAS30Validator on the output. Within the documented lossy rules (docs/openapi-downgrade.md):
- a schema whose output keeps a lossy `x-` extension (tuples, unevaluated*, patternProperties, ...)
  accepts more in 3.0: only "3.1 accepts => 3.0 accepts" is required of it;
- a discriminator is an annotation in 3.1 and picks the branch in 3.0: compared without dispatch.

Bounded: schemas are picked per document among the small ones (their reachable components), a few
examples each, no deadline flakiness, derandomized (the same instances on every run).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema._canonicalise import HypothesisRefResolutionError

import stoa_tools  # noqa: F401  (puts the collection on sys.path)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import load_document
from ansible_collections.stoa.platform.plugins.module_utils.openapi_downgrade import downgrade
from openapi_validators import schema_instances, validator30, validator31

SHARED = Path(__file__).resolve().parents[3] / "shared"
PER_DOCUMENT = 3          # schemas compared per document
MAX_REACHABLE = 6000      # characters of JSON a schema may reach through its references
EXAMPLES = 6              # instances per strategy and schema
LOSSY_EXTENSIONS = ("x-prefixItems", "x-unevaluatedProperties", "x-unevaluatedItems", "x-patternProperties",
                    "x-propertyNames", "x-contains", "x-minContains", "x-maxContains", "x-dynamicRef",
                    "x-contentEncoding")
OTHER_FILE_REF = re.compile(r'"\$ref": "[^#]')
REF = re.compile(r'"\$ref": "#/components/schemas/([^"/]+)"')
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2, allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


def documents():
    paths = sorted(p for p in (SHARED / "openapi31" / "corpus").glob("*") if p.suffix in (".json", ".yaml", ".yml"))
    paths += sorted((SHARED / "openapi31" / "hardcases").glob("*.yaml"))
    paths += sorted((SHARED / "bugs" / "openapi").glob("*.yaml"))
    return [p for p in paths if "missing" not in p.name]  # 20-missing-ref is refused, not converted


def reachable(schemas: dict, name: str) -> set:
    """Component schema names reachable from ``name`` through '#/components/schemas/...' references."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in schemas:
            continue
        seen.add(current)
        todo.extend(REF.findall(json.dumps(schemas[current])))
    return seen


def picked(schemas: dict) -> list[str]:
    """Up to PER_DOCUMENT small schemas, spread over the document's (sorted) names."""
    small = [n for n in sorted(schemas)
             if sum(len(json.dumps(schemas[r])) for r in reachable(schemas, n)) <= MAX_REACHABLE]
    step = max(1, len(small) // PER_DOCUMENT)
    return small[::step][:PER_DOCUMENT]


def same_answers(v31, v30, exact: bool, what: str):
    """The property, for one schema: what one side accepts the other does (one way only when lossy)."""
    def same(value):
        in31, in30 = v31.is_valid(value), v30.is_valid(value)
        assert in30 or not in31, f"{what}: 3.1 accepts, 3.0 refuses {json.dumps(value)[:300]}"
        assert in31 or not in30 or not exact, f"{what}: 3.0 accepts, 3.1 refuses {json.dumps(value)[:300]}"
    return same


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_31_and_30_schemas_accept_the_same_instances(path):
    source, _ = load_document(path.read_text(encoding="utf-8"), str(path))
    out, _, _ = downgrade(source, source=str(path))
    schemas = (source.get("components") or {}).get("schemas") or {}
    converted = (out.get("components") or {}).get("schemas") or {}
    others = {}
    for external in path.parent.glob("components/*.yml"):  # files the bug cases refer to
        others[external.resolve().as_uri()] = load_document(external.read_text(encoding="utf-8"))[0]
    compared = 0
    for name in picked(schemas):
        pointer = "/components/schemas/" + name
        v31 = validator31(source, pointer, uri=path.resolve().as_uri(), others=others)
        v30 = validator30(out, pointer, discriminator=False)
        reached = json.dumps([converted.get(n) for n in reachable(converted, name)])
        exact = not any('"%s"' % extension in reached for extension in LOSSY_EXTENSIONS)

        strategies = [JSON_VALUES, schema_instances({"$schema": "http://json-schema.org/draft-04/schema#",
                                                     "$ref": "#" + pointer, "components": out.get("components")})]
        if not OTHER_FILE_REF.search(json.dumps(source.get("components"))):  # the generator reads one document
            strategies.append(schema_instances({"$ref": "#" + pointer, "components": source.get("components")}))
        for strategy in strategies:
            try:
                given(strategy)(SETTINGS(same_answers(v31, v30, exact, f"{path.name} {name}")))()
            except HypothesisRefResolutionError:
                continue  # recursive or other-file references: the generator cannot follow them (others still run)
        compared += 1
    assert compared == len(picked(schemas))
