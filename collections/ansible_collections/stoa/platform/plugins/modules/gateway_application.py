#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_application
short_description: An application of a webMethods API Gateway, its identifiers, strategies and subscriptions
version_added: 0.1.0
description:
  - Creates, updates or deletes one application, found by name, with its identifiers, its authentication
    strategies (by name) and the APIs it is subscribed to (by name and version), in one call.
  - The subscriptions are set as a whole (C(PUT /applications/{id}/apis) replaces the set), so O(apis) lists every
    API the application may call.
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.gateway
options:
  name:
    description: Application name, unique on the gateway.
    type: str
    required: true
  state:
    description: Whether the application should exist.
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Description.
    type: str
  version:
    description: Application version label.
    type: str
  identifiers:
    description:
      - How the gateway recognises the application's calls. An identifier filters nothing unless the API has an
        Identify & Authorize policy using it (see O(stoa.platform.gateway_api#module:policies.authentication)).
    type: list
    elements: dict
    suboptions:
      key:
        description: Kind of identifier; V(openIdClaims) with name C(azp) matches an OIDC client id.
        type: str
        required: true
        choices: [partnerId, ipAddressRange, httpsCertificate, jwtClaims, hostNameAddress, token, httpBasicAuth,
                  wssecUsernameToken, payloadElement, openIdClaims]
      name:
        description: Name of the identifier (the claim for claims).
        type: str
      value:
        description: Values. An IP range is C(a-b); a CIDR is silently ignored by 10.15.
        type: list
        elements: str
        required: true
  strategies:
    description: Names of the authentication strategies (M(stoa.platform.gateway_strategy)) of the application.
    type: list
    elements: str
  apis:
    description: The APIs the application is subscribed to; when set, subscriptions not listed are removed.
    type: list
    elements: dict
    suboptions:
      name:
        description: API name.
        type: str
        required: true
      version:
        description: API version.
        type: str
        required: true
  contact_emails:
    description: Contacts.
    type: list
    elements: str
notes:
  - Support for check_mode is full, for diff_mode full.
seealso:
  - module: stoa.platform.gateway_strategy
  - module: stoa.platform.gateway_api
"""

EXAMPLES = r"""
- name: The portal of tenant-demo, identified by its Keycloak client, subscribed to petstore 1.0.0
  stoa.platform.gateway_application:
    name: tenant-demo-portal
    identifiers:
      - key: openIdClaims
        name: azp
        value: [tenant-demo-portal]
    strategies: [tenant-demo-portal]
    apis:
      - name: petstore-api
        version: "1.0.0"
"""

RETURN = r"""
id:
  description: Id of the application.
  returned: when it exists or existed (not in check mode for a new one)
  type: str
existing:
  description: The application before (its API key is never returned).
  returned: always
  type: dict
end_state:
  description: The application after (predicted in check mode).
  returned: always
  type: dict
diff:
  description: The managed fields and the subscribed API ids, before and after.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayError
from ansible_collections.stoa.platform.plugins.module_utils.gateway_module import gateway_argument_spec, gateway_client
from ansible_collections.stoa.platform.plugins.module_utils.gateway_objects import (
    APPLICATION,
    ObjectError,
    api_ids,
    compact,
    converge,
)

IDENTIFIER_KEYS = ["partnerId", "ipAddressRange", "httpsCertificate", "jwtClaims", "hostNameAddress", "token",
                   "httpBasicAuth", "wssecUsernameToken", "payloadElement", "openIdClaims"]


def without_credentials(app):
    if isinstance(app, dict):
        return dict((k, v) for k, v in app.items() if k != "accessTokens")
    return app


def strategy_ids(module, client, names):
    known = dict((s.get("name"), s.get("id")) for s in client.list_strategies())
    missing = [n for n in names if n not in known]
    if missing and module.check_mode:
        # In check mode an earlier task may only have predicted the strategy: show it by name.
        module.warn("check mode: strategy %s does not exist yet; shown by name" % ", ".join(missing))
        return [known.get(n, "(new) %s" % n) for n in names]
    if missing:
        raise ObjectError("no strategy named %s on the gateway; create it first (stoa.platform.gateway_strategy)"
                          % ", ".join(missing))
    return [known[n] for n in names]


def main():
    module = AnsibleModule(
        argument_spec=gateway_argument_spec(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            description=dict(type="str"),
            version=dict(type="str"),
            identifiers=dict(type="list", elements="dict", options=dict(
                key=dict(type="str", required=True, no_log=False, choices=IDENTIFIER_KEYS),
                name=dict(type="str"),
                value=dict(type="list", elements="str", required=True),
            )),
            strategies=dict(type="list", elements="str"),
            apis=dict(type="list", elements="dict", options=dict(
                name=dict(type="str", required=True),
                version=dict(type="str", required=True),
            )),
            contact_emails=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    client = gateway_client(module)
    try:
        identifiers = None if p["identifiers"] is None else [compact(i) for i in p["identifiers"]]
        desired = compact(dict(name=p["name"], description=p["description"], version=p["version"],
                               identifiers=identifiers, contactEmails=p["contact_emails"],
                               authStrategyIds=None if p["strategies"] is None else strategy_ids(module, client, p["strategies"])))
        wanted_apis = None
        if p["state"] == "present" and p["apis"] is not None:
            wanted_apis = sorted(api_ids(client, p["apis"]))
        result = converge(APPLICATION, client, desired, p["state"], module.check_mode)
        if wanted_apis is not None:
            current_apis = sorted(client.application_apis(result["id"])) if result.get("id") else []
            result["diff"]["before"]["apis"] = current_apis
            result["diff"]["after"]["apis"] = wanted_apis
            if current_apis != wanted_apis:
                result["changed"] = True
                if not module.check_mode:
                    client.set_application_apis(result["id"], wanted_apis)
            result["api_ids"] = wanted_apis
    except (GatewayError, ObjectError) as exc:
        module.fail_json(msg=str(exc))
    result["existing"] = without_credentials(result["existing"])
    result["end_state"] = without_credentials(result["end_state"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
