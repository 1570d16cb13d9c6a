#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gitops_tenant_folder
short_description: Give a new tenant its folder in the GitOps repository
version_added: 0.1.0
description:
  - Makes sure C(tenants/<tenant>/) exists on the remote branch (with a C(README.md) saying what goes there), with one
    commit authored by the actor, pushed, replayed on the new tip when the push is refused. An existing folder is left
    as it is.
author:
  - STOA platform team (@stoa-platform)
options:
  path:
    description: A clone of the GitOps repository dedicated to automation.
    type: path
    required: true
  tenant:
    description: Tenant id.
    type: str
    required: true
  actor:
    description: E-mail recorded as the commit's author.
    type: str
    required: true
  remote:
    description: Remote.
    type: str
    default: origin
  branch:
    description: Branch.
    type: str
    default: main
notes:
  - Support for check_mode is full, for diff_mode none.
"""

EXAMPLES = r"""
- name: The folder of tenant-finance
  stoa.platform.gitops_tenant_folder:
    path: "{{ checkout }}"
    tenant: tenant-finance
    actor: awx@stoa.local
"""

RETURN = r"""
commit:
  description: The commit that created the folder.
  returned: when changed and not in check mode
  type: str
"""

import re
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stoa.platform.plugins.module_utils.gitops_requests import Git, GitError

README = """# %s

APIs of this tenant: one folder per API under `apis/<api>/` with `api.yaml`, `openapi.yaml` and
`environments/{_defaults,dev,staging,prod}.yaml` (see docs/gitops.md of the automation).
"""


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", required=True), tenant=dict(type="str", required=True),
                           actor=dict(type="str", required=True), remote=dict(type="str", default="origin"),
                           branch=dict(type="str", default="main")),
        supports_check_mode=True,
    )
    p = module.params
    if not re.match(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", p["tenant"]):
        module.fail_json(msg="tenant %r is not a tenant id (lower-case letters, digits and -)" % p["tenant"])
    git = Git(p["path"], p["remote"], p["branch"])
    relpath = "tenants/%s/README.md" % p["tenant"]
    try:
        for attempt in range(1, 21):
            git.fetch()
            if git.list_files(git.tip, "tenants/%s" % p["tenant"]):
                module.exit_json(changed=False, attempts=attempt)
            if module.check_mode:
                module.exit_json(changed=True, attempts=attempt)
            commit = git.commit_file(git.tip, relpath, README % p["tenant"], "tenant %s: its folder" % p["tenant"],
                                     p["actor"].split("@")[0], p["actor"])
            if git.push():
                module.exit_json(changed=True, commit=commit, attempts=attempt)
            time.sleep(0.05 * attempt)
    except GitError as exc:
        module.fail_json(msg=str(exc))
    module.fail_json(msg="gave up after 20 attempts: the branch keeps moving")


if __name__ == "__main__":
    main()
