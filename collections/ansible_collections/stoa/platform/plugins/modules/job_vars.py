#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: job_vars
short_description: Check a job's extra vars first, and say what is missing or wrong
version_added: 0.1.0
description:
  - The first task of every job playbook. Checks the extra vars against the job's specification (required, type,
    choices, pattern) and fails listing every problem with what the variable is for, before anything else runs.
  - Returns the values with their defaults applied, as RV(job).
author:
  - STOA platform team (@stoa-platform)
options:
  spec:
    description:
      - The job's variables, by name, each with C(description), C(required), C(type) (V(str), V(int), V(bool), V(list)),
        C(choices), C(pattern) (a regular expression the whole value must match) and C(default).
    type: dict
    required: true
  values:
    description: The values given to the job (an undefined variable given as V(null)).
    type: dict
    required: true
notes:
  - Support for check_mode is full (the module only checks).
"""

EXAMPLES = r"""
- name: Check the job's variables
  stoa.platform.job_vars:
    spec:
      tenant_id: {required: true, pattern: "^[a-z0-9-]+$", description: "the tenant, as in iam/tenants.yaml"}
      environment: {required: true, choices: [dev, staging, prod], description: "target environment"}
    values:
      tenant_id: "{{ tenant_id | default(None) }}"
      environment: "{{ environment | default(None) }}"
  register: job
"""

RETURN = r"""
job:
  description: The variables with their defaults applied.
  returned: success
  type: dict
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.parsing.convert_bool import boolean

CONVERT = {"str": str, "int": int, "list": list}


def check(spec, values):
    problems, job = [], {}
    for name, rule in sorted(spec.items()):
        what = " (%s)" % rule["description"] if rule.get("description") else ""
        value = values.get(name)
        if value in (None, ""):
            if rule.get("required"):
                problems.append("missing extra var %s%s" % (name, what))
            else:
                job[name] = rule.get("default")
            continue
        kind = rule.get("type", "str")
        try:
            if kind == "bool":
                value = boolean(value)
            elif kind == "list" and not isinstance(value, list):
                raise TypeError("not a list")
            elif kind in ("str", "int"):
                value = CONVERT[kind](value)
        except (TypeError, ValueError):
            problems.append("extra var %s must be a %s%s, not %r" % (name, kind, what, value))
            continue
        if rule.get("choices") and value not in rule["choices"]:
            problems.append("extra var %s: %r is not one of %s%s" % (name, value, ", ".join(map(str, rule["choices"])), what))
            continue
        if rule.get("pattern") and not re.match("^(?:%s)$" % rule["pattern"].strip("^$"), str(value)):
            problems.append("extra var %s: %r does not match %s%s" % (name, value, rule["pattern"], what))
            continue
        job[name] = value
    return problems, job


def main():
    module = AnsibleModule(argument_spec=dict(spec=dict(type="dict", required=True),
                                              values=dict(type="dict", required=True)),
                           supports_check_mode=True)
    problems, job = check(module.params["spec"], module.params["values"])
    if problems:
        module.fail_json(msg="this job cannot start: " + "; ".join(problems), problems=problems)
    module.exit_json(changed=False, job=job)


if __name__ == "__main__":
    main()
