#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gitops_validate
short_description: Check a whole GitOps checkout before anything touches a system
version_added: 0.1.0
description:
  - Validates every file of the checkout against the JSON Schema of its kind (API, APIEnvironmentConfig,
    EnvironmentConfig, SecretReferences, GatewayAlias, TenantRegistry, GlobalAdminRegistry, ServiceAccountRegistry,
    PromotionRequest; C(apiVersion stoa.cab-i.com/v1)), then the cross-references, an API's tenant exists, its
    OpenAPI document parses, every C(${VAR}) resolves in every environment its tenant declares, every C(*_ALIAS)
    variable names an alias of that environment, names agree with paths.
  - Every file is read as YAML 1.2 by the collection's one GitOps loader (the one M(stoa.platform.gitops_read) and
    M(stoa.platform.gitops_api_config) use), a duplicate key is an error naming both lines, one mapping per file,
    aliases and nesting bounded, every file (OpenAPI documents too) must resolve inside the checkout. Malformed
    placeholders are errors, and each API rendered for each environment is checked against the API schema again.
  - Reports every problem at once, each with file, line and field, and fails when there is one.
  - The same check runs from the command line, C(stoa-gitops validate ROOT), for the GitOps repository's own CI.
author:
  - STOA platform team (@stoa-platform)
requirements:
  - jsonschema
  - ruamel.yaml
options:
  path:
    description: Root of the GitOps checkout.
    type: path
    required: true
  fail_on_problems:
    description: Fail when a problem is found (else only report).
    type: bool
    default: true
  documents:
    description:
      - Files of the checkout (paths relative to it, like C(iam/tenants.yaml)) to return in RV(documents) as read
        and checked here, so that a job that validates first does not read them again with
        M(stoa.platform.gitops_read).
      - A file that is missing or breaks its schema is left out of RV(documents) (its problem is reported).
    type: list
    elements: str
    default: []
notes:
  - Support for check_mode is full (the module only reads).
seealso:
  - module: stoa.platform.gitops_api_config
"""

EXAMPLES = r"""
- name: Refuse to deploy from a checkout with mistakes
  stoa.platform.gitops_validate:
    path: "{{ gitops_checkout }}"
"""

RETURN = r"""
documents:
  description: The data of each O(documents) file that exists and passed its schema, keyed by its path.
  returned: always
  type: dict
  sample: {"iam/tenants.yaml": {"kind": "TenantRegistry", "tenants": []}}
problems:
  description: Every problem, sorted by file and line.
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: Path relative to the checkout.
      type: str
    line:
      description: Line number in the file.
      type: int
    field:
      description: Dotted path of the field.
      type: str
    message:
      description: What is wrong.
      type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.stoa.platform.plugins.module_utils.gitops_yaml import HAS_RUAMEL
from ansible_collections.stoa.platform.plugins.module_utils.gitops_validate import (
    HAS_JSONSCHEMA,
    format_problem,
    validate_checkout,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", required=True), fail_on_problems=dict(type="bool", default=True),
                           documents=dict(type="list", elements="str", default=[])),
        supports_check_mode=True,
    )
    if not HAS_JSONSCHEMA:
        module.fail_json(msg=missing_required_lib("jsonschema"))
    if not HAS_RUAMEL:
        module.fail_json(msg=missing_required_lib("ruamel.yaml"))
    if not os.path.isdir(module.params["path"]):
        module.fail_json(msg="%s is not a directory" % module.params["path"])
    documents = dict.fromkeys(module.params["documents"])
    problems = validate_checkout(module.params["path"], documents)
    if problems and module.params["fail_on_problems"]:
        module.fail_json(msg="%d problem(s) in the GitOps checkout:\n%s"
                             % (len(problems), "\n".join(format_problem(p) for p in problems)), problems=problems)
    module.exit_json(changed=False, problems=problems, documents=documents)


if __name__ == "__main__":
    main()
