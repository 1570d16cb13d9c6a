#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: keycloak_tenant_set
short_description: Make the tenants of one Keycloak realm match the TenantRegistry in one call
version_added: 0.2.0
description:
  - Converges every tenant of O(tenants) in one Keycloak realm, each exactly as M(stoa.platform.keycloak_tenant)
    would (the same reading, checks, plan and operations), in one module call.
  - The realm is read once for the whole set, in pages, the realm roles, password policy, user profile and clients,
    every top-level group and every user (C(briefRepresentation=false)), the holders of each tenant role, and the
    members of each tenant's group; no user is looked up one by one. Credentials are read only for existing members
    given an O(tenants[].members[].initial_password).
  - The realm-wide part (realm roles, the C(tenant_id) declaration of the user profile, the token clients' mappers) is
    planned and done once, before the tenants, and reported in RV(realm_operations).
  - O(parallelism) tenants are converged at once; the requests of one tenant are sent in order by one worker.
  - With O(bulk), the groups and users a tenant creates, with each new user's group and realm role, are created by
    one partial import (C(POST /admin/realms/{realm}/partialImport), C(ifResourceExists=SKIP)), the same users and
    groups the one-by-one requests make (initial password and its C(UPDATE_PASSWORD) action, attributes, group,
    realm role). An import Keycloak refuses changes nothing (one transaction); its operations then run one by one,
    so that the refusal names its operation; a resource skipped because it appeared meanwhile is created one by one.
  - A tenant that fails (a spec Keycloak would refuse, an unreadable Vault reference, a refused write) does not stop
    the others. Its RV(results) entry carries the error; the module fails at the end, naming every failed tenant.
  - A member listed in two tenants of the set is refused in the later one (the loop of M(stoa.platform.keycloak_tenant)
    refuses it there too, as belonging to the first). No user and no tenant is ever deleted by this module.
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.keycloak
  - stoa.platform.vault
options:
  realm:
    description: The platform's realm.
    type: str
    default: stoa
  tenants:
    description: The tenants, each as the options O(stoa.platform.keycloak_tenant#module:tenant) and
      O(stoa.platform.keycloak_tenant#module:members) of M(stoa.platform.keycloak_tenant).
    type: list
    elements: dict
    required: true
    suboptions:
      tenant:
        description: The tenant, as in iam/tenants.yaml.
        type: dict
        required: true
        suboptions:
          id:
            description: Tenant id; each at most once in O(tenants).
            type: str
            required: true
          display_name:
            description: Display name.
            type: str
          status:
            description: Status.
            type: str
            choices: [active, suspended, archived]
            default: active
          quotas:
            description: Quotas, recorded as group attributes.
            type: dict
            suboptions:
              max_apis:
                description: Maximum number of APIs.
                type: int
              max_applications:
                description: Maximum number of applications.
                type: int
          environments:
            description: Environments the tenant uses.
            type: list
            elements: str
            default: []
      members:
        description: The tenant's members.
        type: list
        elements: dict
        default: []
        suboptions:
          email:
            description: E-mail, also the username (lower case).
            type: str
            required: true
          name:
            description: Full name; the first word becomes the first name.
            type: str
          role:
            description: Role in the tenant, as in the TenantRegistry.
            type: str
            required: true
            choices: [cpi, devops, viewer]
          enabled:
            description: Whether the account may log in.
            type: bool
            default: true
          initial_password:
            description:
              - Password set when the user is created, or later if the user has none; a C(vault:) reference (or a
                value), resolved before the tenant's first write, in check mode too.
            type: str
  members_mode:
    description:
      - V(exact) removes the memberships of users not listed; V(merge) only adds and updates.
    type: str
    choices: [exact, merge]
    default: exact
  group_scheme:
    description:
      - V(tenant), one group named after the tenant id; V(enterprise), one group per role named
        C(GRP_APIM_<TENANT>_<ROLE>), see M(stoa.platform.keycloak_tenant).
    type: str
    choices: [tenant, enterprise]
    default: tenant
  token_clients:
    description: The platform's clients whose access tokens carry C(tenant_id) and C(roles); missing ones are skipped.
    type: list
    elements: str
    default: [control-plane-api, control-plane-ui, stoa-portal, api-gateway, developer-portal]
  initial_password_temporary:
    description: Make the initial password temporary (the user must change it at first login).
    type: bool
    default: true
  parallelism:
    description:
      - How many tenants are converged at once. V(1) converges them one after the other.
    type: int
    default: 4
  bulk:
    description:
      - Create new groups and users of a tenant by one partial import instead of one request per user, group
        membership and role. V(false) sends the requests of M(stoa.platform.keycloak_tenant).
    type: bool
    default: true
notes:
  - Check mode sends no write request; each result lists the operations a real run performs, in its order.
    Diff mode shows each tenant before and after (never a credential).
  - Support for check_mode is full, for diff_mode full.
seealso:
  - module: stoa.platform.keycloak_tenant
"""

EXAMPLES = r"""
- name: Converge every tenant of iam/tenants.yaml in one call
  stoa.platform.keycloak_tenant_set:
    realm: stoa
    tenants: "{{ registry.tenants | map('stoa.platform.tenant_entry') | list }}"
  register: tenants
"""

RETURN = r"""
results:
  description: One entry per tenant, in the order of O(tenants).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The tenant id (C(tenants[<i>]) for an entry without one).
      type: str
    changed:
      description: Whether the tenant was (in check mode, would be) changed.
      type: bool
    operations:
      description: The operations planned (and, unless in check mode, done), in order, as keycloak_tenant names them.
      type: list
      elements: str
    error:
      description: Why the tenant failed; none when it did not.
      type: str
    imported:
      description: How many of the operations one partial import did (0 in check mode, without O(bulk), or when
        Keycloak refused the import and the operations ran one by one).
      type: int
  sample:
    - {name: tenant-demo, changed: true, operations: [create group tenant-demo], error: null}
realm_operations:
  description: The realm-wide operations planned (and, unless in check mode, done) before the tenants.
  returned: always
  type: list
  elements: str
summary:
  description: Counts over RV(results), and how often each kind of operation was done.
  returned: always
  type: dict
  sample: {total: 2, changed: 1, unchanged: 1, failed: 0, operations: {create user: 3}}
diff:
  description: Each tenant that changes (in check mode, would change) before and after (what the plan leads to),
    as keycloak_tenant shows them.
  returned: always
  type: dict
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stoa.platform.plugins.module_utils.object_set import (
    error_text,
    exit_set,
    run_each,
    set_diff,
    summarise,
)
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
    desired_members,
    member_option_spec,
    tenant_option_spec,
    tenant_sync_option_spec,
)
from ansible_collections.stoa.platform.plugins.module_utils.keycloak_tenant_sync import RealmView, TenantSync
from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import (
    LazyVaultResolver,
    vault_argument_spec,
)

OPERATION_NAMES = ((re.compile(r"\S+@\S+"), "<user>"), (re.compile(r"group \S+"), "group <group>"),
                   (re.compile(r"realm role \S+"), "realm role <role>"), (re.compile(r"revoke .* from"), "revoke <roles> from"))


def argument_spec():
    spec = tenant_sync_option_spec()
    spec.update(
        tenants=dict(type="list", elements="dict", required=True,
                     options=dict(tenant=tenant_option_spec(), members=member_option_spec())),
        parallelism=dict(type="int", default=4),
        bulk=dict(type="bool", default=True),
    )
    spec.update(keycloak_argument_spec())
    spec.update(vault_argument_spec())
    return spec


def operation_kind(description):
    """``add a@x to group t`` -> ``add <user> to group <group>``; the summary counts operations by kind."""
    for pattern, placeholder in OPERATION_NAMES:
        description = pattern.sub(placeholder, description)
    return description


def prepare(tenants, options):
    """[(name, TenantSync or the TenantSpecError)] for every entry, before any request.

    A member already listed by an earlier tenant of the set is refused in the later one."""
    prepared, owner = [], {}
    for index, entry in enumerate(tenants):
        name = entry["tenant"]["id"] or "tenants[%d]" % index
        try:
            members = desired_members(entry["members"])
            twice = ["%s.email: %s is also a member of tenant %s (listed earlier)" % (m["where"], e, owner[e])
                     for e, m in sorted(members.items(), key=lambda item: item[1]["where"]) if e in owner]
            if twice:
                raise TenantSpecError("; ".join(twice))
            sync = TenantSync(None, entry["tenant"], members, realm_part=False, **options)
            for email in members:
                owner.setdefault(email, name)
        except TenantSpecError as exc:
            sync = exc
        prepared.append((name, sync))
    return prepared


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    if p["parallelism"] < 1:
        module.fail_json(msg="parallelism must be at least 1, not %d" % p["parallelism"])
    ids = [t["tenant"]["id"] for t in p["tenants"]]
    twice = sorted(set(i for i in ids if ids.count(i) > 1))
    if twice:
        plural = "s" if len(twice) > 1 else ""
        module.fail_json(msg="tenants give the tenant%s %s more than once" % (plural, ", ".join(twice)))
    vault = LazyVaultResolver(p)  # one Vault client for every worker; each secret path is read once

    def resolve_secret(value):
        value = vault.value(value)
        module.no_log_values.add(value)
        return value

    options = dict(members_mode=p["members_mode"], group_scheme=p["group_scheme"], token_clients=p["token_clients"],
                   resolve_secret=resolve_secret, initial_password_temporary=p["initial_password_temporary"])
    prepared = prepare(p["tenants"], options)
    realm_operations = []
    try:
        admin = keycloak_admin(p, p["realm"])
        view = RealmView(admin, p["token_clients"]).read_realm().list_all()  # GET requests only
        realm_operations = view.operations()
        if realm_operations and not module.check_mode:
            run_operations(realm_operations, "realm %s" % p["realm"])
            view.read_realm()
        else:
            view.assume_done()
    except (KeycloakConnectionError, KeycloakWriteError) as exc:
        module.fail_json(msg=str(exc), realm_operations=[d for d, _f, _a in realm_operations])
    except KeycloakError as exc:
        module.fail_json(msg="realm %s: reading from Keycloak failed: %s" % (p["realm"], keycloak_error_text(exc)))

    def work(entry):
        name, sync = entry
        result = dict(name=name, changed=False, operations=[], error=None, imported=0, diff=None)
        if isinstance(sync, Exception):
            result["error"] = str(sync)
            return result
        sync.admin = admin
        try:
            sync.read(view)
            before = sync.current_view()
            result["diff"] = dict(before=before, after=sync.desired_view(before))
            operations = sync.plan()  # checks every value and resolves every reference first: nothing written yet
            result.update(changed=bool(operations), operations=[d for d, _f, _a in operations])
            if operations and not module.check_mode:
                result["imported"] = sync.apply(bulk=p["bulk"])
        except (TenantSpecError, KeycloakWriteError) as exc:
            result["error"] = str(exc)
        except KeycloakError as exc:
            result["error"] = "tenant %s: Keycloak failed: %s" % (name, keycloak_error_text(exc))
        return result

    results = []
    for (name, _sync), outcome in zip(prepared, run_each(prepared, work, p["parallelism"])):
        if isinstance(outcome, Exception):
            module.debug(getattr(outcome, "traceback_text", ""))
            outcome = dict(name=name, changed=False, operations=[], error=error_text(outcome), imported=0, diff=None)
        results.append(outcome)
    diff = set_diff(results, lambda r: r["name"])
    for result in results:
        del result["diff"]
    summary = summarise([dict(r, operations=[operation_kind(o) for o in r["operations"]]) for r in results])
    output = dict(changed=bool(realm_operations) or any(r["changed"] for r in results), results=results,
                  summary=summary, realm_operations=[d for d, _f, _a in realm_operations], diff=diff)
    exit_set(module, "tenants", lambda r: r["name"], output)


if __name__ == "__main__":
    main()
