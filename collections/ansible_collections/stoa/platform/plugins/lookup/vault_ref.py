# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: vault_ref
short_description: Resolve vault:<mount>/data/<path>#<key> references of the GitOps repository
version_added: 0.1.0
description:
  - Reads the values that Vault references point to, from a KV version 2 engine, with the same code the
    collection's modules use (one read per secret path and call).
  - Errors name the reference, never a value. Mark tasks that use the values with C(no_log).
author:
  - STOA platform team (@stoa-platform)
requirements:
  - hvac
options:
  _terms:
    description: One or more references, for example C(vault:secret/data/dev/payment-backend#client_secret).
    type: list
    elements: str
    required: true
  vault_addr:
    description: Address of the Vault (or OpenBao) server.
    type: str
    env:
      - name: VAULT_ADDR
  vault_auth_method:
    description: How to log in.
    type: str
    choices: [token, approle]
    default: token
    env:
      - name: VAULT_AUTH_METHOD
  vault_token:
    description: Token for O(vault_auth_method=token).
    type: str
    env:
      - name: VAULT_TOKEN
  vault_role_id:
    description: Role id for O(vault_auth_method=approle).
    type: str
    env:
      - name: VAULT_ROLE_ID
  vault_secret_id:
    description: Secret id for O(vault_auth_method=approle).
    type: str
    env:
      - name: VAULT_SECRET_ID
  vault_approle_mount:
    description: Mount point of the AppRole auth method.
    type: str
    default: approle
  vault_namespace:
    description: Vault Enterprise namespace.
    type: str
    env:
      - name: VAULT_NAMESPACE
  vault_validate_certs:
    description: Verify Vault's TLS certificate.
    type: bool
    default: true
  vault_timeout:
    description: Seconds to wait for Vault.
    type: int
    default: 30
seealso:
  - module: stoa.platform.gateway_alias
"""

EXAMPLES = r"""
- name: Use a backend password from Vault without printing it
  ansible.builtin.uri:
    url: https://backend.internal/health
    url_username: svc-gateway
    url_password: "{{ lookup('stoa.platform.vault_ref', 'vault:secret/data/dev/payment-backend#password') }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: The values, in the order of the references.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.lookup import LookupBase

from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import (
    VaultRefError,
    VaultResolver,
    parse_reference,
)

OPTION_NAMES = ("vault_addr", "vault_auth_method", "vault_token", "vault_role_id", "vault_secret_id",
                "vault_approle_mount", "vault_namespace", "vault_validate_certs", "vault_timeout")


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        options = dict((name, self.get_option(name)) for name in OPTION_NAMES)
        try:
            references = [parse_reference(term) for term in terms]  # all malformed ones fail before any read
            resolver = VaultResolver(options)
            return [resolver.resolve(reference) for reference in references]
        except VaultRefError as exc:
            raise AnsibleLookupError("stoa.platform.vault_ref: %s" % to_native(exc))
