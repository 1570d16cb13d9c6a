"""Schema validators for the two sides of openapi_downgrade, to compare what each schema accepts.

- 3.1 side: openapi-schema-validator's OAS31Validator (JSON Schema 2020-12 + the OAS dialect),
  with every document of a conversion registered at its URI (the source file, bundled files),
  so that $id, $anchor, $defs and relative file references resolve as a 3.1 tool resolves them.
- 3.0 side: OAS30Validator (3.0.3's nullable rule: only beside `type`). ``discriminator=False``
  gives the same validator without discriminator dispatch: 3.1 treats a discriminator as an
  annotation, 3.0 validators use it to pick the branch, so the property test compares without it
  (the discriminator's own behaviour is checked by the bug-case tests).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

from jsonschema import _keywords
from jsonschema.validators import extend
from openapi_schema_validator import OAS30Validator, OAS31Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4, DRAFT202012

SOURCE_URI = "urn:stoa-test:source"
OUTPUT_URI = "urn:stoa-test:output"

OAS30WithoutDiscriminator = extend(OAS30Validator, {
    "anyOf": _keywords.anyOf, "oneOf": _keywords.oneOf, "allOf": _keywords.allOf,
})


def file_uri(path: Path) -> str:
    return Path(path).resolve().as_uri()


def validator31(document: dict, pointer: str, uri: str = SOURCE_URI, others: dict | None = None):
    """OAS 3.1 validator for the schema at ``pointer`` of ``document`` (registered at ``uri``).

    ``others``: {uri: document} of the files its references point to.
    """
    resources = []
    for base, contents in [(uri, document)] + list((others or {}).items()):
        resources.append((base, DRAFT202012.create_resource(contents)))
        # An OpenAPI document is not a schema: the crawler would not look inside components for
        # embedded resources, so every schema with an $id (absolute in these tests) is registered.
        resources += [(urljoin(base, node["$id"]), DRAFT202012.create_resource(node)) for node in _with_ids(contents)]
    registry = Registry().with_resources(resources).crawl()
    target = registry.resolver(uri).lookup("#" + pointer).contents
    if isinstance(target, dict) and isinstance(target.get("$id"), str):
        # A JSON-pointer lookup does not enter the target's own resource: go through its $id instead.
        return OAS31Validator({"$ref": urljoin(uri, target["$id"])}, registry=registry)
    return OAS31Validator({"$ref": uri + "#" + pointer}, registry=registry)


def _with_ids(node):
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$id"), str):
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def validator30(document: dict, pointer: str, discriminator: bool = True):
    """OAS 3.0 validator for the schema at ``pointer`` of the (self-contained) 3.0 ``document``."""
    registry = Registry().with_resource(OUTPUT_URI, DRAFT4.create_resource(document))
    cls = OAS30Validator if discriminator else OAS30WithoutDiscriminator
    return cls({"$ref": OUTPUT_URI + "#" + pointer}, registry=registry)


SAMPLES = [None, "", "abc", "abcd", 0, 1, -1, 1.5, True, False, [], [1], ["a", None], {}, {"name": "x"},
           {"name": None}, {"kind": "Bar", "bar": "x", "baz": "notint"}]


class _Many:
    """``many(...).more()``/``reject()``, the shape hypothesis-jsonschema 0.23.1 (the newest) calls, on top of
    the context-manager ``many`` that current hypothesis has instead: without it every object schema fails
    with "'many' object has no attribute 'more'". Only hypothesis-jsonschema's module sees it."""

    def __init__(self, data, **sizes):
        from hypothesis.internal.conjecture.utils import many

        self._many = many(data, **sizes)
        self._many.__enter__()
        self._elements = iter(self._many)

    def more(self) -> bool:
        if next(self._elements, StopIteration) is StopIteration:
            self._many.__exit__(None, None, None)
            return False
        return True

    def reject(self) -> None:
        self._many.reject()


def schema_instances(schema: dict):
    """hypothesis strategy of instances of a JSON Schema (hypothesis-jsonschema, formats ignored)."""
    import types

    import hypothesis_jsonschema._from_schema as generator
    from hypothesis_jsonschema import from_schema

    generator.cu = types.SimpleNamespace(many=_Many)
    return from_schema(schema, allow_x00=False)
