# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one reader of the GitOps repository's YAML: YAML 1.2, strict, bounded, with line numbers.

Every file of the GitOps checkout that the validator, the resolver, the modules
and the roles read goes through :func:`load_file` (or :func:`load_with_lines`
for text already in hand). Rules, and where they come from:

- **YAML 1.2** (core schema), parsed by ruamel.yaml (a maintained YAML 1.2
  parser; PyYAML only reads YAML 1.1): ``yes``/``no``/``on``/``off`` are the
  strings they look like, ``1:30`` is a string, not 90. A ``%YAML`` directive
  for another version is refused, so no file can switch back to 1.1.
- An integer written with a leading zero (``0755``) is refused with its line:
  YAML 1.2 reads 755, YAML 1.1 tools (PyYAML, Ansible's ``from_yaml``) read
  493, and its author probably meant the text; quote it, or write ``0o755``.
- Timestamps stay the strings their authors wrote (the schemas check them).
- Mapping keys are text (``ON:`` and ``200:`` are the keys ``"ON"`` and
  ``"200"``); a mapping or a list as a key is refused.
- A duplicate key is an error naming both lines (the YAML spec says keys are
  unique; PyYAML silently kept the last one). ``<<`` merge keys are read;
  keys written in the mapping beat merged ones.
- One document per file, and it must be a mapping.
- Bounded: at most :data:`MAX_FILE_BYTES` per file, :data:`MAX_DEPTH` levels of
  nesting and :data:`MAX_VALUES` values once aliases are expanded (a
  "billion laughs" file fails in milliseconds). Messages name lines and keys,
  never an expanded value.
- Tags other than the core schema's (``!!python/object``, ``!custom``,
  ``!!binary``, ``!!set``) are refused.
- :func:`checkout_path`: every file read resolves inside the checkout
  (a symbolic link, or a ``..`` path, that leads out is refused).

Errors are :class:`YamlFileError` with a line and the list of every problem of
the file (``problems``: ``(line, json pointer, message)``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import escape_token

try:
    from ruamel.yaml import YAML
    from ruamel.yaml import events as yaml_events
    from ruamel.yaml import nodes as yaml_nodes
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.main import CParser

    HAS_RUAMEL = True
except ImportError:  # reported by load_with_lines and the modules
    HAS_RUAMEL = False
    CParser = None

# ruamel.yaml.clib (libyaml, in C) scans and parses about four times faster than ruamel.yaml's pure Python
# reader; its nodes carry the same tags (ruamel's YAML 1.2 resolver) and line marks. It is only a fast path:
# see load_with_lines.
HAS_CLIB = CParser is not None

if HAS_CLIB:
    from ruamel.yaml.constructor import SafeConstructor
    from ruamel.yaml.resolver import VersionedResolver

    class CLoader(CParser, SafeConstructor, VersionedResolver):  # pylint: disable=too-many-ancestors
        """ruamel.yaml.clib's parser and composer with ruamel.yaml's YAML 1.2 resolver and safe constructor.

        What ``YAML(typ="safe", pure=False)`` assembles as a new class on every load, made once; the
        version is fixed at 1.2 (a ``%YAML`` directive for another one is refused before any node is built).
        """

        def __init__(self, text):  # pylint: disable=super-init-not-called
            CParser.__init__(self, text)  # pylint: disable=non-parent-init-called
            self._parser = self._composer = self
            SafeConstructor.__init__(self, loader=self)
            VersionedResolver.__init__(self, version=(1, 2), loadumper=self)

        @property
        def processing_version(self):
            """Always YAML 1.2."""
            return (1, 2)

        def events(self):
            """The event stream."""
            while self.check_event():
                yield self.get_event()

# Texts that the fast path leaves to the pure reader, because libyaml (a YAML 1.1 scanner) reads them
# otherwise than ruamel.yaml's YAML 1.2 reader does (tests/unit/test_gitops_inputs.py reads each both ways):
# tabs in separations and plain scalars (libyaml accepts some that ruamel refuses); NEL, LS and PS (line
# breaks in 1.1, ordinary characters in 1.2); a byte order mark (dropped anywhere by libyaml); the
# non-specific tag "!" (text for libyaml, null for ruamel); a quoted key with its ':' right after it
# ('["b":c]', refused by ruamel, a mapping for libyaml); an anchor or alias name with a character other than
# ASCII letters, digits, '_' and '-' ('&a:' is the anchor "a:" in 1.2, the anchor "a" and a key for
# libyaml); a '#' right after a block scalar's indicators ('|-#', a comment for libyaml, an error in 1.2);
# a line of spaces only (libyaml accepts some in block scalars that ruamel refuses); an explicit key '? '
# (an empty one gets another line).
PURE_ONLY = re.compile(r"[\t\x85\u2028\u2029\ufeff]|(?:^|[\s\[{,])!(?=[\s,\]}]|$)|[\"']:(?=\S)"
                       r"|(?:^|[\s\[{,])[&*][0-9A-Za-z_-]*[^0-9A-Za-z_\s,\[\]{}-]|[|>][-+0-9]*#|^ +$"
                       r"|(?:^|[\s\[{,])\?(?=\s|$)", re.M)

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100000

_TAG = "tag:yaml.org,2002:"
LEADING_ZERO_INT = re.compile(r"^[-+]?0[0-9_]+$")


class YamlFileError(ValueError):
    """A file that cannot be read as a GitOps document.

    ``line`` is the line of the first problem (1-based, None when unknown);
    ``problems`` every problem found, as ``(line, json pointer, message)``.
    """

    def __init__(self, message, line=None, problems=None):
        super(YamlFileError, self).__init__(message)
        self.line = line
        self.problems = problems or [(line, "", message)]


class BoundError(YamlFileError):
    """A file over :data:`MAX_VALUES` or :data:`MAX_DEPTH` once aliases are expanded."""


class _Reader(object):
    """Builds plain Python data from ruamel.yaml's node tree, counting, and maps JSON pointers to lines."""

    def __init__(self, constructor):
        self.constructor = constructor
        self.lines = {}
        self.problems = []
        self.values = 0

    def problem(self, node, pointer, message):
        self.problems.append((node.start_mark.line + 1, pointer, message))

    def build(self, node, pointer, depth):
        self.values += 1
        if self.values > MAX_VALUES or depth > MAX_DEPTH:
            message = ("more than %d values once aliases are expanded (nested aliases, a 'billion laughs'?); "
                       "write the values out instead" % MAX_VALUES if self.values > MAX_VALUES
                       else "nested more than %d levels deep (through aliases)" % MAX_DEPTH)
            line = node.start_mark.line + 1
            raise BoundError(message, line, [(line, pointer.split("/", 2)[1] and "/" + pointer.split("/", 2)[1]
                                              if pointer else "", message)])
        self.lines.setdefault(pointer, node.start_mark.line + 1)
        tag = node.tag  # a property that builds the text each time: read once
        if isinstance(node, yaml_nodes.MappingNode):
            if tag != _TAG + "map":
                self.problem(node, pointer, "the tag %s is not supported (plain mappings only)" % short_tag(tag))
                return {}
            return self.mapping(node, pointer, depth)
        if isinstance(node, yaml_nodes.SequenceNode):
            if tag != _TAG + "seq":
                self.problem(node, pointer, "the tag %s is not supported (plain lists only)" % short_tag(tag))
                return []
            return [self.build(item, "%s/%d" % (pointer, index), depth + 1) for index, item in enumerate(node.value)]
        return self.scalar(node, pointer, tag)

    def scalar(self, node, pointer, tag):
        if tag == _TAG + "str" or tag == _TAG + "timestamp":
            return node.value
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return node.value.lower() == "true"
        if tag in (_TAG + "int", _TAG + "float"):
            if tag == _TAG + "int" and not node.style and LEADING_ZERO_INT.match(node.value):
                self.problem(node, pointer, "%s has a leading zero: YAML 1.2 reads the number %s, YAML 1.1 tools read "
                                            "it as octal; quote it if it is text (\"%s\"), else write it without the "
                                            "zero (or 0o... for octal)"
                             % (node.value, node.value.lstrip("+-0").replace("_", "") or "0", node.value))
                return node.value
            try:
                return self.constructor.construct_object(node)
            except (YAMLError, ValueError, IndexError) as exc:  # IndexError: "!!int" with no digits
                self.problem(node, pointer, "not a number: %s" % ("no digits" if isinstance(exc, IndexError)
                                                                  else getattr(exc, "problem", exc)))
                return node.value
        self.problem(node, pointer, "the tag %s is not supported (text, numbers, true/false and null only)"
                     % short_tag(tag))
        return None

    def mapping(self, node, pointer, depth):
        data, first_line = {}, {}
        merged = []
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merged.append(value_node)
                continue
            if not isinstance(key_node, yaml_nodes.ScalarNode):
                self.problem(key_node, pointer, "a key must be text, not a %s"
                             % ("mapping" if isinstance(key_node, yaml_nodes.MappingNode) else "list"))
                continue
            key = key_node.value
            child = "%s/%s" % (pointer, escape_token(key))
            line = key_node.start_mark.line + 1
            if key in first_line:
                self.problem(key_node, child, "duplicate key %r: line %d and line %d (YAML keys are unique; "
                                              "remove one)" % (key, first_line[key], line))
                continue
            first_line[key] = line
            data[key] = self.build(value_node, child, depth + 1)
            self.lines[child] = line  # the key's line reads best in messages
        for source in merged:
            for mapping in source.value if isinstance(source, yaml_nodes.SequenceNode) else [source]:
                if not isinstance(mapping, yaml_nodes.MappingNode):
                    self.problem(source, pointer, "<< merges mappings (or a list of them) only")
                    continue
                for key, value in self.mapping(mapping, pointer, depth).items():
                    data.setdefault(key, value)
        return data


def _check_events(events):
    """Depth, directive and document count from the event stream, before any node is built (no recursion)."""
    depth, documents = 0, 0
    for event in events:
        if isinstance(event, yaml_events.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise YamlFileError("a second YAML document starts here: one document per file",
                                    event.start_mark.line + 1)
            if event.version is not None and tuple(event.version) != (1, 2):
                raise YamlFileError("%%YAML %s: these files are read as YAML 1.2; remove the directive"
                                    % ".".join(str(v) for v in event.version), event.start_mark.line + 1)
        elif isinstance(event, (yaml_events.MappingStartEvent, yaml_events.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlFileError("nested more than %d levels deep" % MAX_DEPTH, event.start_mark.line + 1)
        elif isinstance(event, (yaml_events.MappingEndEvent, yaml_events.SequenceEndEvent)):
            depth -= 1


def _syntax_error(exc, text):
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        line = mark.line + 1
    elif getattr(exc, "position", None) is not None:  # ReaderError: a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
    else:
        line = None
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or exc.__class__.__name__
    return YamlFileError("not valid YAML: %s" % problem, line)


def _read(text, pure):
    """(data, lines) of ``text`` read by ruamel.yaml's pure Python reader or, ``pure=False``, by its C one."""
    try:
        if pure:
            loader = YAML(typ="safe", pure=True)
            loader.version = (1, 2)
            _check_events(loader.parse(text))
            node = loader.compose(text)
            constructor = loader.constructor
        else:
            _check_events(CLoader(text).events())
            constructor = CLoader(text)
            node = constructor.get_single_node()
    except YamlFileError:
        raise
    except YAMLError as exc:
        raise _syntax_error(exc, text)
    except (RecursionError, MemoryError):
        raise YamlFileError("nested too deeply", None)
    except AssertionError as exc:  # ruamel.yaml asserts on a "%YAML 1.3" directive
        raise YamlFileError("not valid YAML: %s" % exc, 1)
    except (OverflowError, ValueError) as exc:  # "\U99999999": an escape beyond Unicode
        raise YamlFileError("not valid YAML: %s" % exc, None)
    if node is None or not isinstance(node, yaml_nodes.MappingNode):
        kind = "empty" if node is None else ("a list" if isinstance(node, yaml_nodes.SequenceNode) else "a single value")
        raise YamlFileError("the document is %s; it must be a mapping (apiVersion, kind, metadata, ...)" % kind,
                            1 if node is None else node.start_mark.line + 1)
    reader = _Reader(constructor)
    data = reader.build(node, "", 0)
    if reader.problems:
        problems = sorted(reader.problems, key=lambda p: p[0])
        raise YamlFileError(problems[0][2], problems[0][0], problems)
    return data, reader.lines


def load_with_lines(text):
    """(data, {json pointer: line}) of one GitOps document given as text.

    The data is a dict (the document must be a mapping) of plain str, int,
    float, bool, None, list and dict. Raises :class:`YamlFileError` (with
    every problem of the text in ``problems``) otherwise.

    With ruamel.yaml.clib installed, a text is first read by its C parser (the
    same resolver, the same checks of the nodes, the same lines); the result
    is used only when that reading finds no problem at all. Any problem, and
    any text matching :data:`PURE_ONLY`, is read again by the pure Python
    reader, whose result or messages are the answer: the C reader can only
    make an accepted file faster, never accept, refuse or word anything
    differently. (One exception: a file over the bounds once aliases are
    expanded is refused at once, not expanded a second time.)
    """
    if not HAS_RUAMEL:
        raise YamlFileError("the ruamel.yaml Python library is required to read the GitOps files")
    if len(text) > MAX_FILE_BYTES:
        raise YamlFileError("larger than %d bytes: not a GitOps file" % MAX_FILE_BYTES, 1)
    if HAS_CLIB and not PURE_ONLY.search(text):
        try:
            return _read(text, pure=False)
        except BoundError:  # the same nodes by either reader: a hostile file is not expanded twice
            raise
        except (YAMLError, ValueError, RecursionError, MemoryError):  # YamlFileError is a ValueError
            pass  # the pure reader says what is wrong, in its words
    return _read(text, pure=True)


def short_tag(tag):
    """``tag:yaml.org,2002:binary`` -> ``!!binary``; other tags as written."""
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def field_of(pointer):
    """A JSON pointer as the dotted field of messages: ``/spec/policies/0`` -> ``spec.policies.0``."""
    return ".".join(part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]) or "(document)"


def problem(relpath, line, pointer, message):
    """One problem as every GitOps tool reports it: ``{file, line, field, message}``."""
    return {"file": relpath, "line": line or 1, "field": field_of(pointer), "message": message}


def format_problem(item):
    """``file:line: field: message``."""
    return "%(file)s:%(line)s: %(field)s: %(message)s" % item


def line_of(lines, pointer):
    """The line of ``pointer``, or of its nearest ancestor that has one."""
    while True:
        if pointer in lines:
            return lines[pointer]
        if not pointer:
            return 1
        pointer = pointer.rsplit("/", 1)[0]


class OutsideCheckoutError(YamlFileError):
    """A path that resolves outside the checkout (through ``..`` or a symbolic link)."""


def checkout_path(root, relpath):
    """The real path of ``relpath`` in the checkout ``root``, refused when it resolves outside.

    Symbolic links are followed (one that stays inside is fine); the result
    must be ``root`` itself or under it. Raises :class:`OutsideCheckoutError`.
    """
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(real_root, relpath))
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise OutsideCheckoutError("%s resolves outside the checkout (a symbolic link or '..' leads out): refused"
                                   % relpath, 1)
    return real


def read_text(root, relpath, limit=MAX_FILE_BYTES):
    """The UTF-8 text of a regular file of the checkout (inside it, at most ``limit`` bytes).

    Raises :class:`YamlFileError` (outside, too large, not UTF-8, not a
    regular file) or OSError (missing, unreadable).
    """
    path = checkout_path(root, relpath)
    if not os.path.isfile(path):
        if not os.path.exists(path):
            raise IOError(2, "no such file", relpath)
        raise YamlFileError("%s is not a regular file" % relpath, 1)
    with open(path, "rb") as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise YamlFileError("larger than %d bytes: not a GitOps file" % limit, 1)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError("not UTF-8 text (byte %d)" % exc.start, raw.count(b"\n", 0, exc.start) + 1)


def load_file(root, relpath):
    """(data, lines) of the GitOps document ``relpath`` of the checkout ``root`` (see the module's rules)."""
    return load_with_lines(read_text(root, relpath))
