#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: openapi_downgrade
short_description: Convert an OpenAPI 3.1 document to OpenAPI 3.0.3
version_added: 0.1.0
description:
  - Converts an OpenAPI 3.1.x document to 3.0.3, the newest version that webMethods API Gateway 10.15
    imports. OpenAPI 3.0.x and Swagger 2.0 documents are returned unchanged.
  - Only real Schema Objects are rewritten (wherever the specification places them); example values,
    extensions and the names inside C(properties) are never touched.
  - What 3.0 can express is translated exactly (type arrays and C(null), C(const), numeric exclusive
    bounds, C($ref) with siblings, C(if)/C(then)/C(else), C(dependentRequired), C($defs), ...). What it
    cannot is kept under an C(x-) extension and reported in RV(conversion_warnings) with its JSON pointer; a warning
    with C(lossy=true) means the 3.0 document accepts or describes something the 3.1 one did not.
  - C(null) is accepted by the result exactly where the 3.1 document accepts it, whatever the composition
    (C(anyOf)/C(oneOf)/C(allOf), C($ref)s, discriminators).
  - References are resolved as JSON Schema 2020-12 resolves them (C($id), C($anchor), C($defs) anywhere) and
    written as 3.0 pointers to the same targets. A relative reference to another file is bundled (read relative
    to O(src), converted and placed in C(components)). A reference that cannot be resolved (missing target,
    remote URL, file outside O(ref_root)) fails the task with the JSON pointer of the C($ref); the document is
    never printed.
  - Optionally applies the import fixes a live webMethods 10.15 gateway needs, as a separate reported step.
  - YAML is read as YAML 1.2 (its core schema), as OpenAPI recommends; C(yes), C(no), C(on) and C(off) stay
    strings, C(0755) is 755, C(1:30) and dates stay the text written.
author:
  - STOA platform team (@stoa-platform)
requirements:
  - PyYAML
  - openapi-spec-validator (when O(validate=true))
options:
  src:
    description:
      - Path of the source document, JSON or YAML.
      - Exactly one of O(src) and O(content) is required.
    type: path
  content:
    description:
      - The source document, as a JSON or YAML string or as a mapping.
      - Exactly one of O(src) and O(content) is required.
    type: raw
  ref_root:
    description:
      - Relative references in O(src) may bundle files under this directory only (symbolic links resolved).
      - Defaults to the directory of O(src). With O(content), references to other files are refused.
    type: path
  dest:
    description:
      - Where to write the converted document. The file is rewritten only when its content would change.
      - Without O(dest), the converted document is returned in RV(document).
    type: path
  format:
    description:
      - Output format when writing O(dest). Defaults to the format of the source (YAML for a mapping).
    type: str
    choices: [json, yaml]
  strict:
    description:
      - Fail, without writing anything, when the conversion needs a lossy change (see RV(conversion_warnings)).
    type: bool
    default: false
  validate:
    description:
      - Validate the result as OpenAPI 3.0 with openapi-spec-validator and fail when it is not valid.
      - Costs far more than the conversion itself on big documents (seconds for a document of a few
        megabytes, where converting takes tens of milliseconds); switch it off for documents already
        validated elsewhere.
    type: bool
    default: true
  webmethods_fixes:
    description:
      - Also apply the import fixes that a live webMethods API Gateway 10.15 needs (response schemas with
        C($ref) removed, security scheme fields upper-cased, root C(externalDocs) as a list, boolean
        C(additionalProperties) written as a schema). Each fix is reported in RV(gateway_fixes).
      - Some of these fixes lose information; use them only for documents imported into webMethods 10.15.
    type: bool
    default: false
notes:
  - Check mode converts and reports but writes nothing. Diff mode shows the change to O(dest), or from the
    source to the result when O(dest) is not set.
seealso:
  - name: OpenAPI 3.0.3 specification
    description: The target format.
    link: https://spec.openapis.org/oas/v3.0.3
"""

EXAMPLES = r"""
- name: Downgrade a tenant's API definition before importing it into the gateway
  stoa.platform.openapi_downgrade:
    src: "{{ gitops_dir }}/tenants/acme/apis/payments/openapi.yaml"
    dest: "{{ work_dir }}/payments-3.0.yaml"
    webmethods_fixes: true
  register: downgraded

- name: Refuse documents that would lose meaning
  stoa.platform.openapi_downgrade:
    content: "{{ lookup('ansible.builtin.file', 'openapi.json') }}"
    strict: true
  register: converted

- name: Show what was approximated
  ansible.builtin.debug:
    msg: "{{ converted.conversion_warnings | selectattr('lossy') | map(attribute='message') | list }}"
"""

RETURN = r"""
source_version:
  description: The C(openapi) (or C(swagger)) version of the source.
  returned: always
  type: str
  sample: 3.1.0
target_version:
  description: The version of the result.
  returned: always
  type: str
  sample: 3.0.3
converted:
  description: Whether the document had to be converted (false for 3.0.x and 2.0 sources).
  returned: always
  type: bool
conversion_warnings:
  description:
    - Every change that is not a plain copy, with where it happened.
    - Not named C(warnings), which Ansible reserves for plain-text warnings; the lossy changes are also
      counted there.
  returned: always
  type: list
  elements: dict
  contains:
    pointer:
      description: JSON pointer (RFC 6901) of the place in the source document.
      type: str
      sample: /components/schemas/Ratio/exclusiveMinimum
    message:
      description: What was done and what, if anything, was lost.
      type: str
    lossy:
      description: True when the result accepts or means something the source did not.
      type: bool
gateway_fixes:
  description: The webMethods 10.15 import fixes applied, same fields as RV(conversion_warnings).
  returned: when O(webmethods_fixes=true)
  type: list
  elements: dict
document:
  description: The converted document.
  returned: when O(dest) is not set
  type: dict
dest:
  description: The path written (or that would be written in check mode).
  returned: when O(dest) is set
  type: str
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import (
    HAS_SPEC_VALIDATOR,
    HAS_YAML,
    DocumentError,
    dump_document,
    load_document,
    openapi30_errors,
)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_downgrade import TARGET_VERSION, downgrade
from ansible_collections.stoa.platform.plugins.module_utils.openapi_webmethods import apply_webmethods_fixes


def read_source(module):
    """(document, source text, source format)."""
    if module.params["src"] is not None:
        path = module.params["src"]
        try:
            with open(path, "rb") as handle:
                text = to_text(handle.read(), errors="surrogate_or_strict")
        except (IOError, OSError, UnicodeError) as exc:
            module.fail_json(msg="cannot read src %s: %s" % (path, to_native(exc)))
        document, fmt = load_document(text, path)
        return document, text, fmt
    content = module.params["content"]
    if isinstance(content, dict):
        return content, json.dumps(content, indent=2, sort_keys=False), "yaml"
    if not isinstance(content, str):
        module.fail_json(msg="content must be a string or a mapping, not %s" % type(content).__name__)
    document, fmt = load_document(content, "content")
    return document, content, fmt


def current_dest(path):
    if not os.path.exists(path):
        return None
    with open(path, "rb") as handle:
        return to_text(handle.read(), errors="surrogate_or_strict")


def write_atomically(module, path, text):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".openapi_downgrade.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(to_bytes(text))
    module.atomic_move(tmp, path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path"),
            content=dict(type="raw"),
            ref_root=dict(type="path"),
            dest=dict(type="path"),
            format=dict(type="str", choices=["json", "yaml"]),
            strict=dict(type="bool", default=False),
            validate=dict(type="bool", default=True),
            webmethods_fixes=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("src", "content")],
        required_one_of=[("src", "content")],
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    if module.params["validate"] and not HAS_SPEC_VALIDATOR:
        module.fail_json(msg=missing_required_lib("openapi-spec-validator"))

    try:
        document, source_text, source_format = read_source(module)
        result_document, warnings, source_version = downgrade(document, module.params["src"],
                                                              module.params["ref_root"])
    except DocumentError as exc:
        module.fail_json(msg="cannot convert the OpenAPI document: %s" % to_native(exc))

    converted = result_document is not document
    result = dict(changed=False, source_version=source_version, converted=converted,
                  conversion_warnings=warnings,
                  target_version=TARGET_VERSION if converted else source_version)

    lossy = [w for w in warnings if w["lossy"]]
    if module.params["strict"] and lossy:
        module.fail_json(msg="strict: %d lossy change(s) would be needed: %s" % (
            len(lossy), "; ".join("%s: %s" % (w["pointer"], w["message"]) for w in lossy)), **result)

    if lossy:
        module.warn("%d lossy change(s) in the 3.0 document, first at %s; see conversion_warnings"
                    % (len(lossy), lossy[0]["pointer"]))

    # Validated before the gateway fixes: those make it 10.15-flavoured, not standard 3.0.
    if module.params["validate"] and (converted or source_version.startswith("3.0")):
        try:
            errors = openapi30_errors(result_document)
        except DocumentError as exc:
            module.fail_json(msg="cannot validate the result: %s" % to_native(exc), **result)
        if errors:
            module.fail_json(msg="the result is not valid OpenAPI 3.0: %s" % "; ".join(errors), **result)

    if module.params["webmethods_fixes"]:
        result_document, fixes = apply_webmethods_fixes(result_document)
        result["gateway_fixes"] = fixes
        converted = converted or bool(fixes)

    output_format = module.params["format"] or source_format
    output_text = dump_document(result_document, output_format)
    dest = module.params["dest"]
    if dest is None:
        result["document"] = result_document
        result["changed"] = converted
        if module._diff and converted:
            result["diff"] = dict(before=source_text, after=output_text,
                                  before_header="source", after_header="converted")
        module.exit_json(**result)

    result["dest"] = dest
    before = current_dest(dest)
    result["changed"] = before != output_text
    if module._diff and result["changed"]:
        result["diff"] = dict(before=before or "", after=output_text, before_header=dest, after_header=dest)
    if result["changed"] and not module.check_mode:
        write_atomically(module, dest, output_text)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
