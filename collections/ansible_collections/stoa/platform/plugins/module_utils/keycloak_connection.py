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

import json

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


class KeycloakWriteError(Exception):
    """Keycloak refused one of the planned writes; the message names the operation and what was done before it."""


def keycloak_error_text(exc):
    """``HTTP 400: username: error-username-invalid-character`` from a python-keycloak error.

    Keycloak answers a refusal with one of ``{"field", "errorMessage", "params"}``, ``{"errors": [...]}`` of those,
    ``{"errorMessage"}`` or ``{"error", "error_description"}``; anything else is quoted as it came (shortened).
    """
    raw = getattr(exc, "error_message", "") or ""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        body = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        body = raw
    if isinstance(body, dict):
        entries = body.get("errors") if isinstance(body.get("errors"), list) else [body]
        parts = []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            message = entry.get("errorMessage") or entry.get("error_description") or entry.get("error") or ""
            parts.append("%s: %s" % (entry["field"], message) if entry.get("field") else str(message))
        text = "; ".join(p for p in parts if p)
    else:
        text = str(body or "")
    text = text if len(text) <= 300 else text[:300] + "..."
    return "HTTP %s%s" % (getattr(exc, "response_code", "?"), ": " + text if text else "")


def run_operations(operations, subject):
    """Execute planned ``(description, function, args)`` in order.

    A refusal raises :class:`KeycloakWriteError` naming ``subject`` (``tenant tenant-demo``), the refused operation
    and how many operations were done before it, so that the next run is known to complete the rest.
    """
    for done, (description, function, args) in enumerate(operations):
        try:
            function(*args)
        except KeycloakError as exc:
            raise KeycloakWriteError("%s: Keycloak refused to %s (%s); %d of %d planned operations were done before, "
                                     "the next run completes the rest"
                                     % (subject, description, keycloak_error_text(exc), done, len(operations)))
