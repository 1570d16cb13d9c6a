#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: keycloak_platform_accounts
short_description: Global admins and service accounts of the platform in Keycloak
version_added: 0.1.0
description:
  - Makes the global administrators of C(iam/global-admins.yaml) users with the realm role C(cpi-admin), and the
    service accounts of C(iam/service-accounts.yaml) confidential clients C(sa-<id>) whose service-account user holds
    their realm roles and whose secret comes from a Vault reference.
  - With O(mode=exact), C(cpi-admin) is revoked from the users who are not listed (they are never deleted).
  - Operations are planned from what Keycloak holds, so check mode reports what the real run does, and a run that
    stopped half-way is completed by the next one.
  - Before the first write (check mode too), every administrator is checked against the realm's user profile and
    every secret reference is resolved; a refusal names the field (C(admins[1].email), C(service_accounts[0].secret)).
    A write that Keycloak still refuses is reported with the operation it was.
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.keycloak
  - stoa.platform.vault
options:
  realm:
    description: The platform's realm (its realm roles must exist, see M(stoa.platform.keycloak_tenant)).
    type: str
    default: stoa
  admins:
    description: The global administrators.
    type: list
    elements: dict
    default: []
    suboptions:
      email:
        description: E-mail, also the username.
        type: str
        required: true
      name:
        description: Full name.
        type: str
  service_accounts:
    description: The platform's service accounts.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Account id; the client is C(sa-<id>).
        type: str
        required: true
      roles:
        description: Realm roles of the account.
        type: list
        elements: str
        choices: [cpi-admin, devops, viewer]
        default: []
      secret:
        description: The client secret, as a C(vault:) reference; without it Keycloak generates one.
        type: str
      description:
        description: Description.
        type: str
  mode:
    description: V(exact) revokes C(cpi-admin) from unlisted users; V(merge) only adds.
    type: str
    choices: [exact, merge]
    default: exact
notes:
  - Support for check_mode is full, for diff_mode none (see RV(operations)).
seealso:
  - module: stoa.platform.keycloak_tenant
"""

EXAMPLES = r"""
- name: Global admins and service accounts from the GitOps repository
  stoa.platform.keycloak_platform_accounts:
    admins:
      - {email: admin@stoa.local, name: Platform Admin}
    service_accounts:
      - id: awx-automation
        roles: [devops]
        secret: vault:secret/data/platform/service-accounts/awx#client_secret
"""

RETURN = r"""
operations:
  description: What was (or would be) done, in order.
  returned: always
  type: list
  elements: str
admins:
  description: The users holding C(cpi-admin) afterwards (predicted in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

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
    client_id_problems,
    split_name,
    user_problems,
)
from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import (
    VaultRefError,
    LazyVaultResolver,
    vault_argument_spec,
)

MANAGED_ROLES = ("cpi-admin", "devops", "viewer")


def desired_admins(admins):
    """{e-mail: (index, first name, last name)}; a missing or repeated e-mail is refused (TenantSpecError)."""
    problems, result = [], {}
    for position, entry in enumerate(admins):
        email = (entry.get("email") or "").strip().lower()
        if not email:
            problems.append("admins[%d].email: an e-mail address is required" % position)
        elif email in result:
            problems.append("admins[%d].email: %s is listed twice" % (position, email))
        else:
            result[email] = (position,) + split_name(entry.get("name"), email)
    if problems:
        raise TenantSpecError("; ".join(problems))
    return result


def check_inputs(module, admin, wanted_admins):
    """Every admin against the realm's user profile, every service account's client id and secret reference.

    Runs before the first write (check mode too); returns {account id: secret or None}; raises TenantSpecError
    with every problem, each naming its field (``admins[1].email: ...``, ``service_accounts[0].secret: ...``).
    """
    p = module.params
    try:
        profile = admin.get_realm_users_profile()
    except KeycloakError:
        profile = None  # before Keycloak 24: the default rules
    problems = []
    for email, (position, first, last) in sorted(wanted_admins.items(), key=lambda item: item[1][0]):
        problems.extend(user_problems(profile, {
            "username": ("email", "as the username", email), "email": ("email", "", email),
            "firstName": ("name", "as the first name", first), "lastName": ("name", "as the last name", last)},
            "admins[%d]" % position))
    secrets, vault, seen = {}, LazyVaultResolver(p), set()
    for position, account in enumerate(p["service_accounts"]):
        where = "service_accounts[%d]" % position
        client_id = "sa-" + account["id"]
        problems.extend(client_id_problems(client_id, where + ".id"))
        if client_id in seen:
            problems.append("%s.id: %s is listed twice" % (where, account["id"]))
        seen.add(client_id)
        try:
            secret = vault.value(account.get("secret"))
        except VaultRefError as exc:
            problems.append("%s.secret: %s" % (where, exc))
            continue
        if secret:
            module.no_log_values.add(secret)
        secrets[account["id"]] = secret
    if problems:
        raise TenantSpecError("; ".join(problems))
    return secrets


def main():
    spec = dict(
        realm=dict(type="str", default="stoa"),
        admins=dict(type="list", elements="dict", default=[], options=dict(
            email=dict(type="str", required=True), name=dict(type="str"))),
        service_accounts=dict(type="list", elements="dict", default=[], options=dict(
            id=dict(type="str", required=True),
            roles=dict(type="list", elements="str", default=[], choices=list(MANAGED_ROLES)),
            secret=dict(type="str", no_log=True),
            description=dict(type="str"))),
        mode=dict(type="str", choices=["exact", "merge"], default="exact"),
    )
    spec.update(keycloak_argument_spec())
    spec.update(vault_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    operations = []  # (description, function, args)

    def do(description, function, *args):
        operations.append((description, function, args))

    def service_account_user(client_id):
        return admin.get_client_service_account_user(admin.get_client_id(client_id))["id"]

    try:
        wanted_admins = desired_admins(p["admins"])
        admin = keycloak_admin(p, p["realm"])
        secrets = check_inputs(module, admin, wanted_admins)  # nothing written before this
        missing_roles = sorted(set(MANAGED_ROLES) - set(r["name"] for r in admin.get_realm_roles()))
        if missing_roles:
            raise TenantSpecError("realm %s has no realm role %s; stoa.platform.keycloak_tenant creates them"
                                  % (p["realm"], ", ".join(missing_roles)))
        holders = dict(((u.get("email") or u.get("username") or "").lower(), u)
                       for u in admin.get_realm_role_members("cpi-admin"))
        role = admin.get_realm_role("cpi-admin")
        for email, (_position, first, last) in sorted(wanted_admins.items()):
            if email in holders:
                continue
            found = admin.get_users({"email": email, "exact": True})
            if not found:
                do("create user %s" % email, admin.create_user,
                   {"username": email, "email": email, "emailVerified": True, "enabled": True, "firstName": first,
                    "lastName": last})
            do("grant %s the realm role cpi-admin" % email, lambda e=email: admin.assign_realm_roles(
                admin.get_users({"email": e, "exact": True})[0]["id"], [role]))
        if p["mode"] == "exact":
            for email, user in sorted(holders.items()):
                if email not in wanted_admins and not (user.get("username") or "").startswith("service-account-"):
                    do("revoke cpi-admin from %s" % email, admin.delete_realm_roles_of_user, user["id"], [role])
        clients = dict((c["clientId"], c) for c in admin.get_clients())
        for account in p["service_accounts"]:
            client_id = "sa-" + account["id"]
            secret = secrets.get(account["id"])
            payload = {"clientId": client_id, "enabled": True, "publicClient": False, "serviceAccountsEnabled": True,
                       "standardFlowEnabled": False, "directAccessGrantsEnabled": False,
                       "description": account.get("description") or "service account %s" % account["id"]}
            current = clients.get(client_id)
            if current is None:
                do("create client %s" % client_id, admin.create_client, dict(payload, **({"secret": secret} if secret else {})))
                current_roles = set()
            else:
                if any(current.get(k) != v for k, v in payload.items()) or (
                        secret and (admin.get_client_secrets(current["id"]) or {}).get("value") != secret):
                    do("update client %s" % client_id, admin.update_client, current["id"],
                       dict(payload, **({"secret": secret} if secret else {})))
                user = admin.get_client_service_account_user(current["id"])
                current_roles = set(r["name"] for r in admin.get_realm_roles_of_user(user["id"]))
            missing = sorted(set(account["roles"]) - current_roles)
            extra = sorted((current_roles & set(MANAGED_ROLES)) - set(account["roles"]))
            if missing:
                do("grant %s to %s" % (", ".join(missing), client_id), lambda c=client_id, m=missing: admin.assign_realm_roles(
                    service_account_user(c), [admin.get_realm_role(n) for n in m]))
            if extra:
                do("revoke %s from %s" % (", ".join(extra), client_id), lambda c=client_id, x=extra: admin.delete_realm_roles_of_user(
                    service_account_user(c), [admin.get_realm_role(n) for n in x]))
        if not module.check_mode:
            run_operations(operations, "realm %s, platform accounts" % p["realm"])
        final = sorted(wanted_admins) if p["mode"] == "exact" else sorted(set(wanted_admins) | set(holders))
    except (TenantSpecError, KeycloakConnectionError, KeycloakWriteError) as exc:
        module.fail_json(msg=str(exc), operations=[d for d, _f, _a in operations])
    except KeycloakError as exc:
        module.fail_json(msg="realm %s, platform accounts: reading from Keycloak failed: %s"
                             % (p["realm"], keycloak_error_text(exc)))
    module.exit_json(changed=bool(operations), operations=[d for d, _f, _a in operations], admins=final)


if __name__ == "__main__":
    main()
