# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Keycloak admin connection for the collection's modules, on python-keycloak.

One place for the options (doc fragment stoa.platform.keycloak, ``KEYCLOAK_*``
environment fallbacks) and for logging in, by password or client credentials.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import env_fallback

try:
    from keycloak import KeycloakAdmin
    from keycloak.exceptions import KeycloakError

    HAS_KEYCLOAK = True
except ImportError:  # pragma: no cover - reported with missing_required_lib
    HAS_KEYCLOAK = False

    class KeycloakError(Exception):
        """Placeholder so that except clauses stay valid without python-keycloak."""


def keycloak_argument_spec():
    return dict(
        keycloak_url=dict(type="str", no_log=False, fallback=(env_fallback, ["KEYCLOAK_URL"])),
        keycloak_admin_realm=dict(type="str", default="master", no_log=False, fallback=(env_fallback, ["KEYCLOAK_ADMIN_REALM"])),
        keycloak_username=dict(type="str", no_log=False, fallback=(env_fallback, ["KEYCLOAK_ADMIN_USERNAME"])),
        keycloak_password=dict(type="str", no_log=True, fallback=(env_fallback, ["KEYCLOAK_ADMIN_PASSWORD"])),
        keycloak_client_id=dict(type="str", default="admin-cli"),
        keycloak_client_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["KEYCLOAK_ADMIN_CLIENT_SECRET"])),
        keycloak_validate_certs=dict(type="bool", default=True),
        keycloak_timeout=dict(type="int", default=30),
    )


class KeycloakConnectionError(Exception):
    """Missing options or a failed login; the message never holds a credential."""


def keycloak_admin(params, realm):
    """A KeycloakAdmin logged in to the admin realm and working on ``realm``."""
    if not HAS_KEYCLOAK:
        raise KeycloakConnectionError("the python-keycloak library is required")
    if not params.get("keycloak_url"):
        raise KeycloakConnectionError("keycloak_url is required (or set KEYCLOAK_URL)")
    options = dict(server_url=params["keycloak_url"], realm_name=realm, user_realm_name=params["keycloak_admin_realm"],
                   client_id=params["keycloak_client_id"], verify=params["keycloak_validate_certs"],
                   timeout=params["keycloak_timeout"])
    if params.get("keycloak_username"):
        options.update(username=params["keycloak_username"], password=params.get("keycloak_password"))
    elif params.get("keycloak_client_secret"):
        options.update(client_secret_key=params["keycloak_client_secret"], grant_type="client_credentials")
    else:
        raise KeycloakConnectionError("give keycloak_username and keycloak_password, or keycloak_client_secret "
                                      "(or set KEYCLOAK_ADMIN_USERNAME/KEYCLOAK_ADMIN_PASSWORD)")
    try:
        admin = KeycloakAdmin(**options)
        admin.get_realm(realm)  # logs in and checks the realm in one request
    except KeycloakError as exc:
        raise KeycloakConnectionError("Keycloak at %s: cannot work on realm %s: HTTP %s"
                                      % (params["keycloak_url"], realm, getattr(exc, "response_code", "?")))
    return admin
