#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: keycloak_client_secret
short_description: Set a confidential Keycloak client's secret to the value held in Vault
version_added: 0.1.0
description:
  - Makes the secret of one confidential client equal to a value, normally a Vault reference, so that Vault stays
    the source of the secret and Keycloak follows it (credential rotation).
  - Compares with the client's current secret and writes only when they differ. Neither value is ever returned.
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.keycloak
  - stoa.platform.vault
options:
  realm:
    description: The client's realm.
    type: str
    required: true
  client_id:
    description: The client's C(clientId).
    type: str
    required: true
  secret:
    description: The secret, as a C(vault:<mount>/data/<path>#<key>) reference or a value.
    type: str
    required: true
notes:
  - Check mode compares and writes nothing.
  - Support for check_mode is full, for diff_mode none (a secret has no diff to show).
"""

EXAMPLES = r"""
- name: Keycloak follows the rotated secret of the api-gateway client
  stoa.platform.keycloak_client_secret:
    realm: stoa
    client_id: api-gateway
    secret: vault:secret/data/dev/keycloak/api-gateway#client_secret
"""

RETURN = r"""
client_uuid:
  description: Keycloak's internal id of the client.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stoa.platform.plugins.module_utils.keycloak_connection import (
    KeycloakConnectionError,
    KeycloakError,
    keycloak_admin,
    keycloak_argument_spec,
)
from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import (
    VaultRefError,
    VaultResolver,
    is_reference,
    vault_argument_spec,
)


def main():
    spec = dict(
        realm=dict(type="str", required=True),
        client_id=dict(type="str", required=True),
        secret=dict(type="str", required=True, no_log=True),
    )
    spec.update(keycloak_argument_spec())
    spec.update(vault_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    try:
        wanted = VaultResolver(p).resolve(p["secret"]) if is_reference(p["secret"]) else p["secret"]
        module.no_log_values.add(wanted)
        admin = keycloak_admin(p, p["realm"])
        uuid = admin.get_client_id(p["client_id"])
        if uuid is None:
            module.fail_json(msg="no client %s in realm %s" % (p["client_id"], p["realm"]))
        current = (admin.get_client_secrets(uuid) or {}).get("value")
        changed = current != wanted
        if changed and not module.check_mode:
            admin.update_client(uuid, {"secret": wanted})
    except (VaultRefError, KeycloakConnectionError) as exc:
        module.fail_json(msg=str(exc))
    except KeycloakError as exc:
        module.fail_json(msg="Keycloak refused to update client %s in realm %s: HTTP %s"
                             % (p["client_id"], p["realm"], getattr(exc, "response_code", "?")))
    module.exit_json(changed=changed, client_uuid=uuid)


if __name__ == "__main__":
    main()
