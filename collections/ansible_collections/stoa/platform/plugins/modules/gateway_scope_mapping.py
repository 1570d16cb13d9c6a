#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_scope_mapping
short_description: Map an authorization server scope to one API version on a webMethods API Gateway
version_added: 0.1.0
description:
  - Creates, updates or deletes one OAuth scope mapping (C(/scopes)), found by name. One mapping per API version,
    named by the platform's rule C({AuthServer}:{Tenant}:{Api}:{Version}:{Scope}); shared mappings get clobbered.
  - The scope must be one of the authorization server alias' scopes (M(stoa.platform.gateway_alias)).
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.gateway
options:
  auth_server_alias:
    description: Name of the authorization server alias.
    type: str
    required: true
  tenant:
    description: Tenant that owns the API.
    type: str
    required: true
  api_name:
    description: API name.
    type: str
    required: true
  api_version:
    description: API version.
    type: str
    required: true
  scope:
    description: The authorization server's scope, for example C(read).
    type: str
    required: true
  state:
    description: Whether the mapping should exist.
    type: str
    choices: [present, absent]
    default: present
  audience:
    description: Audience the token must carry for this mapping.
    type: str
  description:
    description: Description; defaults to one naming the API and scope.
    type: str
notes:
  - Support for check_mode is full, for diff_mode full.
seealso:
  - module: stoa.platform.gateway_alias
"""

EXAMPLES = r"""
- name: read on petstore-api 1.0.0 of tenant-demo needs Keycloak's read scope
  stoa.platform.gateway_scope_mapping:
    auth_server_alias: KeycloakOIDC
    tenant: tenant-demo
    api_name: petstore-api
    api_version: "1.0.0"
    scope: read
"""

RETURN = r"""
name:
  description: The mapping's name on the gateway.
  returned: always
  type: str
  sample: KeycloakOIDC:tenant-demo:petstore-api:1.0.0:read
id:
  description: Id of the mapping.
  returned: when it exists or existed (not in check mode for a new one)
  type: str
existing:
  description: The mapping before.
  returned: always
  type: dict
end_state:
  description: The mapping after (predicted in check mode).
  returned: always
  type: dict
diff:
  description: The managed fields before and after.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayError
from ansible_collections.stoa.platform.plugins.module_utils.gateway_module import gateway_argument_spec, gateway_client
from ansible_collections.stoa.platform.plugins.module_utils.gateway_objects import (
    SCOPE_MAPPING,
    ObjectError,
    api_ids,
    compact,
    converge,
    scope_mapping_name,
)


def main():
    module = AnsibleModule(
        argument_spec=gateway_argument_spec(
            auth_server_alias=dict(type="str", required=True),
            tenant=dict(type="str", required=True),
            api_name=dict(type="str", required=True),
            api_version=dict(type="str", required=True),
            scope=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            audience=dict(type="str"),
            description=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    client = gateway_client(module)
    name = scope_mapping_name(p["auth_server_alias"], p["tenant"], p["api_name"], p["api_version"], p["scope"])
    try:
        desired = dict(scopeName=name)
        if p["state"] == "present":
            default_description = "%s on %s %s of %s" % (p["scope"], p["api_name"], p["api_version"], p["tenant"])
            desired.update(compact(dict(
                scopeDescription=p["description"] or default_description,
                audience=p["audience"],
                apiScopes=api_ids(client, [dict(name=p["api_name"], version=p["api_version"])]),
                requiredAuthScopes=[dict(authServerAlias=p["auth_server_alias"], scopeName=p["scope"])])))
        result = converge(SCOPE_MAPPING, client, desired, p["state"], module.check_mode)
    except (GatewayError, ObjectError) as exc:
        module.fail_json(msg=str(exc), name=name)
    module.exit_json(name=name, **result)


if __name__ == "__main__":
    main()
