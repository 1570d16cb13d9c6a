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
  - An extra var that no job knows (not in O(spec) nor in O(known)) is a typo until proven otherwise. It is reported
    with the nearest known name (C(-e gitops_branch=main) suggests C(gitops_ref)) as a warning, or as an error with
    the other problems when O(strict) is on. Names that start with C(ansible_), C(awx_) or C(tower_) (connection
    settings and the variables AWX adds to every job) and C(strict_vars) itself are never reported.
  - The action plugin of the same name fills O(given) with the names of the job's extra vars as ansible-core parses
    them (C(-e name=value), C(-e '{...}'), C(-e @file) as AWX passes them), O(known) with the names of every
    C(job_spec_*) dictionary (C(playbooks/vars/job_spec.yml)), and O(strict) with the variable C(strict_vars).
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
  given:
    description: Names of the extra vars the job was given (set by the action plugin).
    type: list
    elements: str
    default: []
  known:
    description: Names the other jobs know (set by the action plugin from the C(job_spec_*) variables).
    type: list
    elements: str
    default: []
  strict:
    description: An unknown extra var is an error, not a warning (set by the action plugin from C(strict_vars)).
    type: bool
    default: false
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
unknown:
  description: The extra vars no job knows, each with the nearest known name (or null).
  returned: always
  type: list
  elements: dict
  sample: [{name: gitops_branch, nearest: gitops_ref}]
"""

import difflib
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


ALWAYS_KNOWN_PREFIXES = ("ansible_", "awx_", "tower_")


def unknown_vars(given, names):
    """[{name, nearest}] for each name of ``given`` that is not in ``names`` (nor strict_vars, nor an
    ansible_/awx_/tower_ variable); ``nearest`` is difflib's closest match in ``names`` (ratio >= 0.6) or None."""
    names = sorted(set(names))
    found = []
    for name in sorted(set(given)):
        if name in names or name == "strict_vars" or name.startswith(ALWAYS_KNOWN_PREFIXES):
            continue
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        found.append({"name": name, "nearest": close[0] if close else None})
    return found


def describe(unknown):
    return "unknown extra var %s%s" % (unknown["name"], " (did you mean %s?)" % unknown["nearest"]
                                       if unknown["nearest"] else "")


def main():
    module = AnsibleModule(argument_spec=dict(spec=dict(type="dict", required=True),
                                              values=dict(type="dict", required=True),
                                              given=dict(type="list", elements="str", default=[]),
                                              known=dict(type="list", elements="str", default=[]),
                                              strict=dict(type="bool", default=False)),
                           supports_check_mode=True)
    p = module.params
    unknown = unknown_vars(p["given"], list(p["spec"]) + p["known"])
    problems, job = check(p["spec"], p["values"])
    if p["strict"]:
        problems.extend(describe(u) + ", and strict_vars is on" for u in unknown)
    else:
        for item in unknown:
            module.warn(describe(item) + ": no job reads it, it is ignored (strict_vars=true makes this an error)")
    if problems:
        module.fail_json(msg="this job cannot start: " + "; ".join(problems), problems=problems, unknown=unknown)
    module.exit_json(changed=False, job=job, unknown=unknown)


if __name__ == "__main__":
    main()
