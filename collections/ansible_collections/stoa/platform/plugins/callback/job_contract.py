# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: job_contract
type: aggregate
short_description: Keep the AWX extra-vars contract's names environment and action without a warning on every run
version_added: 0.1.0
description:
  - The jobs take the extra vars C(environment) and C(action) (C(awx/objects.yml), the receiver and the schedules send
    them; that contract does not change). Both are also names ansible-core reserves (play keywords), and
    ansible-core 2.19 prints C(Found variable using reserved name) for each on every run, with no setting to
    silence it, and operators learn to ignore warnings.
  - The playbooks never use these names as keywords; they read them only through C(hostvars[inventory_hostname])
    in their first task (stoa.platform.job_vars), which checks them.
  - Loaded as a callback (enabled in the repository's C(ansible.cfg), which AWX reads from the project), this
    plugin drops exactly these two names, and only when they are extra vars, from ansible-core's reserved-name
    warning. Any other reserved name, and these two set anywhere else (inventory, play or role vars), still warn.
  - It wraps C(ansible.vars.manager.warn_if_reserved), an ansible-core internal (2.19); when that function is not
    there it does nothing and the warning comes back, which the warning-free test notices.
author:
  - STOA platform team (@stoa-platform)
"""

from ansible.plugins.callback import CallbackBase

try:
    from ansible.utils.vars import load_extra_vars
    from ansible.vars import manager as _manager
except ImportError:  # pragma: no cover
    _manager = None

CONTRACT_NAMES = frozenset(("environment", "action"))


def _contract_aware(original, extra_names):
    """``warn_if_reserved`` without the contract's names when they come from the extra vars."""

    def warn_if_reserved(myvars, additional=None):
        names = extra_names()
        return original([name for name in myvars if not (name in CONTRACT_NAMES and name in names)], additional)

    warn_if_reserved.stoa_job_contract = True
    return warn_if_reserved


def install(loader):
    """Wraps ansible-core's reserved-name check once per process; False when it cannot."""
    original = getattr(_manager, "warn_if_reserved", None) if _manager is not None else None
    if original is None or getattr(original, "stoa_job_contract", False):
        return original is not None
    _manager.warn_if_reserved = _contract_aware(original, lambda: set(load_extra_vars(loader)))
    return True


class CallbackModule(CallbackBase):
    """Installs the wrapper when the playbook starts (before any variable is computed for a task)."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "stoa.platform.job_contract"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook):
        install(playbook._loader)
