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
- ``null`` is accepted by each converted schema exactly where the 3.1 schema
  accepts it: every subschema is converted so that it accepts ``null`` iff its
  3.1 form does, so any composition of them does too (``nullable`` only ever
  stands beside the ``type`` it widens, as 3.0.3 reads it).
- References are resolved after the walk the way JSON Schema 2020-12 resolves
  them (``$id`` bases, ``$anchor``, JSON pointers into ``$defs`` anywhere),
  then written as the 3.0 pointer of the same target; ``$defs`` are hoisted to
  ``components/schemas``; a relative reference to another file is bundled
  (read relative to the source file, converted, placed in ``components``);
  any other reference is refused with the JSON pointer of the ``$ref``.

Entry point: ``downgrade(document, source=None, ref_root=None) -> (document, warnings, version)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2
    from urllib import quote  # type: ignore

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
# Python classes of the 3.0 (draft-4) JSON types, booleans apart: 1.0 is a number, not an integer.
JSON_TYPE_CLASSES = {"string": str, "integer": int, "number": (int, float), "array": list, "object": dict}

# Schema keywords that mean the same in 3.0 and are copied as they are.
PLAIN_30_KEYWORDS = frozenset((
    "title", "multipleOf", "maximum", "minimum", "pattern", "uniqueItems",
    "description", "format", "default", "readOnly",
    "writeOnly", "xml", "externalDocs", "example", "deprecated", "enum",
))
# Keywords whose value 3.0 reads as a draft-4 integer: a 3.1 ``5.0`` is written ``5``.
INTEGER_KEYWORDS = frozenset(("maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties"))
# Keywords that only annotate: a discriminator branch may lose them to stay a plain $ref.
ANNOTATION_KEYWORDS = frozenset(("title", "description", "deprecated", "example", "externalDocs"))
# Keywords that give a schema a URI of its own (a base for the $refs inside it, or an anchor).
ID_KEYWORDS = frozenset(("$id", "$anchor", "$dynamicAnchor"))
# Base URI of a document that was not read from a file (relative references cannot be followed).
ROOT_URI = "urn:stoa:openapi-source"
# components/<section> each kind of Reference Object points into; how bundled targets are placed.
REFERENCE_SECTIONS = ("schemas", "responses", "parameters", "examples", "requestBodies", "headers",
                      "securitySchemes", "links", "callbacks", "pathItems")
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


def _mergeable_with_null(branch, out):
    """True when ``{branch} + nullable`` says exactly ``anyOf/oneOf: [branch, null]`` beside ``out``."""
    if not isinstance(branch, dict) or "type" not in branch or branch.get("nullable") is True:
        return False
    if any(k in branch for k in ("$ref", "allOf", "anyOf", "oneOf", "not", "discriminator")):
        return False
    return not (set(branch) & set(out))


def _has_json_type(value, type_name):
    """Whether ``value`` is of the 3.0 (draft-4) JSON type ``type_name``; 1.0 is not an integer there."""
    if isinstance(value, bool):
        return type_name == "boolean"
    return isinstance(value, JSON_TYPE_CLASSES.get(type_name, ()))


def _required_into_all_of(out):
    """Beside an allOf the conversion created, ``required`` names another schema's properties.

    3.0 validators then look for them in the allOf branches and call the schema invalid; as one more
    allOf clause it means the same and raises no such complaint.
    """
    required = out.get("required")
    if required and isinstance(out.get("allOf"), list):
        properties = out.get("properties") if isinstance(out.get("properties"), dict) else {}
        if any(name not in properties for name in required):
            out["allOf"] = out["allOf"] + [{"required": out.pop("required")}]


def _is_text_media(media_type):
    media_type = str(media_type).split(";", maxsplit=1)[0].strip().lower()
    return media_type.startswith(TEXT_MEDIA_PREFIXES) or media_type.endswith(TEXT_MEDIA_SUFFIXES)


class Downgrader:
    """One conversion: holds the warnings and the references to fix up after the walk."""

    def __init__(self, source=None, ref_root=None):
        self.warnings = []
        # (holder, key, base URI, pointer of the reference, components section): every reference
        # written in the output, resolved once the walk is done.
        self._refs = []
        self._moved = {}         # source pointer -> output pointer (whole objects moved)
        self._hoisted = {}       # new components/schemas entries ($defs, bundled files)
        self._bundled = {}       # section -> {name: converted}: other components bundled from files
        self._targets = {}       # key of a bundled target -> its output pointer
        self._path_item_refs = []  # (output path item, pointer, base) whose $ref must be inlined
        self._path_items = {}    # converted components/pathItems
        self._scheme_types = {}  # security scheme name -> type, for requirements
        self._source_path = os.path.abspath(source) if source else None
        root_uri = _file_uri(self._source_path) if source else ROOT_URI
        self._ref_root = None
        if source:
            self._ref_root = os.path.realpath(ref_root or os.path.dirname(self._source_path))
        self.root_uri = root_uri
        self.base = root_uri     # base URI of the schema being converted ($id changes it)
        self.doc_uri = root_uri  # the document being converted, and its pointer prefix
        self.prefix = ""
        self._documents = {root_uri: (None, "")}  # uri -> (document, pointer prefix in messages)
        self._resources = {root_uri: (root_uri, "")}  # absolute URI -> (document uri, pointer)
        self._anchors = {}       # (resource URI, anchor name) -> (document uri, pointer)
        self.nodes = {}          # pointer (with prefix) of a source schema -> its converted schema
        self._index = None       # id(output mapping) -> output pointer, built when first needed
        self._names = set()      # component names taken, for hoisted and bundled entries
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

    def _or_ref(self, convert, section):
        """Wrap ``convert`` so that Reference Objects (into components/``section``) are handled instead."""
        def convert_or_reference(node, pointer):
            if isinstance(node, dict) and "$ref" in node:
                return self.reference(node, pointer, section)
            return convert(node, pointer)
        return convert_or_reference

    def record_ref(self, holder, pointer, section="schemas", key="$ref"):
        """Remember ``holder[key]`` (a reference written at ``pointer``) for resolution after the walk."""
        self._refs.append((holder, key, self.base, pointer, section))
        return holder

    def source_document(self):
        """The document being converted (the root one, or a file being bundled)."""
        document = self._documents[self.doc_uri][0]
        return document if isinstance(document, dict) else {}

    def register_schema_ids(self, node, pointer):
        """$id and $anchor of a 3.1 schema: a new base URI (returned) and named places for $ref."""
        base = self.base
        raw = pointer[len(self.prefix):]
        if "$id" in node:
            ident = node["$id"]
            if not isinstance(ident, str):
                raise DowngradeError(pointer + "/$id", "$id must be a string")
            base = _references().join_uri(base, ident).partition("#")[0]
            self._resources[base] = (self.doc_uri, raw)
        for keyword in ("$anchor", "$dynamicAnchor"):
            if keyword in node:
                if not isinstance(node[keyword], str):
                    raise DowngradeError(join_pointer(pointer, keyword), "%s must be a string" % keyword)
                self._anchors[(base, node[keyword])] = (self.doc_uri, raw)
        return base

    # -- document ---------------------------------------------------------
    def document(self, doc):
        self._documents[self.root_uri] = (doc, "")
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
        try:
            self._finish(out)
        finally:
            # The converter and its schema converter refer to each other: drop what would keep both
            # documents alive until the cycle collector runs.
            self.nodes, self._index, self._out, self._documents = {}, None, None, {}
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
            if not isinstance(out["$ref"], str):
                raise DowngradeError(pointer + "/$ref", "$ref must be a string")
            self._path_item_refs.append((out, pointer, self.doc_uri))
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

    def _lenient_map(self, section):
        """A map of ``section`` objects or references; anything else is copied (3.0 tools read it as before)."""
        convert = self._component_items[section]

        def convert_map(node, pointer):
            if not isinstance(node, dict) or not any(isinstance(v, dict) and "$ref" in v for v in node.values()):
                return node  # no reference in it: copied (the usual case, and the cheap one)
            return self._map_of(node, pointer, section, convert)
        return convert_map

    def _map(self, convert, what):
        return lambda node, pointer: self._map_of(node, pointer, what, convert)

    def _field_converters(self):
        """What each object holds that needs converting, built once per conversion."""
        schema = self._schemas.convert
        # One converter per components section: also used for targets bundled from other files.
        self._component_items = {
            "schemas": schema,
            "responses": self._or_ref(self.response, "responses"),
            "parameters": self.parameter_or_ref,
            "examples": self._or_ref(_copy_value, "examples"),
            "requestBodies": self._or_ref(self.request_body, "requestBodies"),
            "headers": self._or_ref(self.header, "headers"),
            "securitySchemes": self._or_ref(self.security_scheme, "securitySchemes"),
            "links": self._or_ref(_copy_value, "links"),
            "callbacks": self._or_ref(self.callback, "callbacks"),
        }
        headers = self._map(self._component_items["headers"], "headers")
        content = self._map(self.media_type, "content")
        examples = self._lenient_map("examples")
        self._with_content = {"schema": schema, "content": content, "examples": examples}
        self._media_fields = {"schema": schema, "encoding": self._map(self.encoding, "encoding"),
                              "examples": examples}
        self._encoding_fields = {"headers": headers}
        self._response_fields = {"headers": headers, "content": content,
                                 "links": self._lenient_map("links")}
        self._operation_fields = {
            "parameters": self.parameters,
            "requestBody": self._component_items["requestBodies"],
            "responses": self.responses,
            "callbacks": self._map(self._component_items["callbacks"], "callbacks"),
            "security": self.security,
        }
        # components/pathItems is handled apart: it is renamed and kept for inlining.
        self._component_fields = dict(
            (section, self._map(convert, section)) for section, convert in self._component_items.items())

    def parameter(self, node, pointer):
        return self._fields(node, pointer, "a parameter", self._with_content)

    def parameter_or_ref(self, node, pointer):
        return self._or_ref(self.parameter, "parameters")(node, pointer)

    def header(self, node, pointer):
        return self._fields(node, pointer, "a header", self._with_content)

    def request_body(self, node, pointer):
        return self._fields(node, pointer, "a request body", self._with_content)

    def media_type(self, node, pointer):
        return self._fields(node, pointer, "a media type", self._media_fields)

    def encoding(self, node, pointer):
        return self._fields(node, pointer, "an encoding", self._encoding_fields)

    def responses(self, node, pointer):
        return self._map_of(node, pointer, "responses", self._component_items["responses"])

    def response(self, node, pointer):
        out = self._fields(node, pointer, "a response", self._response_fields)
        if "description" not in out:
            out["description"] = ""
            self.warn(pointer, "a response needs a description: added an empty one", lossy=False)
        return out

    def reference(self, node, pointer, section):
        """A Reference Object outside schemas: 3.0 allows no summary/description beside $ref."""
        siblings = [k for k in node if k != "$ref"]
        if siblings:
            self.warn(pointer, "a 3.0 reference takes no sibling fields: dropped %s"
                      % ", ".join(sorted(map(str, siblings))))
        if not isinstance(node["$ref"], str):
            raise DowngradeError(pointer + "/$ref", "$ref must be a string")
        saved, self.base = self.base, self.doc_uri  # Reference Objects resolve against their document
        try:
            return self.record_ref({"$ref": node["$ref"]}, pointer + "/$ref", section)
        finally:
            self.base = saved

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
        """Resolve every reference (bundling other files' targets), place the new components, rewrite.

        A reference to a component of this document (the common case) keeps its place and spelling;
        any other goes to openapi_references, imported only then.
        """
        self._out = out
        resolved = []
        references = None
        refs_done = items_done = 0
        components = out.get("components") if isinstance(out.get("components"), dict) else {}
        # Bundling a target converts it, which may add references: both lists can grow.
        while refs_done < len(self._refs) or items_done < len(self._path_item_refs):
            if refs_done < len(self._refs):
                holder, key, base, pointer, section = self._refs[refs_done]
                refs_done += 1
                if base == self.root_uri and _names_a_component(holder[key], components):
                    continue
                references = references or _references()
                resolved.append((holder, key, pointer, references.target(self, holder[key], base, pointer, section)))
            else:
                item, pointer, doc_uri = self._path_item_refs[items_done]
                items_done += 1
                references = references or _references()
                references.target(self, item["$ref"], doc_uri, pointer + "/$ref", "pathItems")
        if self._hoisted or self._bundled:
            components = out.setdefault("components", {})
            for section, entries in [("schemas", self._hoisted)] + sorted(self._bundled.items()):
                if entries:
                    components.setdefault(section, {}).update(entries)
        if resolved:
            references.rewrite(self, resolved)
        if self._path_item_refs:
            references.inline_path_item_refs(self)

    def unique_name(self, wanted, qualifier):
        """A components name (safe characters) that no source or new component uses yet."""
        if not self._names:
            components = (self._documents[self.root_uri][0] or {}).get("components")
            for section in (components.values() if isinstance(components, dict) else ()):
                if isinstance(section, dict):
                    self._names.update(map(str, section))
        candidates = [wanted, "%s_%s" % (qualifier, wanted)] if qualifier else [wanted]
        candidates = [COMPONENT_NAME_UNSAFE.sub("_", str(c)) for c in candidates]
        name, counter = candidates[-1], 2
        for candidate in candidates:
            if candidate not in self._names:
                name = candidate
                break
        else:
            while "%s_%d" % (candidates[-1], counter) in self._names:
                counter += 1
            name = "%s_%d" % (candidates[-1], counter)
        self._names.add(name)
        return name


def _references():
    """The reference resolver module, imported when a conversion first needs it (most never do)."""
    # pylint: disable-next=import-outside-toplevel
    from ansible_collections.stoa.platform.plugins.module_utils import openapi_references

    return openapi_references


def _names_a_component(ref, components):
    """True for '#/components/<section>/<name>' naming an existing (converted) component, pathItems aside."""
    if not isinstance(ref, str) or not ref.startswith("#/components/") or "~" in ref or "%" in ref:
        return False
    parts = ref.split("/")
    if len(parts) != 4 or parts[2] == "pathItems":
        return False
    section = components.get(parts[2])
    return isinstance(section, dict) and parts[3] in section


def _copy_value(node, pointer):  # pylint: disable=unused-argument
    """Examples and links hold no schema: copied as they are."""
    return node


def _file_uri(path):
    """file:// URI of an absolute path."""
    return "file://" + quote(path.replace(os.sep, "/") if path.startswith("/") else "/" + path.replace(os.sep, "/"))


class _SchemaConverter:
    """Converts one Schema Object (and what it holds) from JSON Schema 2020-12 to 3.0."""

    def __init__(self, owner):
        self.owner = owner

    def warn(self, pointer, message, lossy=True):
        self.owner.warn(pointer, message, lossy)

    # -- entry --------------------------------------------------------------
    def convert(self, node, pointer):
        """The 3.0 form of the 3.1 schema ``node`` found at ``pointer`` (recorded for $ref resolution)."""
        if node is True:
            return {}
        if node is False:
            return {"not": {}}
        if not isinstance(node, dict):
            raise DowngradeError(pointer, "a schema must be a mapping or a boolean, not %s"
                                 % type(node).__name__)
        owner = self.owner
        saved_base = owner.base
        if not ID_KEYWORDS.isdisjoint(node):
            owner.base = owner.register_schema_ids(node, pointer)  # until the end of this schema
        out = {}
        extra_all_of = []
        for key, value in node.items():
            sub = join_pointer(pointer, key)
            key_text = str(key)
            if key_text.startswith("x-") or key in PLAIN_30_KEYWORDS:
                out[key] = value
            elif key in INTEGER_KEYWORDS:
                # 3.0 reads these as draft-4 integers, where 5.0 is not one
                out[key] = int(value) if isinstance(value, float) and value.is_integer() else value
            elif key == "$ref":
                if not isinstance(value, str):
                    raise DowngradeError(sub, "$ref must be a string")
                out[key] = value
            elif key in ("allOf", "anyOf", "oneOf"):
                out[key] = self._list_of_schemas(value, sub)
                if "discriminator" in node:
                    self._plain_ref_branches(out[key], sub)
            elif key == "discriminator":
                out[key] = self._discriminator(value, sub)
            elif key == "nullable":
                out["x-oas31-nullable"] = value
                self.warn(sub, "'nullable' is not a 3.1 keyword: 3.1 ignores it, so null is refused here and "
                               "in the 3.0 result too; kept as x-oas31-nullable. If null is meant, write "
                               "type: [<type>, 'null']", lossy=False)
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
                    out[key] = list(dict.fromkeys(value)) if len(set(value)) < len(value) else value
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
        null_only = self._type(node, out, pointer)
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
        if "anyOf" in node or "oneOf" in node:
            self._null_branches(node, out, pointer)
        if null_only:  # type 'null' alone: nothing but null, whatever enum/const said
            out["enum"] = [None] if "enum" not in out or None in out["enum"] else []
        if out.get("enum") == []:  # 3.0 wants at least one value: the same "nothing" said otherwise
            del out["enum"]
            extra_all_of.append({"not": {}})
            self.warn(pointer + "/enum", "an empty enum accepts nothing; 3.0 needs at least one value: written "
                                         "as not: {}", lossy=False)
        if out.get("type") == "array" and "items" not in out:
            out["items"] = {}
        if "default" in out and "type" in out:
            self._default(out, pointer)
        if extra_all_of:
            out["allOf"] = list(out.get("allOf", [])) + extra_all_of
        out = self._ref_siblings(out, pointer)
        if "allOf" in out and "required" in out and "allOf" not in node:
            _required_into_all_of(out)
        owner.base = saved_base
        owner.nodes[pointer] = out
        return out

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
            new_name = self.owner.unique_name("%s_%s" % (base, name) if base else str(name), "")
            self.owner._hoisted[new_name] = self.convert(schema, join_pointer(pointer, name))
        self.warn(pointer, "$defs moved to components/schemas (%s) and references rewritten"
                  % ", ".join(sorted(map(str, value))), lossy=False)

    # -- keyword rules --------------------------------------------------------
    def _type(self, node, out, pointer):
        """type -> 3.0 type (+ nullable beside it, the only place 3.0.3 reads it). True for type 'null' alone."""
        if "type" not in node:
            return False
        declared = node["type"]
        types = declared if isinstance(declared, list) else [declared]
        if not types:
            raise DowngradeError(pointer + "/type", "type must name at least one type")
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
            return False
        del out["type"]
        if not kept:  # only null: no 3.0 type says it; enum [null] does (nullable for pre-3.0.3 readers)
            return True
        branches = [dict(type=t, nullable=True) if has_null else {"type": t} for t in kept]
        if has_null:
            del out["nullable"]
        self._add_alternatives(out, branches)
        return False

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
        if value is None and "type" not in out:
            out["nullable"] = True  # no effect in 3.0.3 without type; lets older readers accept the null

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

    def _null_branches(self, node, out, pointer):
        """anyOf/oneOf with a null branch: the union is kept, each branch accepting null as in 3.1.

        The null branch was converted like any schema (to ``{nullable: true, enum: [null]}``). Only
        exact simplifications: one plain typed branch beside it is merged into ``type: X, nullable``;
        with a discriminator, the named schemas keep it in an inner union and null stays outside
        (3.0 validators let a discriminator refuse anything that is not an object).
        """
        for keyword in ("anyOf", "oneOf"):
            branches = node.get(keyword)
            if not isinstance(branches, list):
                continue
            nulls = [i for i, b in enumerate(branches) if _is_null_only_schema(b)]
            if not nulls:
                continue
            converted = out[keyword]
            others = [c for i, c in enumerate(converted) if i not in nulls]
            if len(others) == 1 and _mergeable_with_null(others[0], out):
                del out[keyword]
                out.update(others[0])
                out["nullable"] = True
                if "enum" in others[0] and None not in out["enum"]:
                    out["enum"] = list(out["enum"]) + [None]
            elif "discriminator" in out and others:
                inner = {keyword: others, "discriminator": out.pop("discriminator")}
                out[keyword] = [inner] + [converted[i] for i in nulls]
                self.warn(join_pointer(pointer, "discriminator"), "null kept outside the discriminator's %s "
                          "(a 3.0 discriminator refuses what is not an object): %s: [{%s: <the named schemas>, "
                          "discriminator}, <null>]" % (keyword, keyword, keyword), lossy=False)

    def _plain_ref_branches(self, branches, pointer):
        """A discriminator maps to named schemas: a branch that is a $ref plus annotations becomes the $ref."""
        for index, branch in enumerate(branches):
            wrapped = branch.get("allOf") if isinstance(branch, dict) else None
            if not (isinstance(wrapped, list) and len(wrapped) == 1 and isinstance(wrapped[0], dict)
                    and list(wrapped[0]) == ["$ref"]):
                continue
            extra = [k for k in branch if k != "allOf"]
            if all(k in ANNOTATION_KEYWORDS or str(k).startswith("x-") for k in extra):
                branches[index] = wrapped[0]
                self.warn(join_pointer(pointer, index), "a discriminator branch must be a plain $ref in 3.0: "
                          "dropped its annotations %s" % ", ".join(sorted(map(str, extra))), lossy=False)

    def _discriminator(self, value, pointer):
        """A copy whose mapping references are resolved like any $ref (a plain name stays a name)."""
        if not isinstance(value, dict) or not isinstance(value.get("propertyName"), str):
            raise DowngradeError(pointer, "a discriminator needs a propertyName")
        out = dict(value)
        mapping = value.get("mapping")
        if mapping is not None:
            if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
                raise DowngradeError(pointer + "/mapping", "must map values to schema names or references")
            out["mapping"] = dict(mapping)
            components = (self.owner.source_document().get("components") or {})
            names = components.get("schemas") if isinstance(components, dict) else None
            names = names if isinstance(names, dict) else {}
            for name, target in mapping.items():
                if "#" in target or "/" in target or target not in names:  # a reference, not a schema name
                    self.owner.record_ref(out["mapping"], join_pointer(pointer, "mapping", name), key=name)
        return out

    def _default(self, out, pointer):
        """3.0 validators check a default against its schema (3.1 does not): a mismatch moves to x-default."""
        value = out["default"]
        matches = (value is None and out.get("nullable") is True) or _has_json_type(value, out["type"])
        if matches and "enum" in out:
            matches = any(value == v and type(value) is type(v) for v in out["enum"])
        if not matches:
            out["x-default"] = out.pop("default")
            self.warn(pointer + "/default", "the default value does not match its schema (3.1 does not check "
                      "it, 3.0 validators do): kept as x-default", lossy=False)

    def _ref_siblings(self, out, pointer):
        """3.0 ignores what stands beside $ref: move the reference into allOf."""
        if "$ref" not in out:
            return out
        if len(out) == 1:
            return self.owner.record_ref(out, pointer + "/$ref")
        ref = self.owner.record_ref({"$ref": out.pop("$ref")}, pointer + "/$ref")
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


def downgrade(document, source=None, ref_root=None):
    """Convert an OpenAPI 3.1 document to 3.0.3.

    ``source`` is the path the document was read from: relative references to other files are
    resolved against it and bundled, from files under ``ref_root`` only (default: the source's
    directory). Without it such references are refused.

    Returns ``(converted, warnings, source_version)``; each warning is a mapping with ``pointer``,
    ``message`` and ``lossy``. 3.0.x and 2.0 documents are returned as they are (the same object)
    with no warnings. Raises ``DocumentError``/``DowngradeError`` with a JSON pointer for what
    cannot be converted (a reference whose target is missing or cannot be bundled among them).
    """
    version = openapi_version(document)
    if not version.startswith("3.1"):
        return document, [], version
    converter = Downgrader(source, ref_root)
    return converter.document(document), converter.warnings, version


__all__ = ["downgrade", "DowngradeError", "DocumentError", "TARGET_VERSION", "escape_token"]
