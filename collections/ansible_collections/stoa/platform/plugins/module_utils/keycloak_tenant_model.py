# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tenant in Keycloak as one unit: read, compare, plan, apply.

The module reads everything the tenant is made of, builds a normalised view
of it (sorted lists, attributes as lists of strings, server-generated fields
left out), compares it with the desired view, and turns the difference into a
list of operations. Check mode reports that plan; a real run executes the very
same plan, so both report the same ``changed`` and ``diff`` by construction.

Naming (design phases 2 and 6):
- realm roles ``cpi-admin``, ``tenant-admin``, ``devops``, ``viewer``; the
  TenantRegistry roles map ``cpi`` -> ``tenant-admin``, ``devops`` -> ``devops``,
  ``viewer`` -> ``viewer``;
- ``group_scheme: tenant`` (default): one group named after the tenant id,
  carrying the tenant's attributes; ``enterprise``: one group per role named
  ``GRP_APIM_<TENANT>_<ROLE>`` (tenant id upper-cased, a leading ``tenant-``
  dropped, ``-`` as ``_``), as the enterprise directory of the design names them;
- users are named by their e-mail (lower case) and carry ``tenant_id``, which
  the realm's user profile declares (Keycloak 24+ drops undeclared attributes)
  and protocol mappers put into the access tokens of the platform's clients,
  with the realm roles as a flat ``roles`` claim.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

REALM_ROLES = {
    "cpi-admin": "Platform administrator: every tenant",
    "tenant-admin": "Tenant administrator (CPI): manages and approves for one tenant",
    "devops": "Deploys and promotes the tenant's APIs",
    "viewer": "Read-only access to the tenant",
}
ROLE_OF = {"cpi": "tenant-admin", "devops": "devops", "viewer": "viewer"}
TENANT_ROLES = frozenset(ROLE_OF.values())
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TENANT_ATTRIBUTE = "tenant_id"
MAPPERS = {
    "tenant_id": {"name": "tenant_id", "protocol": "openid-connect", "protocolMapper": "oidc-usermodel-attribute-mapper",
                  "config": {"user.attribute": TENANT_ATTRIBUTE, "claim.name": "tenant_id", "jsonType.label": "String",
                             "access.token.claim": "true", "id.token.claim": "true", "userinfo.token.claim": "true",
                             "introspection.token.claim": "true"}},
    "realm roles": {"name": "realm roles", "protocol": "openid-connect",
                    "protocolMapper": "oidc-usermodel-realm-role-mapper",
                    "config": {"claim.name": "roles", "multivalued": "true", "jsonType.label": "String",
                               "access.token.claim": "true", "id.token.claim": "true", "userinfo.token.claim": "true",
                               "introspection.token.claim": "true"}},
}


class TenantSpecError(ValueError):
    """Input that cannot describe a tenant; raised before anything is written."""


def group_names(tenant_id, scheme):
    """{registry role: group name}; one shared group for the tenant scheme."""
    if scheme == "enterprise":
        short = re.sub(r"^tenant-", "", tenant_id).upper().replace("-", "_")
        return dict((role, "GRP_APIM_%s_%s" % (short, role.upper())) for role in ROLE_OF)
    return dict((role, tenant_id) for role in ROLE_OF)


def as_attributes(values):
    """Keycloak attributes: every value a list of strings, keys sorted."""
    result = {}
    for key, value in sorted(values.items()):
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        if items:  # Keycloak keeps no empty attribute: leave it out, or a rerun would see a change
            result[key] = [str(v).lower() if isinstance(v, bool) else str(v) for v in items]
    return result


def split_name(name, email):
    parts = (name or "").strip().split(None, 1)
    if not parts:
        local = email.split("@")[0]
        return local, local
    return parts[0], parts[1] if len(parts) > 1 else parts[0]


def desired_members(members):
    """Validate and normalise the member list: {email: member}. Every problem reported at once."""
    problems, result = [], {}
    for position, member in enumerate(members or []):
        email = (member.get("email") or "").strip().lower()
        where = "members[%d]" % position
        if not EMAIL.match(email):
            problems.append("%s.email: %r is not an e-mail address" % (where, member.get("email")))
            continue
        if email in result:
            problems.append("%s.email: %s is listed twice" % (where, email))
            continue
        first, last = split_name(member.get("name"), email)
        result[email] = {"email": email, "username": email, "firstName": first, "lastName": last,
                         "enabled": member.get("enabled", True) is not False, "role": member["role"],
                         "initial_password": member.get("initial_password")}
    if problems:
        raise TenantSpecError("; ".join(problems))
    return result


def tenant_attributes(tenant):
    quotas = tenant.get("quotas") or {}
    return as_attributes({
        TENANT_ATTRIBUTE: tenant["id"],
        "display_name": tenant.get("display_name"),
        "status": tenant.get("status"),
        "environments": sorted(tenant.get("environments") or []),
        "quota_max_apis": quotas.get("max_apis"),
        "quota_max_applications": quotas.get("max_applications"),
    })


def member_view(user, role, group):
    """What the diff shows of one member (never a credential)."""
    return {"enabled": bool(user.get("enabled")), "firstName": user.get("firstName") or "",
            "lastName": user.get("lastName") or "", "role": role, "group": group,
            TENANT_ATTRIBUTE: ((user.get("attributes") or {}).get(TENANT_ATTRIBUTE) or [None])[0]}
