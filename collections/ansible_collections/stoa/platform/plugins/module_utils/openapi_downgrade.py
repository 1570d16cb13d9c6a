# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""OpenAPI 3.1 to 3.0.3, for gateways (webMethods 10.15) that do not read 3.1.

How it works, in one pass:
- ``Downgrader`` walks the document by its structure (paths, operations,
  parameters, media types, components, callbacks, webhooks...), so it only
  ever treats as a Schema Object what the specification says is one. Example
  values, extensions and the names inside ``properties`` are copied as they are.
- ``_SchemaConverter`` rewrites one schema and the subschemas it holds, each
  visited once: the work is linear in the size of the document.
- Some rewrites are exact in 3.0 (``const`` -> one-value ``enum``,
  ``if``/``then``/``else`` -> ``anyOf``/``allOf``/``not``); the others keep
  what they cannot express under an ``x-`` extension and add a warning with
  the JSON pointer of the place. ``lossy`` warnings mark a loss of meaning.
- ``$defs`` are hoisted to ``components/schemas`` and every ``$ref`` to them
  rewritten once the walk is done.

Entry point: ``downgrade(document) -> (document, warnings)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import (
    DocumentError,
    escape_token,
    join_pointer,
    openapi_version,
    unescape_token,
)

TARGET_VERSION = "3.0.3"
DEFAULT_DIALECT = "https://spec.openapis.org/oas/3.1/dialect/base"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
COMPONENT_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object", "null")

# Schema keywords that mean the same in 3.0 and are copied as they are.
PLAIN_30_KEYWORDS = frozenset((
    "title", "multipleOf", "maximum", "minimum", "maxLength", "minLength", "pattern",
    "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties",
    "description", "format", "default", "nullable", "discriminator", "readOnly",
    "writeOnly", "xml", "externalDocs", "example", "deprecated", "enum",
))
# Annotations of JSON Schema 2020-12 with no 3.0 counterpart: kept as x- extensions,
# nothing is lost for validation.
ANNOTATIONS_TO_EXTENSIONS = {
    "$comment": "x-comment",
    "$id": "x-jsonschema-id",
    "$schema": "x-jsonschema-schema",
    "$anchor": "x-jsonschema-anchor",
    "$dynamicAnchor": "x-jsonschema-dynamicAnchor",
    "$vocabulary": "x-jsonschema-vocabulary",
    "contentSchema": "x-contentSchema",
}
# Media types whose content is text: a string schema for them is not binary.
TEXT_MEDIA_PREFIXES = ("text/",)
TEXT_MEDIA_SUFFIXES = ("json", "xml", "yaml", "x-www-form-urlencoded", "javascript", "csv")


class DowngradeError(DocumentError):
    """The document cannot be converted; ``pointer`` says where."""

    def __init__(self, pointer, message):
        self.pointer = pointer or "/"
        super(DowngradeError, self).__init__("%s: %s" % (self.pointer, message))


def _is_null_only_schema(node):
    """True for {type: 'null'}, {type: ['null']}, {const: null} or {enum: [null]} (annotations allowed)."""
    if not isinstance(node, dict):
        return False
    meaningful = set(node) - {"title", "description", "$comment", "deprecated"}
    meaningful = set(k for k in meaningful if not str(k).startswith("x-"))
    if meaningful == {"type"}:
        return node["type"] == "null" or node["type"] == ["null"]
    if meaningful == {"const"}:
        return node["const"] is None
    if meaningful == {"enum"}:
        return node["enum"] == [None]
    return False


def _is_text_media(media_type):
    media_type = str(media_type).split(";", maxsplit=1)[0].strip().lower()
    return media_type.startswith(TEXT_MEDIA_PREFIXES) or media_type.endswith(TEXT_MEDIA_SUFFIXES)


class Downgrader:
    """One conversion: holds the warnings and the references to fix up after the walk."""

    def __init__(self):
        self.warnings = []
        self._refs = []          # every {'$ref': ...} mapping written in the output
        self._moved = {}         # source pointer -> output pointer (for $ref rewriting)
        self._hoisted = {}       # new components/schemas entries (from $defs)
        self._path_item_refs = []  # (output path item, pointer) whose $ref must be inlined
        self._path_items = {}    # converted components/pathItems
        self._scheme_types = {}  # security scheme name -> type, for requirements
        self._schemas = _SchemaConverter(self)
        self._field_converters()

    # -- reporting --------------------------------------------------------
    def warn(self, pointer, message, lossy=True):
        self.warnings.append({"pointer": pointer or "/", "message": message, "lossy": lossy})

    # -- helpers ----------------------------------------------------------
    @staticmethod
    def _mapping(node, pointer, what):
        if not isinstance(node, dict):
            raise DowngradeError(pointer, "%s must be a mapping, not %s" % (what, type(node).__name__))
        return node

    @staticmethod
    def _list(node, pointer, what):
        if not isinstance(node, list):
            raise DowngradeError(pointer, "%s must be a list, not %s" % (what, type(node).__name__))
        return node

    def _map_of(self, node, pointer, what, convert):
        """A map whose values are converted by ``convert``; x- keys copied."""
        self._mapping(node, pointer, what)
        out = {}
        for key, value in node.items():
            if str(key).startswith("x-"):
                out[key] = value
            else:
                out[key] = convert(value, join_pointer(pointer, key))
        return out

    def _or_ref(self, convert):
        """Wrap ``convert`` so that Reference Objects are handled instead of converted."""
        def convert_or_reference(node, pointer):
            if isinstance(node, dict) and "$ref" in node:
                return self.reference(node, pointer)
            return convert(node, pointer)
        return convert_or_reference

    def record_ref(self, ref_node):
        self._refs.append(ref_node)
        return ref_node

    # -- document ---------------------------------------------------------
    def document(self, doc):
        if not isinstance(doc.get("info"), dict):
            raise DowngradeError("/info", "an OpenAPI document needs an info object (title and version)")
        components = doc.get("components") if isinstance(doc.get("components"), dict) else {}
        schemes = components.get("securitySchemes")
        if isinstance(schemes, dict):
            for name, scheme in schemes.items():
                if isinstance(scheme, dict):
                    self._scheme_types[name] = scheme.get("type")

        out = {}
        for key, value in doc.items():
            pointer = join_pointer("", key)
            if key == "openapi":
                out[key] = TARGET_VERSION
            elif key == "info":
                out[key] = self.info(value, pointer)
            elif key == "jsonSchemaDialect":
                out["x-jsonSchemaDialect"] = value
                if value != DEFAULT_DIALECT:
                    self.warn(pointer, "jsonSchemaDialect %r has no 3.0 equivalent: schemas are read as "
                                       "OpenAPI 3.0 schemas; kept as x-jsonSchemaDialect" % value)
            elif key == "paths":
                out[key] = self._map_of(value, pointer, "paths", self.path_item)
            elif key == "webhooks":
                out["x-webhooks"] = self._map_of(value, pointer, "webhooks", self.path_item)
                self._moved["/webhooks"] = "/x-webhooks"
                self.warn(pointer, "webhooks have no OpenAPI 3.0 equivalent: kept, converted, as "
                                   "x-webhooks (%d webhook(s)); 3.0 tools ignore them" % len(value))
            elif key == "components":
                out[key] = self.components(value, pointer)
            elif key == "security":
                out[key] = self.security(value, pointer)
            else:  # servers, tags, externalDocs, extensions: identical in 3.0
                out[key] = value
        if "paths" not in out:
            out = self._insert_after(out, "paths", {}, ("info", "servers", "openapi"))
        self._finish(out)
        return out

    @staticmethod
    def _insert_after(mapping, key, value, anchors):
        """A copy of ``mapping`` with ``key`` placed after the first anchor key found."""
        anchor = next((a for a in anchors if a in mapping), None)
        result = {}
        if anchor is None:
            result[key] = value
        for existing, existing_value in mapping.items():
            result[existing] = existing_value
            if existing == anchor:
                result[key] = value
        return result

    def info(self, node, pointer):
        out = dict(self._mapping(node, pointer, "info"))
        if "summary" in out:
            out = dict((("x-summary" if k == "summary" else k), v) for k, v in out.items())
            self.warn(pointer + "/summary", "info.summary is 3.1-only: moved to info.x-summary", lossy=False)
        license_ = out.get("license")
        if isinstance(license_, dict) and "identifier" in license_:
            license_ = dict(license_)
            identifier = license_.pop("identifier")
            license_["x-identifier"] = identifier
            if "url" not in license_ and identifier:
                license_["url"] = "https://spdx.org/licenses/%s.html" % identifier
            out["license"] = license_
            self.warn(pointer + "/license/identifier", "license.identifier is 3.1-only: moved to "
                      "license.x-identifier%s" % (" and turned into the SPDX url" if "url" in license_ else ""),
                      lossy=False)
        return out

    # -- paths, operations ------------------------------------------------
    def path_item(self, node, pointer):
        self._mapping(node, pointer, "a path item")
        out = {}
        for key, value in node.items():
            sub = join_pointer(pointer, key)
            if key in HTTP_METHODS:
                out[key] = self.operation(value, sub)
            elif key == "parameters":
                out[key] = self.parameters(value, sub)
            elif key in ("$ref", "summary", "description", "servers") or str(key).startswith("x-"):
                out[key] = value
            else:
                out["x-" + str(key)] = value
                self.warn(sub, "%r is not a path item field in 3.0: kept as x-%s, unused" % (key, key))
        if "$ref" in out:
            self._path_item_refs.append((out, pointer))
        return out

    def operation(self, node, pointer):
        out = self._fields(node, pointer, "an operation", self._operation_fields)
        if not out.get("responses"):
            out["responses"] = {"default": {"description": "Default response"}}
            self.warn(pointer + "/responses", "an operation needs responses in 3.0: added a 'default' "
                                              "response without content", lossy=False)
        return out

    def parameters(self, node, pointer):
        return [self.parameter_or_ref(p, join_pointer(pointer, i))
                for i, p in enumerate(self._list(node, pointer, "parameters"))]

    def callback(self, node, pointer):
        return self._map_of(node, pointer, "a callback", self.path_item)

    def _fields(self, node, pointer, what, converters):
        """Copy a mapping, converting the fields that ``converters`` names."""
        self._mapping(node, pointer, what)
        out = {}
        for key, value in node.items():
            convert = converters.get(key)
            out[key] = convert(value, join_pointer(pointer, key)) if convert else value
        return out

    def _map(self, convert, what):
        return lambda node, pointer: self._map_of(node, pointer, what, convert)

    def _field_converters(self):
        """What each object holds that needs converting, built once per conversion."""
        schema = self._schemas.convert
        headers = self._map(self._or_ref(self.header), "headers")
        content = self._map(self.media_type, "content")
        self._with_content = {"schema": schema, "content": content}
        self._media_fields = {"schema": schema, "encoding": self._map(self.encoding, "encoding")}
        self._encoding_fields = {"headers": headers}
        self._response_fields = {"headers": headers, "content": content}
        self._operation_fields = {
            "parameters": self.parameters,
            "requestBody": self._or_ref(self.request_body),
            "responses": self.responses,
            "callbacks": self._map(self._or_ref(self.callback), "callbacks"),
            "security": self.security,
        }
        # components/pathItems is handled apart: it is renamed and kept for inlining.
        self._component_fields = {
            "schemas": self._map(schema, "schemas"),
            "responses": self._map(self._or_ref(self.response), "responses"),
            "parameters": self._map(self.parameter_or_ref, "parameters"),
            "requestBodies": self._map(self._or_ref(self.request_body), "requestBodies"),
            "headers": self._map(self._or_ref(self.header), "headers"),
            "securitySchemes": self._map(self._or_ref(self.security_scheme), "securitySchemes"),
            "callbacks": self._map(self._or_ref(self.callback), "callbacks"),
        }

    def parameter(self, node, pointer):
        return self._fields(node, pointer, "a parameter", self._with_content)

    def parameter_or_ref(self, node, pointer):
        return self._or_ref(self.parameter)(node, pointer)

    def header(self, node, pointer):
        return self._fields(node, pointer, "a header", self._with_content)

    def request_body(self, node, pointer):
        return self._fields(node, pointer, "a request body", self._with_content)

    def media_type(self, node, pointer):
        return self._fields(node, pointer, "a media type", self._media_fields)

    def encoding(self, node, pointer):
        return self._fields(node, pointer, "an encoding", self._encoding_fields)

    def responses(self, node, pointer):
        return self._map_of(node, pointer, "responses", self._or_ref(self.response))

    def response(self, node, pointer):
        out = self._fields(node, pointer, "a response", self._response_fields)
        if "description" not in out:
            out["description"] = ""
            self.warn(pointer, "a response needs a description: added an empty one", lossy=False)
        return out

    def reference(self, node, pointer):
        """A Reference Object outside schemas: 3.0 allows no summary/description beside $ref."""
        siblings = [k for k in node if k != "$ref"]
        if siblings:
            self.warn(pointer, "a 3.0 reference takes no sibling fields: dropped %s"
                      % ", ".join(sorted(map(str, siblings))))
        return self.record_ref({"$ref": node["$ref"]})

    def security(self, node, pointer):
        """Security requirements: 3.0 allows scopes only for oauth2 and openIdConnect."""
        out = []
        for index, requirement in enumerate(self._list(node, pointer, "security")):
            sub = join_pointer(pointer, index)
            requirement = dict(self._mapping(requirement, sub, "a security requirement"))
            for name, scopes in requirement.items():
                kind = self._scheme_types.get(name)
                if scopes and kind not in (None, "oauth2", "openIdConnect"):
                    requirement[name] = []
                    self.warn(join_pointer(sub, name), "3.0 allows role/scope names only for oauth2 and "
                              "openIdConnect schemes; dropped %s for the %s scheme" % (scopes, kind))
            out.append(requirement)
        return out

    # -- components --------------------------------------------------------
    def components(self, node, pointer):
        self._mapping(node, pointer, "components")
        out = {}
        for key, value in node.items():
            sub = join_pointer(pointer, key)
            if key == "pathItems":
                self._path_items = self._map_of(value, sub, "pathItems", self.path_item)
                out["x-pathItems"] = self._path_items
                self._moved[sub] = pointer + "/x-pathItems"
                if self._path_items:
                    self.warn(sub, "components.pathItems is 3.1-only: references to them are inlined; "
                                   "kept as components.x-pathItems", lossy=False)
            else:  # examples and links are copied, like extensions
                convert = self._component_fields.get(key)
                out[key] = convert(value, sub) if convert else value
        return out

    def security_scheme(self, node, pointer):
        out = dict(self._mapping(node, pointer, "a security scheme"))
        if out.get("type") == "mutualTLS":
            out["type"] = "http"
            out["scheme"] = "mutualTLS"
            out["x-stoa-original-type"] = "mutualTLS"
            self.warn(pointer + "/type", "3.0 has no mutualTLS security scheme: written as an http scheme "
                      "named 'mutualTLS' so requirements still name it; enforce client certificates on "
                      "the gateway")
        return out

    # -- after the walk ----------------------------------------------------
    def _finish(self, out):
        if self._hoisted:
            components = out.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            schemas.update(self._hoisted)
        for ref_node in self._refs:
            ref_node["$ref"] = self._rewrite_ref(ref_node["$ref"])
        self._inline_path_item_refs()

    def _rewrite_ref(self, ref):
        if not isinstance(ref, str) or not ref.startswith("#/") or not self._moved:
            return ref
        tokens = ref[1:].split("/")[1:]
        # The longest moved prefix wins (a $defs inside a moved $defs).
        for end in range(len(tokens), 0, -1):
            prefix = "/" + "/".join(tokens[:end])
            if prefix in self._moved:
                rest = "/".join(tokens[end:])
                return "#" + self._moved[prefix] + ("/" + rest if rest else "")
        return ref

    def _inline_path_item_refs(self):
        """3.0 has no components.pathItems: replace such references by a copy of the item."""
        prefix = "#/components/pathItems/"
        moved_prefix = "#/components/x-pathItems/"
        for item, pointer in self._path_item_refs:
            resolved, seen = item, set()
            while "$ref" in resolved:
                ref = resolved["$ref"]
                if not isinstance(ref, str):
                    raise DowngradeError(pointer + "/$ref", "a $ref must be a string")
                name = None
                for known in (prefix, moved_prefix):
                    if ref.startswith(known):
                        name = unescape_token(ref[len(known):])
                if name is None:
                    break  # an external or other reference: 3.0 path items may $ref those
                if name in seen or name not in self._path_items:
                    raise DowngradeError(pointer + "/$ref", "cannot resolve %r%s" % (
                        ref, " (a reference cycle)" if name in seen else ""))
                seen.add(name)
                target = self._path_items[name]
                merged = copy.deepcopy(dict((k, v) for k, v in target.items() if k != "$ref"))
                if "$ref" in target:
                    merged["$ref"] = target["$ref"]
                # Fields beside the $ref override the referenced ones, as in 3.1.
                merged.update((k, v) for k, v in resolved.items() if k != "$ref")
                resolved = merged
            if resolved is not item:
                item.clear()
                item.update(resolved)


class _SchemaConverter:
    """Converts one Schema Object (and what it holds) from JSON Schema 2020-12 to 3.0."""

    def __init__(self, owner):
        self.owner = owner
        self._hoisted_names = set()

    def warn(self, pointer, message, lossy=True):
        self.owner.warn(pointer, message, lossy)

    # -- entry --------------------------------------------------------------
    def convert(self, node, pointer):
        if node is True:
            return {}
        if node is False:
            return {"not": {}}
        if not isinstance(node, dict):
            raise DowngradeError(pointer, "a schema must be a mapping or a boolean, not %s"
                                 % type(node).__name__)
        out = {}
        extra_all_of = []
        for key, value in node.items():
            sub = join_pointer(pointer, key)
            key_text = str(key)
            if key_text.startswith("x-") or key in PLAIN_30_KEYWORDS:
                out[key] = value
            elif key == "$ref":
                if not isinstance(value, str):
                    raise DowngradeError(sub, "$ref must be a string")
                out[key] = value
            elif key in ("allOf", "anyOf", "oneOf"):
                out[key] = self._list_of_schemas(value, sub)
            elif key == "not":
                out[key] = self.convert(value, sub)
            elif key == "properties":
                out[key] = self._map_of_schemas(value, sub)
            elif key == "additionalProperties":
                out[key] = value if isinstance(value, bool) else self.convert(value, sub)
            elif key == "items":
                if isinstance(value, list):  # draft-4 tuple form: same as prefixItems
                    continue
                out[key] = self.convert(value, sub)  # 3.0 items cannot be a boolean
            elif key == "required":
                if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
                    raise DowngradeError(sub, "required must be a list of property names")
                if value:
                    out[key] = value
            elif key in ANNOTATIONS_TO_EXTENSIONS:
                out[ANNOTATIONS_TO_EXTENSIONS[key]] = value
            elif key in ("$defs", "definitions"):
                self._hoist(value, sub, pointer)
            elif key in HANDLED_BELOW:
                if key in KEEP_POSITION:
                    out[key] = value  # a placeholder that keeps the key order; the rules below decide
                continue
            else:
                # An unknown keyword is an annotation in 2020-12: keep it as an extension.
                out["x-" + key_text] = value
                self.warn(sub, "%r is not a 3.0 schema keyword: kept as x-%s" % (key_text, key_text),
                          lossy=False)

        if "enum" in out and not isinstance(out["enum"], list):
            raise DowngradeError(pointer + "/enum", "enum must be a list of values")
        self._type(node, out, pointer)
        self._const(node, out, pointer)
        self._exclusive_bounds(node, out, pointer)
        self._examples(node, out, pointer)
        self._content(node, out, pointer)
        self._tuple(node, out, pointer)
        self._unevaluated(node, out, pointer)
        self._pattern_properties(node, out, pointer)
        self._to_extension(node, out, pointer, UNSUPPORTED_ASSERTIONS)
        extra_all_of += self._dependencies(node, pointer)
        extra_all_of += self._conditional(node, pointer)
        self._nullable_branches(node, out, pointer)
        if "enum" in out and None in out["enum"] and "type" in out:
            out["nullable"] = True
        if out.get("type") == "array" and "items" not in out:
            out["items"] = {}
        if extra_all_of:
            out["allOf"] = list(out.get("allOf", [])) + extra_all_of
        return self._ref_siblings(out)

    # -- containers -----------------------------------------------------------
    def _list_of_schemas(self, value, pointer):
        if not isinstance(value, list) or not value:
            raise DowngradeError(pointer, "must be a non-empty list of schemas")
        return [self.convert(s, join_pointer(pointer, i)) for i, s in enumerate(value)]

    def _map_of_schemas(self, value, pointer):
        if not isinstance(value, dict):
            raise DowngradeError(pointer, "must be a mapping of names to schemas")
        # The names are data: never rewritten, whatever they look like.
        return dict((name, self.convert(s, join_pointer(pointer, name))) for name, s in value.items())

    def _hoist(self, value, pointer, owner_pointer):
        """$defs -> components/schemas/<Owner>_<name>, references rewritten after the walk."""
        if not isinstance(value, dict):
            raise DowngradeError(pointer, "must be a mapping of names to schemas")
        owner_tokens = [unescape_token(t) for t in owner_pointer.split("/")[1:]]
        if owner_tokens[:2] == ["components", "schemas"] and len(owner_tokens) >= 3:
            base = owner_tokens[2]
        else:
            base = "_".join(t for t in owner_tokens[-3:] if t not in ("schema", "content", "properties"))
        for name, schema in value.items():
            new_name = self._unique(COMPONENT_NAME_UNSAFE.sub("_", "%s_%s" % (base, name) if base else str(name)))
            self.owner._moved[join_pointer(pointer, name)] = join_pointer("/components/schemas", new_name)
            self.owner._hoisted[new_name] = self.convert(schema, join_pointer(pointer, name))
        self.warn(pointer, "$defs moved to components/schemas (%s) and references rewritten"
                  % ", ".join(sorted(map(str, value))), lossy=False)

    def _unique(self, name):
        candidate, counter = name, 2
        while candidate in self._hoisted_names:
            candidate = "%s_%d" % (name, counter)
            counter += 1
        self._hoisted_names.add(candidate)
        return candidate

    # -- keyword rules --------------------------------------------------------
    def _type(self, node, out, pointer):
        if "type" not in node:
            return
        declared = node["type"]
        types = declared if isinstance(declared, list) else [declared]
        for t in types:
            if t not in JSON_TYPES:
                raise DowngradeError(pointer + "/type", "unknown type %r (expected one of %s)"
                                     % (t, ", ".join(JSON_TYPES)))
        has_null = "null" in types
        kept = []
        for t in types:
            if t != "null" and t not in kept:
                kept.append(t)
        if has_null:
            out["nullable"] = True
        if len(kept) == 1:
            out["type"] = kept[0]  # replaces the placeholder, in its place
            return
        del out["type"]
        if not kept:  # only null
            if "enum" not in out and "const" not in node:
                out["enum"] = [None]
        else:
            branches = [dict(type=t, nullable=True) if has_null else {"type": t} for t in kept]
            if has_null:
                del out["nullable"]
            self._add_alternatives(out, branches)

    @staticmethod
    def _add_alternatives(out, branches):
        if "anyOf" in out:
            out["allOf"] = list(out.get("allOf", [])) + [{"anyOf": branches}]
        else:
            out["anyOf"] = branches

    def _const(self, node, out, pointer):
        if "const" not in node:
            return
        value = node["const"]
        if "enum" in out and value not in out["enum"]:
            self.warn(pointer + "/const", "const %r is not in the enum beside it: the enum was replaced by "
                      "the const" % (value,))
        out["enum"] = [value]
        if value is None:
            out["nullable"] = True

    def _exclusive_bounds(self, node, out, pointer):
        for exclusive, inclusive, stricter in (("exclusiveMinimum", "minimum", lambda a, b: a > b),
                                               ("exclusiveMaximum", "maximum", lambda a, b: a < b)):
            if exclusive not in node:
                continue
            bound = node[exclusive]
            if isinstance(bound, bool):  # already the 3.0 form
                continue
            if not isinstance(bound, (int, float)):
                raise DowngradeError(pointer + "/" + exclusive, "must be a number")
            current = out.get(inclusive)
            if isinstance(current, (int, float)) and not isinstance(current, bool) and stricter(current, bound):
                del out[exclusive]  # the inclusive bound already excludes the exclusive one
                continue
            out[inclusive] = bound
            out[exclusive] = True

    def _examples(self, node, out, pointer):
        if "examples" not in node:
            return
        examples = node["examples"]
        if isinstance(examples, list):
            values = examples
        elif isinstance(examples, dict):  # a map of Example Objects (not 3.1, seen in the wild)
            values = [v.get("value") if isinstance(v, dict) and "value" in v else v for v in examples.values()]
        else:
            raise DowngradeError(pointer + "/examples", "must be a list of example values")
        if values and "example" not in out:
            out["example"] = values[0]
        if len(values) > 1 or "example" in node or isinstance(examples, dict):
            out["x-examples"] = examples

    def _content(self, node, out, pointer):
        encoding = node.get("contentEncoding")
        media = node.get("contentMediaType")
        if encoding is None and media is None:
            return
        wanted = None
        if encoding is not None:
            encoding_name = str(encoding).lower()
            if encoding_name == "base64":
                wanted = "byte"
            elif encoding_name == "base64url":
                wanted = "byte"
                self.warn(pointer + "/contentEncoding", "base64url written as format: byte (base64): "
                          "the URL-safe alphabet is not expressed in 3.0")
            elif encoding_name in ("binary", "8bit"):
                wanted = "binary"
            else:
                out["x-contentEncoding"] = encoding
                self.warn(pointer + "/contentEncoding", "contentEncoding %r has no 3.0 format: kept as "
                          "x-contentEncoding" % encoding)
        elif not _is_text_media(media):
            wanted = "binary"
        if media is not None:
            out["x-contentMediaType"] = media
        if wanted:
            if out.get("format") not in (None, wanted):
                out["x-contentEncoding"] = encoding
                self.warn(pointer + "/format", "format %r kept; the content encoding would have made it %r"
                          % (out["format"], wanted))
            else:
                out["format"] = wanted

    def _tuple(self, node, out, pointer):
        prefix = node.get("prefixItems")
        if prefix is None and isinstance(node.get("items"), list):
            prefix = node["items"]
        if prefix is None:
            return
        sub = pointer + ("/prefixItems" if "prefixItems" in node else "/items")
        positional = self._list_of_schemas(prefix, sub)
        rest = node.get("items") if "prefixItems" in node else node.get("additionalItems")
        if rest is False:
            out["maxItems"] = min(out.get("maxItems", len(positional)), len(positional))
            out["items"] = {"anyOf": positional}
        elif rest is None or rest is True:
            out["items"] = {"anyOf": positional + [{}]}
        else:  # 2020-12 `items` was converted by the first loop; draft-4 `additionalItems` was not
            tail = out["items"] if "prefixItems" in node else self.convert(rest, pointer + "/additionalItems")
            out["items"] = {"anyOf": positional + [tail]}
        out["x-prefixItems"] = prefix
        self.warn(sub, "3.0 has no tuples: items may now be any of the %d positional schemas, in any "
                       "position; kept as x-prefixItems" % len(positional))

    def _unevaluated(self, node, out, pointer):
        composed = any(k in node for k in COMPOSING_KEYWORDS)
        for keyword, local, also in (("unevaluatedProperties", "additionalProperties", "patternProperties"),
                                     ("unevaluatedItems", "items", "prefixItems")):
            if keyword not in node:
                continue
            value = node[keyword]
            sub = join_pointer(pointer, keyword)
            if local in node and not (local == "items" and isinstance(node[local], list)):
                self.warn(sub, "%s has no effect beside %s: dropped" % (keyword, local), lossy=False)
            elif not composed and also not in node:
                out[local] = value if isinstance(value, bool) else self.convert(value, sub)
            else:
                out["x-" + keyword] = value
                self.warn(sub, "%s across composed schemas has no 3.0 equivalent: not enforced, kept as "
                               "x-%s" % (keyword, keyword))

    def _pattern_properties(self, node, out, pointer):
        if "patternProperties" not in node:
            return
        sub = pointer + "/patternProperties"
        patterns = self._map_of_schemas(node["patternProperties"], sub)
        out["x-patternProperties"] = node["patternProperties"]
        additional = out.get("additionalProperties", True)
        if additional is True:
            self.warn(sub, "3.0 has no patternProperties: properties matching %s are not checked; kept as "
                           "x-patternProperties" % ", ".join(map(repr, patterns)))
            return
        alternatives = list(patterns.values()) + ([] if additional is False else [additional])
        out["additionalProperties"] = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
        self.warn(sub, "3.0 has no patternProperties: other properties must now match one of the pattern "
                       "schemas whatever their name; kept as x-patternProperties")

    def _to_extension(self, node, out, pointer, keywords):
        for keyword in keywords:
            if keyword in node:
                name = "x-" + keyword.lstrip("$")
                out[name] = node[keyword]
                self.warn(join_pointer(pointer, keyword), "%s has no 3.0 equivalent: not enforced, kept as %s"
                          % (keyword, name))

    def _dependencies(self, node, pointer):
        """dependentRequired/dependentSchemas/dependencies -> exact allOf/anyOf/not clauses."""
        clauses = []
        pairs = []
        for keyword in ("dependentRequired", "dependentSchemas", "dependencies"):
            if keyword in node:
                sub = join_pointer(pointer, keyword)
                if not isinstance(node[keyword], dict):
                    raise DowngradeError(sub, "must be a mapping of property names")
                pairs += [(sub, name, value) for name, value in node[keyword].items()]
        for sub, name, value in pairs:
            absent = {"not": {"required": [name]}}
            if isinstance(value, list):
                if value:
                    clauses.append({"anyOf": [absent, {"required": list(value)}]})
            else:
                clauses.append({"anyOf": [absent, self.convert(value, join_pointer(sub, name))]})
        return clauses

    def _conditional(self, node, pointer):
        """if/then/else -> anyOf[allOf[if, then], allOf[not if, else]] (exact)."""
        if "if" not in node:
            return []
        condition = self.convert(node["if"], pointer + "/if")
        then = self.convert(node["then"], pointer + "/then") if "then" in node else None
        otherwise = self.convert(node["else"], pointer + "/else") if "else" in node else None
        if then is None and otherwise is None:
            return []
        # The same mapping twice (written out twice): a $ref inside is rewritten once for both.
        negated = {"not": condition}
        return [{"anyOf": [
            {"allOf": [condition, then]} if then is not None else condition,
            {"allOf": [negated, otherwise]} if otherwise is not None else negated,
        ]}]

    def _nullable_branches(self, node, out, pointer):
        """anyOf/oneOf with a null branch -> the other branches + nullable: true."""
        for keyword in ("anyOf", "oneOf"):
            branches = node.get(keyword)
            if not isinstance(branches, list) or not any(_is_null_only_schema(b) for b in branches):
                continue
            kept = [c for b, c in zip(branches, out[keyword]) if not _is_null_only_schema(b)]
            out["nullable"] = True
            if not kept:
                del out[keyword]
                out.setdefault("enum", [None])
            elif len(kept) == 1:
                del out[keyword]
                only = kept[0]
                clash = set(only) & set(out)
                if "$ref" in only or "allOf" in only or clash:
                    out["allOf"] = [only] + list(out.get("allOf", []))
                else:
                    out.update(only)
                    out["nullable"] = True
            else:
                out[keyword] = kept

    def _ref_siblings(self, out):
        """3.0 ignores what stands beside $ref: move the reference into allOf."""
        if "$ref" not in out:
            return out
        if len(out) == 1:
            return self.owner.record_ref(out)
        ref = self.owner.record_ref({"$ref": out.pop("$ref")})
        result = {"allOf": [ref] + list(out.pop("allOf", []))}
        result.update(out)
        return result


# Assertions 3.0 cannot express at all: kept as x- extensions, reported as lossy.
UNSUPPORTED_ASSERTIONS = ("propertyNames", "contains", "minContains", "maxContains", "$dynamicRef")
# Keywords that make unevaluated* depend on other subschemas.
COMPOSING_KEYWORDS = ("allOf", "anyOf", "oneOf", "if", "dependentSchemas", "$ref", "dependencies")
# Keywords whose 3.0 form usually has the same name: reserve their place in the output.
KEEP_POSITION = frozenset(("type", "exclusiveMinimum", "exclusiveMaximum"))
# Keywords that convert() leaves to the dedicated rules after its first loop.
HANDLED_BELOW = frozenset((
    "type", "const", "exclusiveMinimum", "exclusiveMaximum", "examples", "contentEncoding",
    "contentMediaType", "prefixItems", "additionalItems", "unevaluatedProperties", "unevaluatedItems",
    "patternProperties", "propertyNames", "contains", "minContains", "maxContains", "$dynamicRef",
    "dependentRequired", "dependentSchemas", "dependencies", "if", "then", "else",
))


def downgrade(document):
    """Convert an OpenAPI 3.1 document to 3.0.3.

    Returns ``(converted, warnings, source_version)``. 3.0.x and 2.0 documents are
    returned as they are (the same object) with no warnings. Raises
    ``DocumentError``/``DowngradeError`` with a JSON pointer for what cannot be converted.
    """
    version = openapi_version(document)
    if not version.startswith("3.1"):
        return document, [], version
    converter = Downgrader()
    return converter.document(document), converter.warnings, version


__all__ = ["downgrade", "DowngradeError", "DocumentError", "TARGET_VERSION", "escape_token"]
