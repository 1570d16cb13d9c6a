# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every gateway module shares: connection options, turning them into a client, Vault references."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient
from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import (
    HAS_HVAC,
    VaultRefError,
    VaultResolver,
    parse_reference,
)


def gateway_argument_spec(**module_options):
    """The connection options (doc fragment stoa.platform.gateway) plus the module's own."""
    spec = dict(
        gateway_url=dict(type="str", fallback=(env_fallback, ["STOA_GATEWAY_URL"])),
        gateway_username=dict(type="str", fallback=(env_fallback, ["STOA_GATEWAY_USERNAME"])),
        gateway_password=dict(type="str", no_log=True, fallback=(env_fallback, ["STOA_GATEWAY_PASSWORD"])),
        gateway_token=dict(type="str", no_log=True, fallback=(env_fallback, ["STOA_GATEWAY_TOKEN"])),
        validate_certs=dict(type="bool", fallback=(env_fallback, ["STOA_GATEWAY_VALIDATE_CERTS"])),
        timeout=dict(type="int", default=30),
        retries=dict(type="int", default=3),
    )
    spec.update(module_options)
    return spec


def gateway_client(module):
    """A client from the module's connection options; fails the module on missing ones."""
    params = module.params
    if not params["gateway_url"]:
        module.fail_json(msg="gateway_url is required (or set STOA_GATEWAY_URL)")
    if not params["gateway_token"] and not params["gateway_username"]:
        module.fail_json(msg="give gateway_username and gateway_password, or gateway_token "
                             "(or set STOA_GATEWAY_USERNAME/STOA_GATEWAY_PASSWORD or STOA_GATEWAY_TOKEN)")
    validate_certs = params["validate_certs"]
    return GatewayClient(
        params["gateway_url"],
        username=params["gateway_username"],
        password=params["gateway_password"],
        token=params["gateway_token"],
        validate_certs=True if validate_certs is None else boolean(validate_certs),
        timeout=params["timeout"],
        retries=params["retries"],
    )


def vault_values(module, references):
    """({reference: value}, {reference: error message}) for Vault references, each secret path read once.

    Every malformed reference is reported before Vault is contacted; a reference that cannot be read
    does not stop the others (the caller decides what fails). Values join ``module.no_log_values``.
    """
    if not references:
        return {}, {}
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib("hvac"))
    values, errors = {}, {}
    wellformed = []
    for reference in sorted(references):
        try:
            parse_reference(reference)
            wellformed.append(reference)
        except VaultRefError as exc:
            errors[reference] = str(exc)
    if errors or not wellformed:
        return values, errors
    try:
        resolver = VaultResolver(module.params)
    except VaultRefError as exc:
        return values, dict((reference, str(exc)) for reference in wellformed)
    for reference in wellformed:
        try:
            values[reference] = resolver.resolve(reference)
            module.no_log_values.add(values[reference])  # belt and braces: never in any output
        except VaultRefError as exc:
            errors[reference] = str(exc)
    return values, errors
