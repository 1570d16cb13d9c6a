#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: keycloak_tenant
short_description: A whole tenant in Keycloak in one idempotent call
version_added: 0.1.0
description:
  - Makes one tenant of the TenantRegistry exist in a Keycloak realm, as one unit with one diff, the realm roles
    C(cpi-admin), C(tenant-admin), C(devops) and C(viewer); the tenant's group with its attributes; each member
    with e-mail (also the username), names, the C(tenant_id) attribute, group membership and realm role; the
    C(tenant_id) attribute declared in the realm's user profile (Keycloak 24 and later drops undeclared attributes);
    and, on the platform's clients, the mappers that put C(tenant_id) and the realm roles (claim C(roles)) into
    access tokens.
  - The TenantRegistry roles map to realm roles, V(cpi) to C(tenant-admin), V(devops) to C(devops), V(viewer) to
    C(viewer).
  - The module reads everything first, compares a normalised view (sorted lists, attributes as lists of strings,
    server-generated fields ignored) and plans the operations. Check mode reports that plan, and a real run executes
    the same plan, so both report the same C(changed) and C(diff).
  - Before the first write, in check mode too, the tenant id is checked as a Keycloak group name (no C(/), at most
    255 characters), every member against the realm's user profile (Keycloak's username, e-mail, name, length,
    pattern and options validators, required and read-only attributes) and every O(members[].initial_password)
    reference is resolved; every problem is reported at once, naming its field (C(members[1].email)).
  - Groups are found by exact name among the top-level groups, never by path. A run that stopped half-way is
    completed by the next one; a write Keycloak still refuses is reported with the operation it was.
  - A user who belongs to another tenant (its C(tenant_id)) is refused as a member and never touched. No user is
    ever deleted, removing a member removes their membership, their tenant role and their C(tenant_id).
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
  tenant:
    description: The tenant, as in iam/tenants.yaml.
    type: dict
    required: true
    suboptions:
      id:
        description: Tenant id.
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
          - Password set when the user is created, in the same request (a password the realm's policy refuses
            creates no user), or later if the user has no password (a run that stopped half-way); a password the
            user has is never changed. A C(vault:) reference (or a value); every reference is resolved, and every
            member checked against the realm's user profile, before the first write, in check mode too.
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
        C(GRP_APIM_<TENANT>_<ROLE>) (for tenant-finance, C(GRP_APIM_FINANCE_CPI)), as an enterprise directory would.
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
  state:
    description: V(absent) removes the tenant's groups and every membership; users stay.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Support for check_mode is full, for diff_mode full.
seealso:
  - module: stoa.platform.keycloak_platform_realm
"""

EXAMPLES = r"""
- name: tenant-demo with its CPI and its DevOps
  stoa.platform.keycloak_tenant:
    tenant:
      id: tenant-demo
      display_name: Demo Tenant
      environments: [dev, staging]
    members:
      - {email: demo-cpi@cab-i.com, name: Demo CPI, role: cpi}
      - email: demo-devops@cab-i.com
        name: Demo DevOps
        role: devops
        initial_password: vault:secret/data/dev/iam/demo-devops#password
"""

RETURN = r"""
existing:
  description: The tenant before, normalised (realm_roles, user_profile_tenant_id, groups, members, token_mappers).
  returned: always
  type: dict
end_state:
  description: The tenant after (in check mode, what the real run will leave).
  returned: always
  type: dict
diff:
  description: C(existing) and C(end_state).
  returned: always
  type: dict
operations:
  description: The operations planned (and, unless in check mode, done), in order.
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
)
from ansible_collections.stoa.platform.plugins.module_utils.keycloak_tenant_model import (
    TenantSpecError,
    desired_members,
    member_option_spec,
    tenant_option_spec,
    tenant_sync_option_spec,
)
from ansible_collections.stoa.platform.plugins.module_utils.keycloak_tenant_sync import TenantSync
from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import (
    LazyVaultResolver,
    vault_argument_spec,
)


def argument_spec():
    spec = tenant_sync_option_spec()
    spec.update(tenant=tenant_option_spec(), members=member_option_spec(),
                state=dict(type="str", choices=["present", "absent"], default="present"))
    spec.update(keycloak_argument_spec())
    spec.update(vault_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    vault = LazyVaultResolver(p)

    def resolve_secret(value):
        value = vault.value(value)
        module.no_log_values.add(value)
        return value

    before = after = {}
    operations = []
    try:
        members = desired_members(p["members"])  # what needs no server, before any request
        options = dict(members_mode=p["members_mode"], group_scheme=p["group_scheme"], token_clients=p["token_clients"],
                       state=p["state"], resolve_secret=resolve_secret,
                       initial_password_temporary=p["initial_password_temporary"])
        sync = TenantSync(None, p["tenant"], members, **options)  # the tenant's names, before any request
        sync.admin = keycloak_admin(p, p["realm"])
        sync.read()  # GET requests only
        before = sync.current_view()
        after = sync.desired_view(before)
        operations = sync.plan()  # checks every value and resolves every reference first: nothing written yet
        if operations and not module.check_mode:
            sync.apply()
            after = TenantSync(sync.admin, p["tenant"], members, **options).read().current_view()
    except (TenantSpecError, KeycloakConnectionError, KeycloakWriteError) as exc:
        module.fail_json(msg=str(exc), operations=[d for d, _f, _a in operations])
    except KeycloakError as exc:
        module.fail_json(msg="tenant %s: reading from Keycloak failed: %s" % (p["tenant"]["id"], keycloak_error_text(exc)))
    module.exit_json(changed=bool(operations), existing=before, end_state=after, diff=dict(before=before, after=after),
                     operations=[description for description, _f, _a in operations])


if __name__ == "__main__":
    main()
