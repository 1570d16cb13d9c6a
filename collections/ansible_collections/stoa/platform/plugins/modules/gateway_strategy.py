#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_strategy
short_description: An OAuth2/JWT authentication strategy of a webMethods API Gateway
version_added: 0.1.0
description:
  - Creates, updates or deletes one authentication strategy (C(/strategies)), found by name; updates in place.
  - A strategy ties an application to a client of an authorization server alias (for example a Keycloak client),
    so that the gateway identifies the application from the tokens that client gets.
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.gateway
options:
  name:
    description: Strategy name, unique on the gateway.
    type: str
    required: true
  state:
    description: Whether the strategy should exist.
    type: str
    choices: [present, absent]
    default: present
  type:
    description: Kind of strategy. V(OAUTH2) validates tokens of an external authorization server.
    type: str
    choices: [OAUTH2, JWT_RSA, JWT_HSA, OPENID_CONNECT_RSA, OPENID_CONNECT_HSA, OAUTH2_LOCAL_RSA, OAUTH2_LOCAL_HSA]
    default: OAUTH2
  auth_server_alias:
    description: Name of the authorization server alias (see M(stoa.platform.gateway_alias)). Required to create.
    type: str
  client_id:
    description: The client at the authorization server whose tokens identify the application.
    type: str
  audience:
    description: Audience the tokens must carry.
    type: str
  description:
    description: Description.
    type: str
notes:
  - Support for check_mode is full, for diff_mode full.
seealso:
  - module: stoa.platform.gateway_application
  - module: stoa.platform.gateway_alias
"""

EXAMPLES = r"""
- name: Identify the portal application from Keycloak tokens of its client
  stoa.platform.gateway_strategy:
    name: tenant-demo-portal
    auth_server_alias: KeycloakOIDC
    client_id: tenant-demo-portal
    audience: api-gateway
"""

RETURN = r"""
id:
  description: Id of the strategy.
  returned: when it exists or existed (not in check mode for a new one)
  type: str
existing:
  description: The strategy before.
  returned: always
  type: dict
end_state:
  description: The strategy after (predicted in check mode).
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
from ansible_collections.stoa.platform.plugins.module_utils.gateway_objects import STRATEGY, ObjectError, compact, run


def main():
    module = AnsibleModule(
        argument_spec=gateway_argument_spec(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            type=dict(type="str", default="OAUTH2", choices=["OAUTH2", "JWT_RSA", "JWT_HSA", "OPENID_CONNECT_RSA",
                                                             "OPENID_CONNECT_HSA", "OAUTH2_LOCAL_RSA", "OAUTH2_LOCAL_HSA"]),
            auth_server_alias=dict(type="str"),
            client_id=dict(type="str"),
            audience=dict(type="str"),
            description=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    desired = compact(dict(name=p["name"], type=p["type"], authServerAlias=p["auth_server_alias"],
                           clientId=p["client_id"], audience=p["audience"], description=p["description"]))
    run(module, STRATEGY, gateway_client(module), desired, (GatewayError, ObjectError))


if __name__ == "__main__":
    main()
