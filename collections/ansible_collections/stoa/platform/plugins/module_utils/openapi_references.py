# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reference resolution for openapi_downgrade, loaded only when a conversion needs more than the fast path.

Each function takes the ``Downgrader`` of the conversion as ``self`` (its documents, $id resources,
anchors, converted schemas by source pointer) and works as JSON Schema 2020-12 resolves references:
against the base URI of the schema holding the ``$ref``, by JSON pointer or by anchor. Targets in
other files are read relative to the file that refers to them, converted and bundled into components.
Errors are ``DowngradeError`` at the JSON pointer of the ``$ref``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os

try:
    from urllib.parse import quote, unquote, urljoin, urlsplit
except ImportError:  # pragma: no cover - Python 2
    from urllib import quote, unquote  # type: ignore
    from urlparse import urljoin, urlsplit  # type: ignore

from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import (
    DocumentError,
    join_pointer,
    load_document,
    pointer_target,
    unescape_token,
)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_downgrade import DowngradeError


def target(self, ref, base, pointer, section):
    """The place ``ref`` points to: ('root', pointer in the source) or ('out', output pointer).

    Raises DowngradeError at ``pointer`` for a target that is missing, remote, or a file that
    cannot be read; targets in other files are converted and bundled into components.
    """
    doc_uri, target = _locate(self, ref, base, pointer)
    if doc_uri == self.root_uri:
        try:
            _source_node(self._documents[doc_uri][0], target, ref, pointer)
        except DowngradeError as exc:
            if base.partition("#")[0] in (self.root_uri, doc_uri) or not ref.startswith("#"):
                raise
            # 2020-12 resolves '#...' against the $id of the enclosing schema, not the document
            raise DowngradeError(pointer, "%s (resolved against the $id %s of the enclosing schema)"
                                 % (str(exc).split(": ", 1)[1], base))
        return ("root", target)
    document, prefix = self._documents[doc_uri]
    key = prefix + target
    if key not in self._targets:
        node = _source_node(document, target, ref, pointer)
        tokens = [unescape_token(t) for t in target.split("/")[1:]]
        stem = os.path.splitext(os.path.basename(doc_uri))[0]
        name = self.unique_name(tokens[-1] if tokens else stem, stem)
        self._targets[key] = join_pointer("/components", section, name)
        saved = (self.base, self.doc_uri, self.prefix)
        self.base, self.doc_uri, self.prefix = doc_uri, doc_uri, prefix
        try:
            if section == "pathItems":
                converted = self.path_item(node, key)
                self._path_items[name] = converted
                self._targets[key] = join_pointer("/components/pathItems", name)
            else:
                converted = self._component_items[section](node, key)
                entries = self._hoisted if section == "schemas" else self._bundled.setdefault(section, {})
                entries[name] = converted
        finally:
            self.base, self.doc_uri, self.prefix = saved
        self.warn(pointer, "%r bundled from %s into components/%s/%s" % (ref, prefix.rstrip("#"), section, name),
                  lossy=False)
    return ("out", self._targets[key])


def _locate(self, ref, base, pointer):
    """(document uri, JSON pointer in it) of the target of ``ref``, resolved as JSON Schema 2020-12 does."""
    if not isinstance(ref, str):
        raise DowngradeError(pointer, "$ref must be a string")
    uri, dummy, fragment = join_uri(base, ref).partition("#")
    fragment = unquote(fragment)
    if uri in self._resources:
        doc_uri, resource_pointer = self._resources[uri]
    elif uri.startswith("file:") and self._source_path:
        doc_uri, resource_pointer = _load(self, uri, ref, pointer), ""
    elif not urlsplit(ref).scheme and not self._source_path:
        raise DowngradeError(pointer, "$ref %r points to another file, and the document was not read from a "
                             "file: convert it from its path (src) so that the file can be bundled" % ref)
    else:
        raise DowngradeError(pointer, "$ref %r points outside the document (%s): remote references are not "
                             "fetched; copy the target into components" % (ref, uri))
    if fragment and not fragment.startswith("/"):
        found = self._anchors.get((uri, fragment))
        if found is None:
            raise DowngradeError(pointer, "$ref %r: no $anchor %r in %s" % (
                ref, fragment, "this document" if uri == self.root_uri else uri))
        return found
    return doc_uri, resource_pointer + fragment


def _load(self, uri, ref, pointer):
    """Read the file ``uri`` names (inside the reference root) once; returns its document uri."""
    if uri in self._documents:
        return uri
    path = os.path.realpath(_uri_path(uri))
    root = self._ref_root
    if os.path.commonpath([path, root]) != root:
        raise DowngradeError(pointer, "$ref %r resolves to %s, outside %s: refused" % (ref, path, root))
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
        document = load_document(text, os.path.relpath(path, root))[0]
    except (IOError, OSError, UnicodeError, DocumentError) as exc:
        raise DowngradeError(pointer, "$ref %r: cannot read %s: %s" % (ref, os.path.relpath(path, root), exc))
    prefix = os.path.relpath(path, os.path.dirname(self._source_path)).replace(os.sep, "/") + "#"
    self._documents[uri] = (document, prefix)
    self._resources[uri] = (uri, "")
    return uri


def output_pointer(self, target, ref, pointer):
    """Where the target of a reference is in the 3.0 document."""
    kind, place = target
    if kind == "out":
        return place
    tokens = place.split("/")
    if len(tokens) == 4 and tokens[1] == "components" and tokens[2] != "pathItems":
        return place  # components keep their names: the common case needs no search
    node = self.nodes.get(place)
    if node is not None:  # a schema: found by identity, wherever the conversion put it
        found = _output_index(self).get(id(node))
        if found is not None:
            return found
    else:
        moved = _moved_pointer(self, place)
        if _pointer_exists(self._out, moved):
            return moved
    raise DowngradeError(pointer, "$ref %r: its target %s has no place of its own in the 3.0 document "
                         "(the conversion merged it); point to a named schema instead" % (ref, place))


def _moved_pointer(self, pointer):
    """``pointer`` after whole objects moved (webhooks, pathItems): the longest moved prefix wins."""
    tokens = pointer.split("/")[1:]
    for end in range(len(tokens), 0, -1):
        prefix = "/" + "/".join(tokens[:end])
        if prefix in self._moved:
            rest = "/".join(tokens[end:])
            return self._moved[prefix] + ("/" + rest if rest else "")
    return pointer


def _output_index(self):
    """id(mapping) -> JSON pointer for every mapping of the output (first place wins)."""
    if self._index is None:
        self._index = {}
        stack = [(self._out, "")]
        while stack:
            node, pointer = stack.pop()
            if isinstance(node, dict):
                self._index.setdefault(id(node), pointer or "/")
                stack.extend((v, join_pointer(pointer, k)) for k, v in reversed(list(node.items())))
            elif isinstance(node, list):
                stack.extend((v, join_pointer(pointer, i)) for i, v in reversed(list(enumerate(node))))
    return self._index


def rewrite(self, resolved):
    """Write each resolved reference as the 3.0 pointer of its target (unchanged targets keep their spelling)."""
    for holder, key, pointer, target in resolved:
        ref = holder[key]
        place = output_pointer(self, target, ref, pointer)
        if not (target == ("root", place) and ref.startswith("#")):
            holder[key] = "#" + quote(place, safe="/~!$&'()*+,;=:@-._")


def inline_path_item_refs(self):
    """3.0 has no components.pathItems: replace such references by a copy of the item."""
    count = len(self._refs)
    for item, pointer, doc_uri in self._path_item_refs:
        resolved, seen = item, set()
        while "$ref" in resolved:
            ref = resolved["$ref"]
            kind, place = target(self, ref, doc_uri, pointer + "/$ref", "pathItems")
            tokens = [unescape_token(t) for t in place.split("/")[1:]]
            if kind == "root" and tokens[:2] != ["components", "pathItems"]:
                break  # another path item of this document: 3.0 path items may $ref it
            name = tokens[2] if len(tokens) == 3 else None
            if name in seen or name not in self._path_items:
                raise DowngradeError(pointer + "/$ref", "cannot resolve %r%s" % (
                    ref, " (a reference cycle)" if name in seen else ""))
            seen.add(name)
            item_target = self._path_items[name]
            merged = copy.deepcopy(dict((k, v) for k, v in item_target.items() if k != "$ref"))
            if "$ref" in item_target:
                merged["$ref"] = item_target["$ref"]
            # Fields beside the $ref override the referenced ones, as in 3.1.
            merged.update((k, v) for k, v in resolved.items() if k != "$ref")
            resolved = merged
        if resolved is not item:
            item.clear()
            item.update(resolved)
    if len(self._refs) != count:
        raise DowngradeError("/", "a path item bundled from another file refers to yet another file: "
                             "bundle those path items into the source document first")


def _uri_path(uri):
    return unquote(urlsplit(uri).path)


def join_uri(base, ref):
    """RFC 3986 resolution; a fragment-only reference keeps any base (urljoin drops non-hierarchical ones)."""
    if ref.startswith("#"):
        return base.partition("#")[0] + ref
    return urljoin(base, ref)


def _source_node(document, pointer, ref, at):
    """The node at ``pointer`` in ``document``; DowngradeError at ``at`` when there is none."""
    try:
        return pointer_target(document, pointer)
    except KeyError:
        raise DowngradeError(at, "$ref %r: its target %s does not exist" % (ref, pointer or "/"))


def _pointer_exists(document, pointer):
    try:
        _source_node(document, pointer, "", "")
    except DowngradeError:
        return False
    return True
