# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reads a tenant from Keycloak, plans the operations that make it match, applies them (see keycloak_tenant_model)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.stoa.platform.plugins.module_utils.keycloak_connection import KeycloakError
from ansible_collections.stoa.platform.plugins.module_utils.keycloak_tenant_model import (
    MAPPERS,
    REALM_ROLES,
    ROLE_OF,
    TENANT_ATTRIBUTE,
    TENANT_ROLES,
    TenantSpecError,
    group_names,
    member_view,
    tenant_attributes,
)


class TenantSync(object):
    def __init__(self, admin, tenant, members, members_mode="exact", group_scheme="tenant", token_clients=(),
                 state="present", resolve_password=None):
        self.admin, self.tenant, self.members = admin, tenant, members
        self.tenant_id = tenant["id"]
        self.members_mode, self.state = members_mode, state
        self.groups_by_role = group_names(self.tenant_id, group_scheme)
        self.group_set = sorted(set(self.groups_by_role.values()))
        self.token_clients = list(token_clients)
        self.resolve_password = resolve_password
        self.operations = []  # (description, function, args)

    # -- reading -------------------------------------------------------------------------------
    def read(self):
        admin = self.admin
        self.realm_roles = set(r["name"] for r in admin.get_realm_roles())
        profile = admin.get_realm_users_profile()
        self.profile = profile
        self.profile_has_tenant = any(a.get("name") == TENANT_ATTRIBUTE for a in profile.get("attributes") or [])
        self.groups = {}
        for name in self.group_set:
            try:
                self.groups[name] = admin.get_group_by_path("/" + name)
            except KeycloakError:
                self.groups[name] = None
        self.users = {}  # email -> user with "roles" and "group_names"
        emails = set(self.members)
        for group in self.groups.values():
            if group:
                emails.update((m.get("email") or m.get("username") or "").lower()
                              for m in admin.get_group_members(group["id"]))
        for email in sorted(e for e in emails if e):
            found = [u for u in admin.get_users({"email": email, "exact": True})
                     if (u.get("email") or "").lower() == email]
            if not found:
                continue
            user = found[0]
            user["roles"] = set(r["name"] for r in admin.get_realm_roles_of_user(user["id"]))
            user["group_names"] = set(g["name"] for g in admin.get_user_groups(user["id"]))
            self.users[email] = user
        self.client_mappers = {}
        for client_id in self.token_clients:
            uuid = admin.get_client_id(client_id)
            if uuid:
                self.client_mappers[client_id] = (uuid, dict((m["name"], m) for m in admin.get_mappers_from_client(uuid)))
        return self

    # -- views ------------------------------------------------------------------------------------
    def _member_of(self, user):
        groups = sorted(user["group_names"] & set(self.group_set))
        roles = sorted(user["roles"] & TENANT_ROLES)
        if not groups and (user.get("attributes") or {}).get(TENANT_ATTRIBUTE) != [self.tenant_id]:
            return None
        return member_view(user, roles[0] if len(roles) == 1 else (roles or None), groups[0] if len(groups) == 1 else (groups or None))

    def current_view(self):
        members = {}
        for email, user in self.users.items():
            view = self._member_of(user)
            if view is not None:
                members[email] = view
        return {
            "realm_roles": sorted(self.realm_roles & set(REALM_ROLES)),
            "user_profile_tenant_id": self.profile_has_tenant,
            "groups": dict((name, group.get("attributes") or {}) for name, group in self.groups.items() if group),
            "members": members,
            "token_mappers": dict((c, sorted(n for n in mappers if n in MAPPERS))
                                  for c, (_uuid, mappers) in self.client_mappers.items()),
        }

    def desired_view(self, current=None):
        """The view the plan leads to; ``current`` saves reading the current view a second time."""
        current = current if current is not None else self.current_view()
        if self.state == "absent":
            return dict(current, groups={}, members={})
        members = {} if self.members_mode == "exact" else dict(
            (e, v) for e, v in current["members"].items() if e not in self.members)
        for email, member in self.members.items():
            members[email] = {"enabled": member["enabled"], "firstName": member["firstName"],
                              "lastName": member["lastName"], "role": ROLE_OF[member["role"]],
                              "group": self.groups_by_role[member["role"]], TENANT_ATTRIBUTE: self.tenant_id}
        attributes = tenant_attributes(self.tenant)
        return {
            "realm_roles": sorted(REALM_ROLES),
            "user_profile_tenant_id": True,
            "groups": dict((name, attributes) for name in self.group_set),
            "members": members,
            "token_mappers": dict((c, sorted(MAPPERS)) for c in self.client_mappers),
        }

    # -- planning -----------------------------------------------------------------------------------
    def _op(self, description, function, *args):
        self.operations.append((description, function, args))

    def plan(self):
        admin = self.admin
        for email, member in self.members.items():
            user = self.users.get(email)
            owner = ((user or {}).get("attributes") or {}).get(TENANT_ATTRIBUTE)
            if owner and owner != [self.tenant_id] and self.state == "present":
                raise TenantSpecError("members: %s belongs to tenant %s; remove them there first"
                                      % (email, owner[0]))
        if self.state == "present":
            for role in sorted(set(REALM_ROLES) - self.realm_roles):
                self._op("create realm role %s" % role, admin.create_realm_role,
                         {"name": role, "description": REALM_ROLES[role]})
            if not self.profile_has_tenant:
                self._op("declare the user attribute %s in the user profile" % TENANT_ATTRIBUTE,
                         admin.update_realm_users_profile, self._profile_with_tenant())
            attributes = tenant_attributes(self.tenant)
            for name in self.group_set:
                group = self.groups[name]
                if group is None:
                    self._op("create group %s" % name, self._create_group, name, attributes)
                elif (group.get("attributes") or {}) != attributes:
                    self._op("update the attributes of group %s" % name, admin.update_group, group["id"],
                             {"name": name, "attributes": attributes})
            for email, member in sorted(self.members.items()):
                self._plan_member(email, member)
            for client_id, (uuid, mappers) in sorted(self.client_mappers.items()):
                for name, mapper in sorted(MAPPERS.items()):
                    if name not in mappers:
                        self._op("add the %s mapper to client %s" % (name, client_id), admin.add_mapper_to_client,
                                 uuid, copy.deepcopy(mapper))
                    elif mappers[name].get("config") != mapper["config"]:
                        self._op("update the %s mapper of client %s" % (name, client_id), admin.update_client_mapper,
                                 uuid, mappers[name]["id"], dict(copy.deepcopy(mapper), id=mappers[name]["id"]))
        leaving = [e for e, u in self.users.items() if self._member_of(u) is not None and
                   (self.state == "absent" or (self.members_mode == "exact" and e not in self.members))]
        for email in sorted(leaving):
            self._plan_leave(email, self.users[email])
        if self.state == "absent":
            for name in self.group_set:
                if self.groups[name]:
                    self._op("delete group %s" % name, admin.delete_group, self.groups[name]["id"])
        return self.operations

    def _profile_with_tenant(self):
        profile = copy.deepcopy(self.profile)
        profile.setdefault("attributes", []).append({
            "name": TENANT_ATTRIBUTE, "displayName": "Tenant",
            "permissions": {"view": ["admin"], "edit": ["admin"]}, "multivalued": False})
        return profile

    def _create_group(self, name, attributes):
        self.admin.create_group({"name": name, "attributes": attributes})
        self.groups[name] = self.admin.get_group_by_path("/" + name)

    def _group_id(self, name):
        return self.groups[name]["id"]

    def _plan_member(self, email, member):
        admin = self.admin
        role, group = ROLE_OF[member["role"]], self.groups_by_role[member["role"]]
        user = self.users.get(email)
        wanted = {"firstName": member["firstName"], "lastName": member["lastName"], "enabled": member["enabled"]}
        if user is None:
            self._op("create user %s" % email, self._create_user, email, member)
            self._op("add %s to group %s" % (email, group), self._add_to_group, email, group)
            self._op("grant %s the realm role %s" % (email, role), self._grant, email, [role])
            return
        attributes = dict(user.get("attributes") or {})
        if any(user.get(k) != v for k, v in wanted.items()) or attributes.get(TENANT_ATTRIBUTE) != [self.tenant_id]:
            attributes[TENANT_ATTRIBUTE] = [self.tenant_id]
            payload = dict(wanted, email=email, attributes=attributes)
            self._op("update user %s" % email, admin.update_user, user["id"], payload)
        for other in sorted((user["group_names"] & set(self.group_set)) - {group}):
            self._op("remove %s from group %s" % (email, other), self._remove_from_group, email, other)
        if group not in user["group_names"]:
            self._op("add %s to group %s" % (email, group), self._add_to_group, email, group)
        extra = sorted((user["roles"] & TENANT_ROLES) - {role})
        if extra:
            self._op("revoke %s from %s" % (", ".join(extra), email), self._revoke, email, extra)
        if role not in user["roles"]:
            self._op("grant %s the realm role %s" % (email, role), self._grant, email, [role])

    def _plan_leave(self, email, user):
        for group in sorted(user["group_names"] & set(self.group_set)):
            self._op("remove %s from group %s" % (email, group), self._remove_from_group, email, group)
        roles = sorted(user["roles"] & TENANT_ROLES)
        if roles:
            self._op("revoke %s from %s" % (", ".join(roles), email), self._revoke, email, roles)
        attributes = dict(user.get("attributes") or {})
        if attributes.get(TENANT_ATTRIBUTE) == [self.tenant_id]:
            attributes.pop(TENANT_ATTRIBUTE)
            self._op("clear the %s of %s" % (TENANT_ATTRIBUTE, email), self.admin.update_user, user["id"],
                     {"attributes": attributes, "email": email, "firstName": user.get("firstName"),
                      "lastName": user.get("lastName")})

    # -- applying -------------------------------------------------------------------------------------
    def _user_id(self, email):
        if email in self.users:
            return self.users[email]["id"]
        return self.admin.get_users({"email": email, "exact": True})[0]["id"]

    def _create_user(self, email, member):
        user_id = self.admin.create_user({
            "username": email, "email": email, "emailVerified": True, "enabled": member["enabled"],
            "firstName": member["firstName"], "lastName": member["lastName"],
            "attributes": {TENANT_ATTRIBUTE: [self.tenant_id]}})
        if member.get("initial_password") and self.resolve_password:
            password, temporary = self.resolve_password(member["initial_password"])
            self.admin.set_user_password(user_id, password, temporary=temporary)
        self.users[email] = {"id": user_id, "roles": set(), "group_names": set()}

    def _add_to_group(self, email, group):
        self.admin.group_user_add(self._user_id(email), self._group_id(group))

    def _remove_from_group(self, email, group):
        self.admin.group_user_remove(self._user_id(email), self._group_id(group))

    def _role_representations(self, names):
        return [self.admin.get_realm_role(name) for name in names]

    def _grant(self, email, roles):
        self.admin.assign_realm_roles(self._user_id(email), self._role_representations(roles))

    def _revoke(self, email, roles):
        self.admin.delete_realm_roles_of_user(self._user_id(email), self._role_representations(roles))

    def apply(self):
        for _description, function, args in self.operations:
            function(*args)
