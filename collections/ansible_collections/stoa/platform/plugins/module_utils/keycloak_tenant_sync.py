# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reads a tenant from Keycloak, plans the operations that make it match, applies them (see keycloak_tenant_model).

The order of one run: :meth:`TenantSync.read` (GET requests only), :meth:`TenantSync.check` (every value against the
realm's user profile, every Vault reference resolved; all problems at once, each naming its field),
:meth:`TenantSync.plan` (runs :meth:`check` first if nobody did) and :meth:`TenantSync.apply`. Nothing is written
before the plan exists, so check mode fails exactly where a real run would. The plan is computed from what Keycloak
holds, so a run that stopped half-way is completed by the next one, including the initial password of a user that was
created without one (Keycloak's credentials of the user tell).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.stoa.platform.plugins.module_utils.keycloak_connection import KeycloakError, run_operations
from ansible_collections.stoa.platform.plugins.module_utils.keycloak_tenant_model import (
    MAPPERS,
    REALM_ROLES,
    ROLE_OF,
    TENANT_ATTRIBUTE,
    TENANT_ROLES,
    TenantSpecError,
    group_names,
    member_attributes,
    member_view,
    password_problems,
    tenant_attributes,
    tenant_problems,
    user_problems,
)
from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import VaultRefError

GROUP_PAGE = 100


def find_top_level_group(admin, name):
    """The top-level group named exactly ``name`` (with its attributes), or None.

    Never a lookup by path: ``/acme/eu`` is both the subgroup ``eu`` of ``acme`` and a top-level group ``acme/eu``.
    Keycloak's exact search answers the top-level groups whose name or whose subgroups' names match; only a top-level
    entry with that very name (case included) is ours.
    """
    url = "admin/realms/%s/groups" % admin.connection.realm_name
    first = 0
    while True:
        response = admin.connection.raw_get(url, search=name, exact="true", briefRepresentation="false",
                                            first=first, max=GROUP_PAGE)
        if response.status_code >= 400:
            raise KeycloakError(error_message=response.content, response_code=response.status_code)
        page = response.json()
        for group in page:
            if group.get("name") == name and not group.get("parentId"):
                return group
        if len(page) < GROUP_PAGE:
            return None
        first += GROUP_PAGE


USER_PAGE = 1000


def list_pages(admin, path, page=GROUP_PAGE, **query):
    """Every entry of a paged admin list (``first``/``max``), e.g. ``list_pages(admin, "users", 1000)``."""
    url = "admin/realms/%s/%s" % (admin.connection.realm_name, path)
    entries, first = [], 0
    while True:
        response = admin.connection.raw_get(url, first=first, max=page, **query)
        if response.status_code >= 400:
            raise KeycloakError(error_message=response.content, response_code=response.status_code)
        chunk = response.json()
        entries.extend(chunk)
        if len(chunk) < page:
            return entries
        first += page


class RealmView(object):
    """What the tenants of one realm share, read once: realm roles, password policy, user profile, the token clients'
    mappers (:meth:`read_realm`) and, for a set of tenants, every top-level group, user and tenant role holder
    listed in pages (:meth:`list_all`), so that a :class:`TenantSync` reading with it sends no lookup per member.

    The realm-wide operations (realm roles, the ``tenant_id`` declaration, token mappers) are planned here
    (:meth:`operations`), once for a realm; :class:`TenantSync` plans them too unless told the realm is done.
    """

    def __init__(self, admin, token_clients=()):
        self.admin = admin
        self.token_clients = list(token_clients)
        self.listed = False
        self._members = {}  # group id -> set of member ids (listed form)

    def read_realm(self):
        """Realm roles, password policy, user profile and the token clients' mappers, by GET requests only."""
        admin = self.admin
        self.roles = dict((r["name"], r) for r in admin.get_realm_roles())
        realm = admin.get_realm(admin.connection.realm_name)
        self.password_policy = realm.get("passwordPolicy") or ""
        self.default_role = (realm.get("defaultRole") or {}).get("name")
        try:
            profile = admin.get_realm_users_profile()
        except KeycloakError:
            profile = None  # before Keycloak 24: no declarative user profile, the default rules apply
        self.profile = profile or {}
        self.profile_has_tenant = any(a.get("name") == TENANT_ATTRIBUTE for a in self.profile.get("attributes") or [])
        self.client_mappers = {}
        if self.token_clients:
            clients = dict((c.get("clientId"), c) for c in admin.get_clients())
            for client_id in self.token_clients:
                if client_id in clients:
                    client = clients[client_id]
                    self.client_mappers[client_id] = (client["id"], dict((m["name"], m) for m in
                                                                         client.get("protocolMappers") or []))
        return self

    def list_all(self):
        """Every top-level group (with attributes), every user (with attributes) and the users holding each tenant
        role, in pages: ``GET .../groups?briefRepresentation=false``, ``GET .../users?briefRepresentation=false``,
        ``GET .../roles/{role}/users``. Group members are listed per group on first use (:meth:`member_ids`)."""
        self.groups = {}
        for group in list_pages(self.admin, "groups", GROUP_PAGE, briefRepresentation="false"):
            if not group.get("parentId"):
                self.groups.setdefault(group["name"], group)
        users = list_pages(self.admin, "users", USER_PAGE, briefRepresentation="false")
        self.users_by_id = dict((u["id"], u) for u in users)
        self.users_by_email = {}
        for user in self.users_by_id.values():
            email = (user.get("email") or "").lower()
            if email:
                self.users_by_email.setdefault(email, user)
        self.role_holders = {}
        for role in sorted(TENANT_ROLES):
            if role in self.roles:
                holders = list_pages(self.admin, "roles/%s/users" % role, USER_PAGE, briefRepresentation="true")
                self.role_holders[role] = set(u["id"] for u in holders)
        # What POST /users gives a new user and a partial import does not: the realm's default role and default
        # required actions (UserProvider.addUser with addDefaultRoles and addDefaultRequiredActions).
        self.default_actions = sorted(a["alias"] for a in self.admin.get_required_actions()
                                      if a.get("enabled") and a.get("defaultAction"))
        self.listed = True
        return self

    def member_ids(self, group_id):
        """Ids of the direct members of a group (listed once, in pages)."""
        if group_id not in self._members:
            self._members[group_id] = set(u["id"] for u in list_pages(
                self.admin, "groups/%s/members" % group_id, USER_PAGE, briefRepresentation="true"))
        return self._members[group_id]

    def profile_with_tenant(self):
        profile = copy.deepcopy(self.profile)
        profile.setdefault("attributes", []).append({
            "name": TENANT_ATTRIBUTE, "displayName": "Tenant",
            "permissions": {"view": ["admin"], "edit": ["admin"]}, "multivalued": False})
        return profile

    def role_and_profile_operations(self):
        """Create the missing realm roles; declare ``tenant_id`` in the user profile: [(description, function, args)]."""
        admin, operations = self.admin, []
        for role in sorted(set(REALM_ROLES) - set(self.roles)):
            operations.append(("create realm role %s" % role, admin.create_realm_role,
                               ({"name": role, "description": REALM_ROLES[role]},)))
        if not self.profile_has_tenant:
            operations.append(("declare the user attribute %s in the user profile" % TENANT_ATTRIBUTE,
                               admin.update_realm_users_profile, (self.profile_with_tenant(),)))
        return operations

    def mapper_operations(self):
        """Add or update the ``tenant_id`` and ``realm roles`` mappers of the token clients."""
        admin, operations = self.admin, []
        for client_id, (uuid, mappers) in sorted(self.client_mappers.items()):
            for name, mapper in sorted(MAPPERS.items()):
                if name not in mappers:
                    operations.append(("add the %s mapper to client %s" % (name, client_id), admin.add_mapper_to_client,
                                       (uuid, copy.deepcopy(mapper))))
                elif mappers[name].get("config") != mapper["config"]:
                    operations.append(("update the %s mapper of client %s" % (name, client_id),
                                       admin.update_client_mapper,
                                       (uuid, mappers[name]["id"], dict(copy.deepcopy(mapper), id=mappers[name]["id"]))))
        return operations

    def operations(self):
        """Every realm-wide operation, in the order a tenant would plan them."""
        return self.role_and_profile_operations() + self.mapper_operations()

    def assume_done(self):
        """What the realm holds once :meth:`operations` are done (check mode of a set: tenants then plan none)."""
        for role in REALM_ROLES:
            self.roles.setdefault(role, {"name": role})
        if not self.profile_has_tenant:
            self.profile, self.profile_has_tenant = self.profile_with_tenant(), True
        for client_id, (uuid, mappers) in list(self.client_mappers.items()):
            done = dict((n, dict(m, id=None)) for n, m in MAPPERS.items())
            self.client_mappers[client_id] = (uuid, dict(mappers, **done))
        return self


class TenantSync(object):
    """One tenant of one realm: ``TenantSync(admin, tenant, desired_members(...), ...).read().plan()``, then apply().

    ``resolve_secret(value)`` turns an ``initial_password`` (a ``vault:`` reference or a value) into the password and
    raises VaultRefError naming the reference; ``initial_password_temporary`` is Keycloak's ``temporary`` flag.
    Raises TenantSpecError (input Keycloak would refuse, before any write) and KeycloakWriteError (a refused write,
    naming the operation); a failed read is python-keycloak's KeycloakError.
    """

    def __init__(self, admin, tenant, members, members_mode="exact", group_scheme="tenant", token_clients=(),
                 state="present", resolve_secret=None, initial_password_temporary=True, realm_part=True):
        problems = tenant_problems(tenant, group_scheme)
        if problems:
            raise TenantSpecError("; ".join(problems))
        self.admin, self.tenant, self.members = admin, tenant, members
        self.tenant_id = tenant["id"]
        self.members_mode, self.state = members_mode, state
        self.groups_by_role = group_names(self.tenant_id, group_scheme)
        self.group_set = sorted(set(self.groups_by_role.values()))
        self.token_clients = list(token_clients)
        self.resolve_secret = resolve_secret
        self.initial_password_temporary = initial_password_temporary
        self.passwords = {}  # email -> resolved initial password (never shown)
        self.realm_part = realm_part  # False: the realm-wide operations are planned once for a set (RealmView)
        self.checked = False
        self.operations = []  # (description, function, args)

    # -- reading -------------------------------------------------------------------------------
    def read(self, view=None):
        """Everything the tenant is made of, by GET requests only.

        ``view``: a :class:`RealmView` shared by the tenants of a set. Read with :meth:`RealmView.list_all`, the
        tenant's groups, users, roles and memberships come from its lists (one list of members per group of the
        tenant, and the credentials of existing members given an initial password); else they are looked up here.
        """
        admin = self.admin
        if view is None:
            view = RealmView(admin, self.token_clients).read_realm()
        self.view = view
        self.realm_roles = set(view.roles)
        self.password_policy = view.password_policy
        self.profile, self.profile_has_tenant = view.profile, view.profile_has_tenant
        self.client_mappers = dict((c, view.client_mappers[c]) for c in self.token_clients if c in view.client_mappers)
        if view.listed:
            self.groups = dict((name, copy.deepcopy(view.groups.get(name))) for name in self.group_set)
        else:
            self.groups = dict((name, find_top_level_group(admin, name)) for name in self.group_set)
        self.group_name_of = dict((g["id"], name) for name, g in self.groups.items() if g)
        self.users = {}  # email -> user with "roles", "group_names" (ours only) and, if asked, "has_password"
        emails = set(self.members)
        if view.listed:
            members_of = dict((name, view.member_ids(g["id"])) for name, g in self.groups.items() if g)
            for ids in members_of.values():
                emails.update((view.users_by_id.get(i, {}).get("email") or "").lower() for i in ids)
        else:
            for group in self.groups.values():
                if group:
                    emails.update((m.get("email") or m.get("username") or "").lower()
                                  for m in admin.get_group_members(group["id"]))
        for email in sorted(e for e in emails if e):
            if view.listed:
                user = copy.deepcopy(view.users_by_email.get(email))
                if user is None:
                    continue
                user["roles"] = set(r for r, ids in view.role_holders.items() if user["id"] in ids)
                user["group_names"] = set(n for n, ids in members_of.items() if user["id"] in ids)
            else:
                found = [u for u in admin.get_users({"email": email, "exact": True})
                         if (u.get("email") or "").lower() == email]
                if not found:
                    continue
                user = found[0]
                user["roles"] = set(r["name"] for r in admin.get_realm_roles_of_user(user["id"]))
                user["group_names"] = set(self.group_name_of[g["id"]] for g in admin.get_user_groups(user["id"])
                                          if g.get("id") in self.group_name_of)
            if (self.members.get(email) or {}).get("initial_password"):
                user["has_password"] = any(c.get("type") == "password" for c in admin.get_credentials(user["id"]))
            self.users[email] = user
        return self

    def check(self):
        """Every member against the realm's user profile and every initial_password resolved, before any write.

        Raises TenantSpecError listing every problem, each naming its field (``members[1].email: ...``).
        """
        problems = []
        if self.state == "present":
            for email, member in sorted(self.members.items(), key=lambda item: item[1]["where"]):
                problems.extend(user_problems(self.profile or None, member_attributes(member, self.tenant_id),
                                              member["where"]))
                if member.get("initial_password"):
                    if self.resolve_secret is None:
                        problems.append("%s.initial_password: no way to resolve it here" % member["where"])
                        continue
                    try:
                        self.passwords[email] = self.resolve_secret(member["initial_password"])
                    except VaultRefError as exc:
                        problems.append("%s.initial_password: %s" % (member["where"], exc))
                        continue
                    user = self.users.get(email)
                    if user is None or not user.get("has_password", True):  # only a password still to be set
                        problems.extend(password_problems(self.password_policy, self.passwords[email], email, email,
                                                          member["where"] + ".initial_password"))
        if problems:
            raise TenantSpecError("; ".join(problems))
        self.checked = True
        return self

    # -- views ------------------------------------------------------------------------------------
    def _member_of(self, user):
        groups = sorted(user["group_names"] & set(self.group_set))
        roles = sorted(user["roles"] & TENANT_ROLES)
        if not groups and (user.get("attributes") or {}).get(TENANT_ATTRIBUTE) != [self.tenant_id]:
            return None
        view = member_view(user, roles[0] if len(roles) == 1 else (roles or None),
                           groups[0] if len(groups) == 1 else (groups or None))
        if "has_password" in user:  # read for the members listed with an initial password only
            view["has_password"] = user["has_password"]
        return view

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
            if member.get("initial_password"):
                members[email]["has_password"] = True
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
        """The operations that make Keycloak hold the tenant, as (description, function, args); runs check() first."""
        if not self.checked:
            self.check()
        admin = self.admin
        for email, member in self.members.items():
            user = self.users.get(email)
            owner = ((user or {}).get("attributes") or {}).get(TENANT_ATTRIBUTE)
            if owner and owner != [self.tenant_id] and self.state == "present":
                raise TenantSpecError("members: %s belongs to tenant %s; remove them there first"
                                      % (email, owner[0]))
        if self.state == "present":
            if self.realm_part:
                self.operations.extend(self.view.role_and_profile_operations())
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
            if self.realm_part:
                self.operations.extend(self.view.mapper_operations())
        leaving = [e for e, u in self.users.items() if self._member_of(u) is not None and
                   (self.state == "absent" or (self.members_mode == "exact" and e not in self.members))]
        for email in sorted(leaving):
            self._plan_leave(email, self.users[email])
        if self.state == "absent":
            for name in self.group_set:
                if self.groups[name]:
                    self._op("delete group %s" % name, admin.delete_group, self.groups[name]["id"])
        return self.operations

    def _create_group(self, name, attributes):
        group_id = self.admin.create_group({"name": name, "attributes": attributes})
        self.groups[name] = {"id": group_id, "name": name, "attributes": attributes}

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
        if email in self.passwords and not user.get("has_password", True):
            # Created without it (a run that failed half-way, or by hand): the initial password is still owed.
            self._op("set the initial password of %s" % email, self._set_password, user["id"], email)

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

    def _user_payload(self, email, member):
        payload = {"username": email, "email": email, "emailVerified": True, "enabled": member["enabled"],
                   "firstName": member["firstName"], "lastName": member["lastName"],
                   "attributes": {TENANT_ATTRIBUTE: [self.tenant_id]}}
        if email in self.passwords:
            # In the same request: Keycloak creates the user with the password or, if its policy refuses it, not at all.
            payload["credentials"] = [{"type": "password", "value": self.passwords[email],
                                       "temporary": self.initial_password_temporary}]
            if self.initial_password_temporary:
                # What POST /users does for a temporary credential; partial import needs it said (same user either way).
                payload["requiredActions"] = ["UPDATE_PASSWORD"]
        return payload

    def _create_user(self, email, member):
        user_id = self.admin.create_user(self._user_payload(email, member))
        self.users[email] = {"id": user_id, "roles": set(), "group_names": set()}

    def _set_password(self, user_id, email):
        self.admin.set_user_password(user_id, self.passwords[email], temporary=self.initial_password_temporary)

    def _add_to_group(self, email, group):
        self.admin.group_user_add(self._user_id(email), self._group_id(group))

    def _remove_from_group(self, email, group):
        self.admin.group_user_remove(self._user_id(email), self._group_id(group))

    def _role_representations(self, names):
        known = self.view.roles if getattr(self, "view", None) is not None else {}
        return [known[name] if known.get(name, {}).get("id") else self.admin.get_realm_role(name) for name in names]

    def _grant(self, email, roles):
        self.admin.assign_realm_roles(self._user_id(email), self._role_representations(roles))

    def _revoke(self, email, roles):
        self.admin.delete_realm_roles_of_user(self._user_id(email), self._role_representations(roles))

    def importable(self):
        """The planned operations one partial import can do: creating groups and users, and a created user's group
        and realm role. The other operations (updates, removals) have no bulk form in Keycloak."""
        created = set(args[0] for _d, function, args in self.operations if function == self._create_user)
        return [op for op in self.operations if op[1] in (self._create_group, self._create_user) or
                (op[1] in (self._add_to_group, self._grant) and op[2][0] in created)]

    def _partial_import(self, chosen):
        """``POST /admin/realms/{realm}/partialImport`` (ifResourceExists SKIP) of ``chosen``; the operations done.

        The same users and groups as one by one: the payloads of :meth:`_create_group` and :meth:`_user_payload`,
        with the group (by path; a tenant's group names hold no ``/``), the realm roles, and what POST /users adds by
        itself (the realm's default role and default required actions, :meth:`RealmView.list_all`). Keycloak runs an import
        in one transaction: refused, nothing is done and the operations run one by one, so that the refusal names
        its operation. A skipped resource (it appeared meanwhile) is left to its one-by-one operations too.
        """
        groups, users = [], {}
        for _description, function, args in chosen:
            if function == self._create_group:
                groups.append({"name": args[0], "path": "/" + args[0], "attributes": args[1]})  # found by path
            elif function == self._create_user:
                users[args[0]] = self._user_payload(*args)
                users[args[0]]["realmRoles"] = [self.view.default_role] if self.view.default_role else []
                actions = set(users[args[0]].get("requiredActions") or []) | set(self.view.default_actions)
                if actions:
                    users[args[0]]["requiredActions"] = sorted(actions)
            elif function == self._add_to_group:
                users[args[0]].setdefault("groups", []).append("/" + args[1])
            else:
                users[args[0]].setdefault("realmRoles", []).extend(args[1])
        body = {"ifResourceExists": "SKIP", "groups": groups, "users": list(users.values())}
        try:
            response = self.admin.connection.raw_post("admin/realms/%s/partialImport" % self.admin.connection.realm_name,
                                                      data=json.dumps(body))
        except KeycloakError:
            return []
        if response.status_code >= 400:
            return []
        added = dict(((r.get("resourceType"), r.get("resourceName")), r.get("id"))
                     for r in response.json().get("results") or [] if r.get("action") == "ADDED")
        done = []
        for operation in chosen:
            function, args = operation[1], operation[2]
            if function == self._create_group and ("GROUP", args[0]) in added:
                self.groups[args[0]] = {"id": added[("GROUP", args[0])], "name": args[0], "attributes": args[1]}
                done.append(operation)
            elif function != self._create_group and ("USER", args[0]) in added:
                payload = users[args[0]]
                self.users[args[0]] = {"id": added[("USER", args[0])],
                                       "roles": set(payload.get("realmRoles") or []) & TENANT_ROLES,
                                       "group_names": set(g[1:] for g in payload.get("groups") or [])}
                done.append(operation)
        return done

    def apply(self, bulk=False):
        """Execute the plan; a refusal raises KeycloakWriteError naming the tenant and the refused operation.

        ``bulk``: the creations go through one partial import (:meth:`_partial_import`) when there are several,
        the rest one by one in the planned order. Only for a tenant whose realm-wide part is done already
        (``realm_part=False``): the import grants realm roles that must exist. Returns how many of the planned
        operations the partial import did.
        """
        operations, done = self.operations, []
        chosen = self.importable() if bulk and not self.realm_part else []
        if len(chosen) > 1:
            done = self._partial_import(chosen)
            operations = [op for op in operations if not any(op is d for d in done)]
        run_operations(operations, "tenant %s" % self.tenant_id)
        return len(done)
