#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: keycloak_platform_realm
short_description: The platform's Keycloak realm and its five clients
version_added: 0.1.0
description:
  - Makes the realm (C(stoa) by default) and the platform's clients of the design exist, C(control-plane-api)
    and C(api-gateway) (confidential, secrets from Vault references), C(control-plane-ui) and C(stoa-portal)
    (public, PKCE S256, redirect URIs per environment), and C(developer-portal) (public).
  - Compares only the fields it manages and updates in place; check and diff modes.
  - Before any request (check mode too), the realm name, the environments' URLs and O(direct_access_grants) are
    checked and every secret reference is resolved; a refusal names the field (C(client_secrets.api-gateway)).
    A write that Keycloak still refuses is reported with the operation it was.
  - Tenants and their members are M(stoa.platform.keycloak_tenant)'s job.
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.keycloak
  - stoa.platform.vault
options:
  realm:
    description: Realm name.
    type: str
    default: stoa
  display_name:
    description: Realm display name.
    type: str
    default: STOA API Management
  environments:
    description: The environments whose web applications log in through the realm.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Environment name.
        type: str
        required: true
      console_url:
        description: Base URL of the console (C(control-plane-ui)).
        type: str
      portal_url:
        description: Base URL of the STOA portal (C(stoa-portal)).
        type: str
      developer_portal_url:
        description: Base URL of the developer portal (C(developer-portal)).
        type: str
  client_secrets:
    description: Secrets of the confidential clients, as C(vault:) references (or values), by client id.
    type: dict
    default: {}
  direct_access_grants:
    description: Clients that accept the password grant (for tests and scripts in a dev realm only).
    type: list
    elements: str
    default: []
notes:
  - Support for check_mode is full, for diff_mode full.
seealso:
  - module: stoa.platform.keycloak_tenant
"""

EXAMPLES = r"""
- name: The stoa realm for dev
  stoa.platform.keycloak_platform_realm:
    environments:
      - name: dev
        console_url: https://console.dev.stoa.cab-i.com
        portal_url: https://portal.dev.stoa.cab-i.com
        developer_portal_url: https://developers.dev.stoa.cab-i.com
    client_secrets:
      control-plane-api: vault:secret/data/dev/keycloak/control-plane-api#client_secret
      api-gateway: vault:secret/data/dev/keycloak/api-gateway#client_secret
"""

RETURN = r"""
existing:
  description: The managed fields of the realm and clients before.
  returned: always
  type: dict
end_state:
  description: The managed fields after (predicted in check mode).
  returned: always
  type: dict
diff:
  description: C(existing) and C(end_state).
  returned: always
  type: dict
operations:
  description: What was (or would be) done.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stoa.platform.plugins.module_utils.gateway_objects import managed, normalise
from ansible_collections.stoa.platform.plugins.module_utils.keycloak_connection import (
    KeycloakConnectionError,
    KeycloakError,
    KeycloakWriteError,
    keycloak_admin,
    keycloak_argument_spec,
    keycloak_error_text,
    run_operations,
)
from ansible_collections.stoa.platform.plugins.module_utils.keycloak_tenant_model import (
    TenantSpecError,
    base_url_problems,
    realm_name_problems,
)
from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import (
    VaultRefError,
    LazyVaultResolver,
    vault_argument_spec,
)

CLIENTS = ("control-plane-api", "control-plane-ui", "stoa-portal", "api-gateway", "developer-portal")
CONFIDENTIAL = ("control-plane-api", "api-gateway")
URL_OPTION = {"control-plane-ui": "console_url", "stoa-portal": "portal_url", "developer-portal": "developer_portal_url"}


def desired_clients(p):
    clients = {}
    for client_id in CLIENTS:
        client = {"clientId": client_id, "enabled": True, "protocol": "openid-connect",
                  "publicClient": client_id not in CONFIDENTIAL,
                  "standardFlowEnabled": client_id not in ("api-gateway",),
                  "directAccessGrantsEnabled": client_id in p["direct_access_grants"],
                  "serviceAccountsEnabled": client_id in CONFIDENTIAL}
        if client_id in URL_OPTION:
            urls = [e[URL_OPTION[client_id]].rstrip("/") for e in p["environments"] if e.get(URL_OPTION[client_id])]
            client["redirectUris"] = sorted(u + "/*" for u in urls)
            client["webOrigins"] = sorted(urls)
        if client_id in ("control-plane-ui", "stoa-portal"):
            client["attributes"] = {"pkce.code.challenge.method": "S256"}
        clients[client_id] = client
    return clients


def check_inputs(module):
    """Every option Keycloak would refuse or misread, and every secret reference resolved, before any request.

    Returns {client id: secret}; raises TenantSpecError with every problem, each naming its field
    (``client_secrets.api-gateway: ...``, ``environments[0].console_url: ...``).
    """
    p = module.params
    problems = realm_name_problems(p["realm"], "realm")
    for position, environment in enumerate(p["environments"]):
        for option in sorted(set(URL_OPTION.values())):
            if environment.get(option) is not None:
                problems.extend(base_url_problems(environment[option], "environments[%d].%s" % (position, option)))
    for position, client_id in enumerate(p["direct_access_grants"]):
        if client_id not in CLIENTS:
            problems.append("direct_access_grants[%d]: %s is not one of the platform's clients (%s)"
                            % (position, client_id, ", ".join(CLIENTS)))
    secrets, vault = {}, LazyVaultResolver(p)
    for client_id, value in sorted(p["client_secrets"].items()):
        if client_id not in CONFIDENTIAL:
            problems.append("client_secrets.%s: not a confidential client (%s)" % (client_id, ", ".join(CONFIDENTIAL)))
            continue
        try:
            value = vault.value(value)
        except VaultRefError as exc:
            problems.append("client_secrets.%s: %s" % (client_id, exc))
            continue
        if not value:
            problems.append("client_secrets.%s: the secret is empty" % client_id)
            continue
        module.no_log_values.add(value)
        secrets[client_id] = value
    if problems:
        raise TenantSpecError("; ".join(problems))
    return secrets


def main():
    spec = dict(
        realm=dict(type="str", default="stoa"),
        display_name=dict(type="str", default="STOA API Management"),
        environments=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True), console_url=dict(type="str"), portal_url=dict(type="str"),
            developer_portal_url=dict(type="str"))),
        client_secrets=dict(type="dict", default={}, no_log=True),
        direct_access_grants=dict(type="list", elements="str", default=[]),
    )
    spec.update(keycloak_argument_spec())
    spec.update(vault_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    operations, before, after = [], {}, {}  # operations: (description, function, args)
    try:
        secrets = check_inputs(module)  # nothing is asked of Keycloak before this
        admin = keycloak_admin(p, "master")
        realms = dict((r["realm"], r) for r in admin.get_realms())
        realm = {"realm": p["realm"], "enabled": True, "displayName": p["display_name"]}
        current_realm = realms.get(p["realm"])
        before["realm"] = normalise(managed(current_realm, realm)) if current_realm else {}
        after["realm"] = normalise(realm)
        if current_realm is None:
            operations.append(("create realm %s" % p["realm"], admin.create_realm, (realm,)))
        elif before["realm"] != after["realm"]:
            operations.append(("update realm %s" % p["realm"], admin.update_realm, (p["realm"], realm)))
        existing = {}
        if current_realm is not None:
            admin.change_current_realm(p["realm"])
            existing = dict((c["clientId"], c) for c in admin.get_clients())
        for client_id, client in desired_clients(p).items():
            current = existing.get(client_id)
            before[client_id] = normalise(managed(current, client)) if current else {}
            after[client_id] = normalise(client)
            secret_differs = False
            if client_id in secrets and current is not None:
                secret_differs = (admin.get_client_secrets(current["id"]) or {}).get("value") != secrets[client_id]
            payload = dict(client, secret=secrets[client_id]) if client_id in secrets else client
            if current is None:
                operations.append(("create client %s" % client_id, admin.create_client, (payload,)))
            elif before[client_id] != after[client_id] or secret_differs:
                operations.append(("update client %s" % client_id + (" (secret)" if secret_differs else ""),
                                   admin.update_client, (current["id"], payload)))
        if operations and not module.check_mode:
            writes = list(operations)
            if current_realm is None:  # the clients are written in the realm the first operation creates
                writes.insert(1, ("work in realm %s" % p["realm"], admin.change_current_realm, (p["realm"],)))
            run_operations(writes, "realm %s" % p["realm"])
    except (TenantSpecError, KeycloakConnectionError, KeycloakWriteError) as exc:
        module.fail_json(msg=str(exc), operations=[d for d, _f, _a in operations])
    except KeycloakError as exc:
        module.fail_json(msg="realm %s: reading from Keycloak failed: %s" % (p["realm"], keycloak_error_text(exc)))
    module.exit_json(changed=bool(operations), operations=[d for d, _f, _a in operations], existing=before,
                     end_state=after, diff=dict(before=before, after=after))


if __name__ == "__main__":
    main()
