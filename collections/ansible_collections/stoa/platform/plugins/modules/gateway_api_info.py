#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_api_info
short_description: List and inspect the APIs of a webMethods API Gateway
version_added: 0.1.0
description:
  - Lists the APIs of a webMethods API Gateway 10.15, filtered by name, version and owning tenant, in the same
    shape as RV(stoa.platform.gateway_api#module:end_state).
  - Filtering by O(tenant) reads each API (one GET per API); O(details) also reads its policy (two more).
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.gateway
options:
  name:
    description: Only APIs with this name.
    type: str
  version:
    description: Only APIs with this version label.
    type: str
  tenant:
    description: Only APIs owned by this tenant (tagged C(tenant:<tenant>) by M(stoa.platform.gateway_api)).
    type: str
  details:
    description: Also read each API's policies and gateway endpoints.
    type: bool
    default: false
notes:
  - Support for check_mode is full (the module only reads).
seealso:
  - module: stoa.platform.gateway_api
"""

EXAMPLES = r"""
- name: Every API of tenant-demo
  stoa.platform.gateway_api_info:
    tenant: tenant-demo
  register: tenant_apis

- name: One API with its policies
  stoa.platform.gateway_api_info:
    name: petstore-api
    version: "1.0.0"
    details: true
  register: petstore
"""

RETURN = r"""
apis:
  description: The matching APIs, sorted by name and version.
  returned: always
  type: list
  elements: dict
  contains:
    api_id:
      description: Id on the gateway.
      type: str
    name:
      description: The API's name.
      type: str
    version:
      description: The API's version label.
      type: str
    active:
      description: Whether the API serves traffic.
      type: bool
    tenant:
      description: Owning tenant, from the C(tenant:) tag; none for an API the collection did not create.
      type: str
    tags:
      description: Other tags (only when O(tenant) or O(details) made the module read the API).
      type: list
      elements: str
    spec_sha256:
      description: Fingerprint of the document imported by M(stoa.platform.gateway_api).
      type: str
    policies:
      description: The API-level policies, as M(stoa.platform.gateway_api) options (with O(details=true)).
      type: dict
  sample:
    - api_id: 3e5b1a36-7b0a-4f6e-9d43-52a1c0b2a8f1
      name: petstore-api
      version: 1.0.0
      active: true
      tenant: tenant-demo
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_converge import (
    ApiConverger,
    api_view,
    policy_view,
)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayError
from ansible_collections.stoa.platform.plugins.module_utils.gateway_module import gateway_argument_spec, gateway_client


def main():
    module = AnsibleModule(
        argument_spec=gateway_argument_spec(
            name=dict(type="str"),
            version=dict(type="str"),
            tenant=dict(type="str"),
            details=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    client = gateway_client(module)
    reader = ApiConverger(client, check_mode=True)
    apis = []
    try:
        for summary in client.list_apis():
            if params["name"] is not None and summary.get("apiName") != params["name"]:
                continue
            if params["version"] is not None and summary.get("apiVersion") != params["version"]:
                continue
            if params["tenant"] is None and not params["details"]:
                view = api_view(summary)
                for unread in ("tags", "tenant", "spec_sha256", "description", "maturity_state", "gateway_endpoints"):
                    view.pop(unread)
                apis.append(view)
                continue
            api = client.get_api(summary["id"])
            policies = policy_view(reader.read_policy(api)[1]) if params["details"] else None
            view = api_view(api, policies)
            if params["tenant"] is None or view["tenant"] == params["tenant"]:
                apis.append(view)
    except GatewayError as exc:
        module.fail_json(msg=to_native(exc))
    apis.sort(key=lambda a: (a["name"] or "", a["version"] or ""))
    module.exit_json(changed=False, apis=apis, gateway_requests=client.request_counts())


if __name__ == "__main__":
    main()
