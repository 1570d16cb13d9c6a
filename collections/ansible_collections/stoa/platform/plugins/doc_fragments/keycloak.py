# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How stoa.platform modules reach Keycloak's admin API (python-keycloak).
    DOCUMENTATION = r"""
options:
  keycloak_url:
    description:
      - Base URL of Keycloak, for example C(https://auth.example).
      - If not set, the value of the E(KEYCLOAK_URL) environment variable is used.
    type: str
  keycloak_admin_realm:
    description:
      - Realm the admin logs in to.
      - If not set, the value of the E(KEYCLOAK_ADMIN_REALM) environment variable is used, else V(master).
    type: str
    default: master
  keycloak_username:
    description:
      - Admin user (password grant).
      - If not set, the value of the E(KEYCLOAK_ADMIN_USERNAME) environment variable is used.
    type: str
  keycloak_password:
    description:
      - Its password.
      - If not set, the value of the E(KEYCLOAK_ADMIN_PASSWORD) environment variable is used.
    type: str
  keycloak_client_id:
    description:
      - Client used to log in; a confidential client with O(keycloak_client_secret) for client credentials.
    type: str
    default: admin-cli
  keycloak_client_secret:
    description:
      - Secret of O(keycloak_client_id), for the client credentials grant (used when no O(keycloak_username)).
      - If not set, the value of the E(KEYCLOAK_ADMIN_CLIENT_SECRET) environment variable is used.
    type: str
  keycloak_validate_certs:
    description:
      - Verify Keycloak's TLS certificate.
    type: bool
    default: true
  keycloak_timeout:
    description:
      - Seconds to wait for Keycloak.
    type: int
    default: 30
requirements:
  - python-keycloak
"""
