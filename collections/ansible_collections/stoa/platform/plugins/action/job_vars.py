# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of stoa.platform.job_vars: tells the module which extra vars the job was given.

A module never sees the command line, so the names of the extra vars (``-e name=value``, ``-e '{...}'`` and
``-e @file``, the form AWX and ansible-runner use) are read here with ansible-core's own parser
(``ansible.utils.vars.load_extra_vars``), along with the names every job knows (the ``job_spec_*`` dictionaries
of ``playbooks/vars/job_spec.yml``, loaded by every job playbook) and ``strict_vars``. The module does the check.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.vars import load_extra_vars


class ActionModule(ActionBase):
    """Adds ``given``, ``known`` and ``strict`` to the module's arguments, then runs the module."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        args.setdefault("given", sorted(str(name) for name in load_extra_vars(self._loader)))
        known = set()
        for name, spec in task_vars.items():
            if str(name).startswith("job_spec_") and isinstance(spec, dict):
                known.update(str(key) for key in spec)
        args.setdefault("known", sorted(known))
        if "strict" not in args:
            try:
                args["strict"] = boolean(self._templar.template(task_vars.get("strict_vars", False)), strict=True)
            except TypeError:
                result.update(failed=True, msg="strict_vars must be a boolean, not %r" % task_vars.get("strict_vars"))
                return result
        result.update(self._execute_module(module_name="stoa.platform.job_vars", module_args=args,
                                           task_vars=task_vars))
        return result
