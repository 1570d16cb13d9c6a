#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_api_prune
short_description: Find, and optionally remove, the APIs a tenant owns on the gateway that Git no longer has
version_added: 0.1.0
description:
  - Reads every API of the gateway and sorts those not in O(keep_ids) into C(extra), owned by one of O(tenants)
    (their C(tenant:) tag, set by M(stoa.platform.gateway_api)), and C(untagged), owned by nobody we know.
  - With O(prune=true), deactivates and deletes the C(extra) APIs. Untagged APIs, and APIs of other tenants, are never
    touched.
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.gateway
options:
  tenants:
    description: The tenants whose APIs this job manages.
    type: list
    elements: str
    required: true
  keep_ids:
    description: Ids of the APIs Git describes (the ones just converged).
    type: list
    elements: str
    required: true
  prune:
    description: Remove the C(extra) APIs.
    type: bool
    default: false
notes:
  - Support for check_mode is full, for diff_mode none.
seealso:
  - module: stoa.platform.gateway_api
"""

EXAMPLES = r"""
- name: Remove what tenant-demo no longer has in Git
  stoa.platform.gateway_api_prune:
    tenants: [tenant-demo]
    keep_ids: "{{ deployed_ids }}"
    prune: true
"""

RETURN = r"""
extra:
  description: APIs owned by one of the tenants that Git no longer has (name, version, tenant, api_id, active).
  returned: always
  type: list
  elements: dict
untagged:
  description: APIs without a tenant tag, left alone.
  returned: always
  type: list
  elements: dict
removed:
  description: The C(extra) APIs removed (with O(prune=true); in check mode, those that would be).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_converge import ApiConverger, unlisted_apis
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayError
from ansible_collections.stoa.platform.plugins.module_utils.gateway_module import gateway_argument_spec, gateway_client


def main():
    module = AnsibleModule(
        argument_spec=gateway_argument_spec(
            tenants=dict(type="list", elements="str", required=True),
            keep_ids=dict(type="list", elements="str", required=True),
            prune=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    client = gateway_client(module)
    extra, untagged, removed = [], [], []
    try:
        unlisted = [client.get_api(s["id"]) for s in client.list_apis() if s["id"] not in p["keep_ids"]]
        extra, untagged = unlisted_apis(unlisted, p["tenants"])
        if p["prune"]:
            converger = ApiConverger(client, check_mode=module.check_mode)
            for entry in extra:
                converger.absent(entry["name"], entry["version"], entry["tenant"])
                removed.append(entry)
    except GatewayError as exc:
        module.fail_json(msg=str(exc), extra=extra, untagged=untagged, removed=removed)
    module.exit_json(changed=bool(removed), extra=extra, untagged=untagged, removed=removed)


if __name__ == "__main__":
    main()
