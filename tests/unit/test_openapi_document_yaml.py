"""OpenAPI documents are read as YAML 1.2 (core schema), as OpenAPI recommends and as the GitOps files are read.

PyYAML's own rules are YAML 1.1's: ``yes`` became true, ``0755`` became 493 and ``1:30`` became 90, so an
API's enum or example changed on its way from Git to the gateway.
"""
from __future__ import annotations

import math

import pytest
from ruamel.yaml import YAML

import stoa_tools  # noqa: F401  (puts the collection on sys.path)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import (
    DocumentError,
    dump_document,
    load_document,
)

SCALARS = """\
words: [yes, no, on, off, y, n, Yes, NO]
octal_looking: 0755
octal: 0o17
hexadecimal: 0x1F
sexagesimal: 1:30
underscored: 1_000
exponent: 1e3
float: -3.5
trailing_dot: 3.
infinity: -.Inf
nulls: [~, null, Null, NULL]
empty:
booleans: [true, True, TRUE, false, False, FALSE]
date: 2020-01-01
quoted: "yes"
"""


def test_plain_scalars_follow_yaml_1_2_core_schema():
    document, fmt = load_document(SCALARS, "openapi.yaml")
    assert fmt == "yaml"
    assert document["words"] == ["yes", "no", "on", "off", "y", "n", "Yes", "NO"]
    assert document["octal_looking"] == 755 and document["octal"] == 15 and document["hexadecimal"] == 31
    assert document["sexagesimal"] == "1:30" and document["underscored"] == "1_000"
    assert document["exponent"] == 1000.0 and isinstance(document["exponent"], float)
    assert document["float"] == -3.5 and document["trailing_dot"] == 3.0
    assert math.isinf(document["infinity"]) and document["infinity"] < 0
    assert document["nulls"] == [None] * 4 and document["empty"] is None
    assert document["booleans"] == [True, True, True, False, False, False]
    assert document["date"] == "2020-01-01" and document["quoted"] == "yes"


def test_the_reading_agrees_with_ruamel_yaml_1_2_which_reads_the_gitops_files():
    ours, _ = load_document(SCALARS, "openapi.yaml")
    theirs = YAML(typ="safe", pure=True).load(SCALARS)
    theirs["date"] = str(theirs["date"])  # ruamel's safe loader still makes dates; we keep the author's text
    # ruamel also takes 1_000 for 1000, beyond the core schema's [-+]?[0-9]+ (1.2.2, 10.3.2): we keep the spec's.
    assert ours.pop("underscored") == "1_000" and theirs.pop("underscored") == 1000
    assert ours == theirs


def test_a_written_document_reads_back_the_same():
    document, _ = load_document(SCALARS, "openapi.yaml")
    again, _ = load_document(dump_document(document, "yaml"), "again.yaml")
    assert again == document


@pytest.mark.parametrize("text, message", [
    ("a: !!int 0b101\n", "line 1, column 4: '0b101' is not a YAML 1.2 integer"),
    ("a: !!float abc\n", "not valid YAML: could not convert string to float"),
])
def test_an_explicit_tag_on_a_wrong_value_is_a_document_error_naming_the_file(text, message):
    with pytest.raises(DocumentError, match="bad.yaml is not valid YAML") as error:
        load_document(text, "bad.yaml")
    assert message in str(error.value)
