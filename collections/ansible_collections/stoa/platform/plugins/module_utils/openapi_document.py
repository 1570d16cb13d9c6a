# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading and writing OpenAPI documents without changing their data.

YAML is read as YAML 1.2 (its core schema, spec 1.2.2 section 10.3), which OpenAPI
recommends (3.0.3 and 3.1.0, "Format") and the GitOps files already use (gitops_yaml):
``yes``/``no``/``on``/``off`` stay strings, ``0755`` is 755, ``1:30`` stays a string and a
date stays the string its author wrote. PyYAML alone resolves them as YAML 1.1 does (true,
493, 90, a datetime), which changed an API's enum or example on its way to the gateway.
PyYAML (in ansible-core, with its C parser) parses; only the plain-scalar rules are 1.2's.
Output never uses YAML anchors.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    HAS_YAML = False


class DocumentError(ValueError):
    """A document that cannot be read or has no usable OpenAPI version."""


def escape_token(token):
    """One JSON-pointer token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def unescape_token(token):
    return token.replace("~1", "/").replace("~0", "~")


def join_pointer(base, *tokens):
    """``base`` followed by each token, escaped (RFC 6901). Called for every node the converter visits."""
    if len(tokens) == 1:  # the usual call: no generator, no escaping unless needed
        token = tokens[0] if isinstance(tokens[0], str) else str(tokens[0])
        if "~" in token or "/" in token:
            token = token.replace("~", "~0").replace("/", "~1")
        return base + "/" + token
    return base + "".join("/" + escape_token(t) for t in tokens)


if HAS_YAML:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    _BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class _Loader(_BaseLoader):  # pylint: disable=too-many-ancestors
        """Safe loader whose plain scalars follow YAML 1.2's core schema (see the module's docstring)."""

        def construct_yaml_int(self, node):
            """Core-schema integers: decimal (leading zeros included), 0o octal, 0x hexadecimal."""
            value = self.construct_scalar(node)
            sign, digits = (-1, value[1:]) if value[:1] == "-" else (1, value.lstrip("+"))
            base = {"0o": 8, "0x": 16}.get(digits[:2])
            try:
                return sign * (int(digits[2:], base) if base else int(digits, 10))
            except ValueError:  # an explicit !!int tag on something else
                raise yaml.constructor.ConstructorError(
                    None, None, "%r is not a YAML 1.2 integer" % value, node.start_mark)

    # YAML 1.2.2, 10.3.2 "Tag Resolution" (core schema): (tag, regexp, first characters).
    _CORE_SCHEMA = (
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
        ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
        ("tag:yaml.org,2002:float",
         r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
         list("-+.0123456789")),
    )
    _Loader.yaml_implicit_resolvers = {}
    for _tag, _pattern, _first in _CORE_SCHEMA:
        _Loader.add_implicit_resolver(_tag, re.compile(_pattern), _first)
    _Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)

    class _Dumper(_BaseDumper):  # pylint: disable=too-many-ancestors
        def ignore_aliases(self, data):
            return True


def load_document(text, source="document"):
    """Parse JSON or YAML text. Returns (document, format) with format 'json' or 'yaml'."""
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            return json.loads(text), "json"
        except ValueError as exc:
            # JSON is also YAML: fall through so flow-style YAML still loads.
            json_error = exc
    else:
        json_error = None
    if not HAS_YAML:
        raise DocumentError("%s: PyYAML is required to read YAML" % source)
    try:
        document = yaml.load(text, Loader=_Loader)  # nosec B506 - safe loader subclass
    except (ValueError, TypeError) as exc:  # a constructor refusing an explicitly tagged value (!!float abc)
        raise DocumentError("%s is not valid YAML: %s" % (source, exc))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if json_error is not None:
            raise DocumentError("%s is not valid JSON: %s" % (source, json_error))
        raise DocumentError("%s is not valid YAML%s: %s" % (source, where, problem))
    return document, "yaml"


def dump_document(document, fmt):
    """Serialise as 'json' (2-space indent) or 'yaml' (block style, key order kept)."""
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if not HAS_YAML:
        raise DocumentError("PyYAML is required to write YAML")
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 30,
    )


def openapi_version(document):
    """'3.1.x', '3.0.x' or '2.0' as written in the document; DocumentError otherwise."""
    if not isinstance(document, dict):
        raise DocumentError("an OpenAPI document must be a mapping at its top level, not %s"
                            % type(document).__name__)
    if "openapi" in document:
        version = str(document["openapi"])
        if version.startswith(("3.0.", "3.1.")) or version in ("3.0", "3.1"):
            return version
        raise DocumentError("/openapi: unsupported OpenAPI version %r (expected 3.0.x or 3.1.x)" % version)
    if str(document.get("swagger", "")) == "2.0":
        return "2.0"
    raise DocumentError("neither an 'openapi' (3.x) nor a 'swagger: \"2.0\"' field at the top level")


try:
    # Found now, imported when first used: the validator pulls in a lot and most runs of the
    # converter's command line never validate.
    from importlib.util import find_spec

    HAS_SPEC_VALIDATOR = find_spec("openapi_spec_validator") is not None
except ImportError:  # pragma: no cover
    HAS_SPEC_VALIDATOR = False


def openapi30_errors(document, limit=20):
    """Problems that openapi-spec-validator finds in a 3.0 document, as 'pointer: message' strings."""
    return spec_errors(document, "3.0", limit)


# Keys whose values are data, not OpenAPI objects: a "$ref" inside them is an example's text, not a reference.
_LITERAL_KEYS = frozenset(("example", "enum", "default", "const", "value"))


def pointer_target(document, pointer):
    """The value at the JSON pointer ``pointer`` ('' or '/a/b', RFC 6901 tokens) in ``document``.
    Raises KeyError when there is none."""
    node = document
    for token in pointer.split("/")[1:]:
        token = unescape_token(token)
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise KeyError(pointer)
    return node


def _resolve_local(document, reference):
    """True when ``reference`` ('#' or '#/a/b') names a value in ``document``."""
    try:
        pointer_target(document, reference[1:])
    except KeyError:
        return False
    return True


def unresolved_refs(document, limit=20):
    """The local references (``$ref: '#/...'``) of ``document`` that point to nothing, as 'pointer: message' strings.

    The pointer is the one of the ``$ref`` itself (``/paths/~1pets/get/.../schema/$ref``). References to other
    files or URLs are left to the validator; literal values (examples, enums, defaults, ``x-`` extensions) are
    not searched. The message quotes the reference, never the document.
    """
    found = []
    stack = [(document, "")]
    while stack and len(found) < limit:
        node, pointer = stack.pop()
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#") and not _resolve_local(document, reference):
                found.append("%s: %r points to nothing in the document" % (join_pointer(pointer, "$ref"), reference))
            children = [(value, join_pointer(pointer, key)) for key, value in node.items()
                        if key not in _LITERAL_KEYS and not str(key).startswith("x-")]
        elif isinstance(node, list):
            children = [(value, join_pointer(pointer, index)) for index, value in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
    return found


def _without_instance(error):
    """A validator error's first line, with the offending value (an object or array of the document) named by its kind."""
    message = str(getattr(error, "message", error))
    instance = getattr(error, "instance", None)
    if isinstance(instance, (dict, list)):
        message = message.replace(repr(instance), "the %s" % ("object" if isinstance(instance, dict) else "array"))
    return _first_line(message)


def spec_errors(document, version, limit=20):
    """Problems in a Swagger 2.0 (version '2.0') or OpenAPI 3.0 document, as 'pointer: message' strings.

    Local references that point to nothing are reported first, each with the pointer of its ``$ref``
    (:func:`unresolved_refs`); the validator would stop at the first one without saying where it is.
    Messages never hold the document: a value the validator quotes is replaced by its kind.
    """
    dangling = unresolved_refs(document, limit)
    if dangling:
        return dangling
    if not HAS_SPEC_VALIDATOR:
        raise DocumentError("openapi-spec-validator is required to validate (pip install openapi-spec-validator)")
    # pylint: disable-next=import-outside-toplevel
    from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV30SpecValidator

    validator = OpenAPIV2SpecValidator if version == "2.0" else OpenAPIV30SpecValidator
    errors = []
    try:
        for error in validator(document).iter_errors():
            path = getattr(error, "absolute_path", None) or getattr(error, "path", None) or []
            pointer = join_pointer("", *path) or "/"
            errors.append("%s: %s" % (pointer, _without_instance(error)))
            if len(errors) >= limit:
                break
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # The validator stops on what it cannot follow (an unresolvable $ref raises instead of being
        # reported). Its message may hold the whole document: only the reference or the first line is kept.
        ref = getattr(exc, "ref", None)
        reason = "cannot resolve $ref %r" % (ref,) if ref is not None else "%s: %s" % (
            type(exc).__name__, _first_line(exc))
        errors.append("/: the validator stopped: %s" % reason)
    return errors


def _first_line(value, width=300):
    text = str(value)
    return (text.splitlines() or [""])[0][:width]
