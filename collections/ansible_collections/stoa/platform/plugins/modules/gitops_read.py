#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gitops_read
short_description: Read files of the GitOps repository the way the validator reads them
version_added: 0.1.0
description:
  - Reads YAML files of a GitOps checkout with the collection's one loader, the one M(stoa.platform.gitops_validate)
    and M(stoa.platform.gitops_api_config) use, YAML 1.2 (C(yes), C(no), C(on), C(off) are text), a duplicate key
    is an error naming both lines, one document per file and it is a mapping, aliases and nesting bounded, and
    every file must resolve inside the checkout (a symbolic link that leads out is refused).
  - Each file is checked against the JSON Schema of the kind its location gives it (C(iam/tenants.yaml) is a
    TenantRegistry, C(aliases/<env>/*.yaml) GatewayAlias documents, and so on, see docs/gitops.md).
  - Fails listing every problem, each with its file, line and field, before any task uses the data.
  - Use it instead of C(lookup('file') | from_yaml), which reads YAML 1.1, keeps the last of duplicate keys and
    checks nothing.
author:
  - STOA platform team (@stoa-platform)
requirements:
  - ruamel.yaml
  - jsonschema
options:
  path:
    description: Root of the GitOps checkout.
    type: path
    required: true
  files:
    description:
      - Files to read, relative to O(path). Glob patterns (C(aliases/dev/*.yaml)) are allowed and may match nothing.
      - A plain path must exist unless it is also in O(optional).
    type: list
    elements: str
    required: true
  optional:
    description: Plain paths of O(files) that may be missing (they are then left out of RV(documents)).
    type: list
    elements: str
    default: []
notes:
  - Support for check_mode is full (the module only reads).
seealso:
  - module: stoa.platform.gitops_validate
  - module: stoa.platform.gitops_api_config
"""

EXAMPLES = r"""
- name: Read the IAM registries
  stoa.platform.gitops_read:
    path: "{{ gitops_checkout }}"
    files: [iam/tenants.yaml, iam/global-admins.yaml, iam/service-accounts.yaml]
    optional: [iam/service-accounts.yaml]
  register: iam

- name: Use them
  ansible.builtin.debug:
    msg: "{{ iam.documents['iam/tenants.yaml'].tenants | map(attribute='id') | list }}"

- name: Every alias of dev
  stoa.platform.gitops_read:
    path: "{{ gitops_checkout }}"
    files: ["aliases/dev/*.yaml", "aliases/dev/*.yml"]
  register: dev_aliases
"""

RETURN = r"""
documents:
  description: Each file read, by its path relative to the checkout.
  returned: success
  type: dict
files:
  description: The paths read, sorted.
  returned: success
  type: list
  elements: str
problems:
  description: Every problem (file, line, field, message) when the module fails.
  returned: failure
  type: list
  elements: dict
"""

import glob
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.stoa.platform.plugins.module_utils.gitops_schemas import (
    HAS_JSONSCHEMA,
    DocumentError,
    load_checked,
)
from ansible_collections.stoa.platform.plugins.module_utils.gitops_yaml import (
    HAS_RUAMEL,
    format_problem,
    problem,
)

GLOB_CHARACTERS = ("*", "?", "[")


def expand(root, pattern):
    """The relative paths a pattern names: itself for a plain path, the sorted matches of a glob."""
    if not any(c in pattern for c in GLOB_CHARACTERS):
        return [pattern]
    matches = glob.glob(os.path.join(glob.escape(root), pattern))
    return sorted(os.path.relpath(m, root).replace(os.sep, "/") for m in matches if os.path.isfile(m))


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", required=True),
                           files=dict(type="list", elements="str", required=True),
                           optional=dict(type="list", elements="str", default=[])),
        supports_check_mode=True,
    )
    if not HAS_RUAMEL:
        module.fail_json(msg=missing_required_lib("ruamel.yaml"))
    if not HAS_JSONSCHEMA:
        module.fail_json(msg=missing_required_lib("jsonschema"))
    root = module.params["path"]
    if not os.path.isdir(root):
        module.fail_json(msg="%s is not a directory" % root)
    documents, problems = {}, []
    for pattern in module.params["files"]:
        for relpath in expand(root, pattern):
            if relpath in documents:
                continue
            try:
                documents[relpath] = load_checked(root, relpath)[0]
            except DocumentError as exc:
                problems.extend(exc.problems)
            except (OSError, IOError) as exc:
                if relpath not in module.params["optional"]:
                    reason = getattr(exc, "strerror", None) or str(exc)
                    problems.append(problem(relpath, 1, "", "cannot be read: %s" % reason))
    if problems:
        module.fail_json(msg="%d problem(s) in the GitOps files:\n%s"
                             % (len(problems), "\n".join(format_problem(p) for p in problems)), problems=problems)
    module.exit_json(changed=False, documents=documents, files=sorted(documents))


if __name__ == "__main__":
    main()
