# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters from the IAM files of the GitOps repository to the options of the Keycloak modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

GROUPS = (("cpi", "cpi"), ("devops", "devops"), ("viewers", "viewer"))


def tenant_members(tenant):
    """A TenantRegistry tenant -> the ``members`` option of stoa.platform.keycloak_tenant."""
    if not isinstance(tenant, dict):
        raise AnsibleFilterError("tenant_members expects a tenant of iam/tenants.yaml, not %s" % type(tenant).__name__)
    members = []
    for group, role in GROUPS:
        for member in (tenant.get("members") or {}).get(group) or []:
            entry = {"email": member.get("email"), "name": member.get("name"), "role": role,
                     "enabled": member.get("enabled", True)}
            if member.get("initialPasswordRef"):
                entry["initial_password"] = member["initialPasswordRef"]
            members.append(entry)
    return members


def tenant_spec(tenant):
    """A TenantRegistry tenant -> the ``tenant`` option of stoa.platform.keycloak_tenant."""
    quotas = tenant.get("quotas") or {}
    spec = {"id": tenant.get("id"), "display_name": tenant.get("displayName"), "status": tenant.get("status", "active"),
            "environments": tenant.get("environments") or [],
            "quotas": {"max_apis": quotas.get("maxApis"), "max_applications": quotas.get("maxApplications")}}
    return dict((k, v) for k, v in spec.items() if v is not None)


def tenant_entry(tenant):
    """A TenantRegistry tenant -> one ``tenants`` item of stoa.platform.keycloak_tenant_set (``tenant``, ``members``)."""
    return {"tenant": tenant_spec(tenant), "members": tenant_members(tenant)}


def service_account_spec(account):
    """A ServiceAccountRegistry entry -> one ``service_accounts`` item of stoa.platform.keycloak_platform_accounts."""
    spec = {"id": account.get("id"), "roles": account.get("roles") or [], "description": account.get("description")}
    if account.get("credentialRef"):
        spec["secret"] = account["credentialRef"]
    return dict((k, v) for k, v in spec.items() if v is not None)


def global_admins(admins):
    """GlobalAdminRegistry ``admins`` -> the ``admins`` option of stoa.platform.keycloak_platform_accounts."""
    return [dict((k, v) for k, v in (("email", a.get("email")), ("name", a.get("name"))) if v)
            for a in admins or [] if a.get("role", "cpi-admin") == "cpi-admin"]


def awx_workflow_node(node):
    """A node of awx/objects.yml -> one workflow_nodes item of awx.awx.workflow_job_template."""
    return {"identifier": node["identifier"],
            "unified_job_template": {"name": node["job_template"], "type": "job_template"},
            "related": {"success_nodes": [{"identifier": n} for n in node.get("success") or []],
                        "failure_nodes": [{"identifier": n} for n in node.get("failure") or []]}}


class FilterModule(object):
    def filters(self):
        return {"tenant_members": tenant_members, "tenant_spec": tenant_spec, "tenant_entry": tenant_entry,
                "service_account_spec": service_account_spec, "global_admins": global_admins,
                "awx_workflow_node": awx_workflow_node}
