"""Fuzz test (hypothesis, bounded): corpus documents with 1-3 nodes replaced or removed.

The earlier sessions' fuzz script (60,000 mutated corpus documents, one crash found: a non-list `enum`)
as a test: whatever the mutation, the converter either returns a document or refuses with a
DocumentError naming a JSON pointer, in bounded time, with a message that never holds the document;
and validating what it returns never raises either.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stoa_tools  # noqa: F401  (puts the collection on sys.path)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import (
    DocumentError,
    load_document,
    openapi30_errors,
)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_downgrade import downgrade

SHARED = Path(__file__).resolve().parents[3] / "shared"
MAX_BYTES = 25_000  # small documents: each example also runs the 3.0 validator on the result


def small_documents():
    paths = sorted(p for p in (SHARED / "openapi31").glob("*/*") if p.suffix in (".json", ".yaml", ".yml"))
    paths += sorted((SHARED / "bugs" / "openapi").glob("*.yaml"))
    return [load_document(p.read_text(encoding="utf-8"))[0] for p in paths if p.stat().st_size <= MAX_BYTES]


DOCUMENTS = small_documents()
MARKER = "zz-document-marker-zz"  # put in every document's info: a message holding the document would show it
for _document in DOCUMENTS:
    if isinstance(_document.get("info"), dict):
        _document["info"]["description"] = MARKER

REPLACEMENTS = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.floats(allow_nan=True) | st.sampled_from([
        "", "null", "string", "object", "#/components/schemas/Nope", "#anchor", "other.yaml#/X",
        "https://example.test/x.json", "~1", "3.1.0", "3.0.3", "x-ext", "$ref", "#", "#/"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "$ref", "nullable", "enum", "const", "anyOf", "oneOf", "allOf", "items",
                         "properties", "required", "$id", "$anchor", "$defs", "discriminator", "default",
                         "propertyName", "mapping", "x-a", "schema", "content", "in", "name", "responses"]),
        inner, max_size=3),
    max_leaves=5)


def places(node, found, container=None, key=None):
    """Every (container, key) of the document, the root aside."""
    if container is not None:
        found.append((container, key))
    if isinstance(node, dict):
        for child_key, child in node.items():
            places(child, found, node, child_key)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            places(child, found, node, index)
    return found


@settings(max_examples=120, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutated_documents_convert_or_are_refused_cleanly(data):
    document = copy.deepcopy(data.draw(st.sampled_from(DOCUMENTS), label="document"))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        where = places(document, [])
        if not where:
            break
        container, key = where[data.draw(st.integers(0, len(where) - 1), label="place")]
        if data.draw(st.booleans(), label="remove") and isinstance(container, dict):
            del container[key]
        else:
            container[key] = data.draw(REPLACEMENTS, label="replacement")
    began = time.monotonic()
    try:
        out, warnings, _ = downgrade(document)
    except DocumentError as exc:
        message = str(exc)
        assert MARKER not in message and len(message) < 1500, message[:300]
        assert message.startswith(("/", "an OpenAPI", "neither")), message[:300]
        return
    finally:
        assert time.monotonic() - began < 5
    for warning in warnings:
        assert warning["pointer"].startswith("/") and MARKER not in warning["message"]
    errors = openapi30_errors(out)  # never raises; at most the first 20, each one line
    assert len(errors) <= 20 and all(MARKER not in e and len(e) < 1000 for e in errors)
