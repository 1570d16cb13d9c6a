# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""YAML with line numbers: every problem in a GitOps file is reported at its line.

The document is composed once into PyYAML's node tree; the data is built from
it by the safe constructor (timestamps stay strings), and a map from JSON
pointer to line number is built from the same nodes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.stoa.platform.plugins.module_utils import openapi_document
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import escape_token

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    HAS_YAML = False


class YamlFileError(ValueError):
    def __init__(self, message, line=None):
        super(YamlFileError, self).__init__(message)
        self.line = line


def _index(node, pointer, lines):
    lines[pointer] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = "%s/%s" % (pointer, escape_token(str(key_node.value)))
            _index(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1  # the key's line reads best in messages
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _index(item, "%s/%d" % (pointer, position), lines)


def load_with_lines(text):
    """(data, {json pointer: line}) of one YAML document."""
    if not HAS_YAML:
        raise YamlFileError("PyYAML is required to read the GitOps files")
    # The loader of openapi_document: safe, and timestamps stay the strings their authors wrote.
    loader = openapi_document._Loader(text)  # pylint: disable=protected-access
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {"": 1}
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlFileError("not valid YAML: %s" % (getattr(exc, "problem", None) or exc),
                            mark.line + 1 if mark else None)
    finally:
        loader.dispose()
    lines = {}
    _index(node, "", lines)
    return data, lines


def line_of(lines, pointer):
    """The line of ``pointer``, or of its nearest ancestor that has one."""
    while True:
        if pointer in lines:
            return lines[pointer]
        if not pointer:
            return 1
        pointer = pointer.rsplit("/", 1)[0]
