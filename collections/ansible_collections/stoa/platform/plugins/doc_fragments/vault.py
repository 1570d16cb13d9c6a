# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How stoa.platform modules resolve vault:<mount>/data/<path>#<key> references (KV v2).
    DOCUMENTATION = r"""
options:
  vault_addr:
    description:
      - Address of the Vault (or OpenBao) server that holds the secrets references point to.
      - If not set, the value of the E(VAULT_ADDR) environment variable is used.
    type: str
  vault_auth_method:
    description:
      - How to log in to Vault.
      - If not set, the value of the E(VAULT_AUTH_METHOD) environment variable is used, else V(token).
    type: str
    choices: [token, approle]
    default: token
  vault_token:
    description:
      - Token for O(vault_auth_method=token).
      - If not set, the value of the E(VAULT_TOKEN) environment variable is used.
    type: str
  vault_role_id:
    description:
      - Role id for O(vault_auth_method=approle).
      - If not set, the value of the E(VAULT_ROLE_ID) environment variable is used.
    type: str
  vault_secret_id:
    description:
      - Secret id for O(vault_auth_method=approle).
      - If not set, the value of the E(VAULT_SECRET_ID) environment variable is used.
    type: str
  vault_approle_mount:
    description:
      - Mount point of the AppRole auth method.
    type: str
    default: approle
  vault_namespace:
    description:
      - Vault Enterprise namespace.
      - If not set, the value of the E(VAULT_NAMESPACE) environment variable is used.
    type: str
  vault_validate_certs:
    description:
      - Verify Vault's TLS certificate.
    type: bool
    default: true
  vault_timeout:
    description:
      - Seconds to wait for Vault.
    type: int
    default: 30
requirements:
  - hvac
notes:
  - A reference is C(vault:<mount>/data/<path>#<key>) for a KV version 2 engine, for example
    C(vault:secret/data/dev/payment-backend#client_secret). It is resolved when the module needs the value,
    once per run, and the value never appears in results, logs or diffs. A missing secret or key, or a denied
    read, fails with a message naming the reference.
"""
