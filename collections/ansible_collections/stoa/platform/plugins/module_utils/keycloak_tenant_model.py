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

What Keycloak accepts is checked here, before the first request that writes
(:func:`user_problems`, :func:`group_name_problems`, :func:`tenant_problems`):
the realm's user profile (``GET /admin/realms/{realm}/users/profile``) says
which validators apply to which attribute; the built-in ones are mirrored
from Keycloak 26 (``org.keycloak.userprofile.validator``,
``org.keycloak.validate.validators``, ``org.keycloak.utils.EmailValidationUtil``)
and were checked against the running server (tests/integration/
test_keycloak_inputs.py). Validators of extensions cannot be read and are left
to Keycloak, whose refusal then names the object being written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
import unicodedata

REALM_ROLES = {
    "cpi-admin": "Platform administrator: every tenant",
    "tenant-admin": "Tenant administrator (CPI): manages and approves for one tenant",
    "devops": "Deploys and promotes the tenant's APIs",
    "viewer": "Read-only access to the tenant",
}
ROLE_OF = {"cpi": "tenant-admin", "devops": "devops", "viewer": "viewer"}
TENANT_ROLES = frozenset(ROLE_OF.values())
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


def tenant_option_spec():
    """The argument spec of one tenant (keycloak_tenant's ``tenant``, keycloak_tenant_set's ``tenants[].tenant``)."""
    return dict(type="dict", required=True, options=dict(
        id=dict(type="str", required=True),
        display_name=dict(type="str"),
        status=dict(type="str", choices=["active", "suspended", "archived"], default="active"),
        quotas=dict(type="dict", options=dict(max_apis=dict(type="int"), max_applications=dict(type="int"))),
        environments=dict(type="list", elements="str", default=[]),
    ))


def member_option_spec():
    """The argument spec of a tenant's members (keycloak_tenant's ``members``, keycloak_tenant_set's
    ``tenants[].members``)."""
    return dict(type="list", elements="dict", default=[], options=dict(
        email=dict(type="str", required=True),
        name=dict(type="str"),
        role=dict(type="str", required=True, choices=["cpi", "devops", "viewer"]),
        enabled=dict(type="bool", default=True),
        initial_password=dict(type="str", no_log=True),
    ))


def tenant_sync_option_spec():
    """The options that say how tenants are converged, shared by keycloak_tenant and keycloak_tenant_set."""
    return dict(
        realm=dict(type="str", default="stoa"),
        members_mode=dict(type="str", choices=["exact", "merge"], default="exact"),
        group_scheme=dict(type="str", choices=["tenant", "enterprise"], default="tenant"),
        token_clients=dict(type="list", elements="str", no_log=False,
                           default=["control-plane-api", "control-plane-ui", "stoa-portal", "api-gateway",
                                    "developer-portal"]),
        # Not a secret (a flag); said explicitly, else Ansible warns for an option named *password* without no_log.
        initial_password_temporary=dict(type="bool", default=True, no_log=False),
    )


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
    """``"Fay Lund"`` -> (``Fay``, ``Lund``); no name -> the e-mail's local part twice (Keycloak wants both)."""
    parts = (name or "").strip().split(None, 1)
    if not parts:
        local = email.split("@")[0]
        return local, local
    return parts[0], parts[1] if len(parts) > 1 else parts[0]


def desired_members(members):
    """Normalise the member list: {email: member}, e-mail lower case and also the username.

    Only what needs no server is checked here (missing or duplicated e-mails); what Keycloak accepts is checked
    against the realm's user profile by :func:`user_problems` once it is read. Raises TenantSpecError with every
    problem at once, each naming ``members[<index>].<field>``.
    """
    problems, result = [], {}
    for position, member in enumerate(members or []):
        email = (member.get("email") or "").strip().lower()
        where = "members[%d]" % position
        if not email:
            problems.append("%s.email: an e-mail address is required" % where)
            continue
        if email in result:
            problems.append("%s.email: %s is listed twice" % (where, email))
            continue
        first, last = split_name(member.get("name"), email)
        result[email] = {"email": email, "username": email, "firstName": first, "lastName": last,
                         "enabled": member.get("enabled", True) is not False, "role": member["role"],
                         "initial_password": member.get("initial_password"), "where": where}
    if problems:
        raise TenantSpecError("; ".join(problems))
    return result


# -- what Keycloak accepts ------------------------------------------------------------------------------------------

KEYCLOAK_NAME_MAX = 255  # group names and group attribute values: longer ones fail with HTTP 500 (VARCHAR(255))

# Java's \s, \v (vertical), \h (horizontal whitespace) and \p{Cntrl}, as the patterns of Keycloak's validators use them.
_JAVA_SPACE = " \t\n\x0b\f\r"
_JAVA_VERTICAL = "\n\x0b\f\r\x85\u2028\u2029"
_JAVA_HORIZONTAL = " \t\xa0\u1680\u180e\u2000-\u200a\u202f\u205f\u3000"
_JAVA_CNTRL = "\x00-\x1f\x7f"
# UsernameProhibitedCharactersValidator: ^[^<>&"'\s\v\h$%!#?§,;:*~/\\|^=\[\]{}()`\p{Cntrl}]+$
USERNAME_PROHIBITED = re.compile("[" + re.escape("<>&\"'$%!#?\u00a7,;:*~/\\|^=[]{}()`") + _JAVA_SPACE + _JAVA_VERTICAL
                                 + _JAVA_HORIZONTAL + _JAVA_CNTRL + "]")
# PersonNameProhibitedCharactersValidator: ^[^<>&"\v$%!#?§;*~/\\|^=\[\]{}()\p{Cntrl}]+$
PERSON_NAME_PROHIBITED = re.compile("[" + re.escape("<>&\"$%!#?\u00a7;*~/\\|^=[]{}()") + _JAVA_VERTICAL + _JAVA_CNTRL + "]")
# EmailValidationUtil (hibernate-validator's rule). The domain label is written without the nested quantifiers of the
# Java pattern ((?:C-*)*C+, same language), which backtrack exponentially on a long refused domain.
_LOCAL_ATOM = "[a-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]"
_LOCAL_QUOTED = "(?:[a-z0-9!#$%&'*.(),<>\\[\\]:;  @+/=?^_`{|}~\u0080-\uffff-]|\\\\\\\\|\\\\\")"
_LOCAL_WORD = "(?:%s+|\"%s+\")" % (_LOCAL_ATOM, _LOCAL_QUOTED)
EMAIL_LOCAL = re.compile("%s(?:\\.%s)*" % (_LOCAL_WORD, _LOCAL_WORD), re.IGNORECASE)
_DOMAIN_CHAR = "[a-z\u0080-\uffff0-9!#$%&'*+/=?^`{|}~]"
_DOMAIN_LABEL = "%s(?:[-a-z\u0080-\uffff0-9!#$%%&'*+/=?^`{|}~]*%s)?" % (_DOMAIN_CHAR, _DOMAIN_CHAR)
EMAIL_DOMAIN = re.compile("%s(?:\\.%s)*|\\[[0-9]{1,3}(?:\\.[0-9]{1,3}){3}\\]" % (_DOMAIN_LABEL, _DOMAIN_LABEL), re.IGNORECASE)
EMAIL_LOCAL_MAX = 64  # Keycloak's default max-local-part-length
EMAIL_DOMAIN_MAX = 255
# Scripts Keycloak's up-username-not-idn-homograph accepts: Latin, Common, Inherited. Python has no script property;
# letters must be Latin by their Unicode name (or modifier letters), digits ASCII or one of the Common forms.
_COMMON_NUMBER_PREFIXES = ("SUPERSCRIPT", "SUBSCRIPT", "CIRCLED", "PARENTHESIZED", "FULLWIDTH DIGIT", "VULGAR",
                           "ROMAN NUMERAL", "DIGIT", "NUMBER", "DOUBLE CIRCLED", "NEGATIVE CIRCLED", "DINGBAT",
                           "MATHEMATICAL")


def _utf16_length(value):
    """Java's String.length(), which Keycloak's length validator counts."""
    return len(value.encode("utf-16-le")) // 2


def _chars(characters):
    """``'(', ')', '\\t'``: each refused character once, quoted so that blanks and control characters show."""
    return ", ".join(repr(c) for c in sorted(set(characters)))


def is_keycloak_email(value, max_local=EMAIL_LOCAL_MAX):
    """Whether Keycloak's e-mail validator (EmailValidationUtil.isValidEmail) accepts ``value``."""
    if not value or "@" not in value:
        return False
    local, domain = value.rsplit("@", 1)
    if _utf16_length(local) > max_local or not EMAIL_LOCAL.fullmatch(local):
        return False
    if domain.endswith("."):
        return False
    if domain.startswith("[IPv6:") and domain.endswith("]"):
        try:
            ipaddress.IPv6Address(domain[6:-1])
            return True
        except ValueError:
            return False
    try:
        ascii_domain = domain.encode("idna")
    except UnicodeError:
        return False
    return len(ascii_domain) <= EMAIL_DOMAIN_MAX and EMAIL_DOMAIN.fullmatch(domain) is not None


def _not_latin(value):
    refused = []
    for char in value:
        if ord(char) < 128:
            continue
        category, name = unicodedata.category(char), unicodedata.name(char, "")
        if category.startswith("L") and "LATIN" not in name and category != "Lm":
            refused.append(char)
        elif category.startswith("N") and not name.startswith(_COMMON_NUMBER_PREFIXES):
            refused.append(char)
    return refused


def _validate_length(value, config):
    text = value if str(config.get("trim-disabled", "")).lower() == "true" else value.strip()
    length = _utf16_length(text)
    if config.get("min") not in (None, "") and length < int(config["min"]):
        return "has %d characters; the realm's user profile wants at least %s" % (length, config["min"])
    if config.get("max") not in (None, "") and length > int(config["max"]):
        return "has %d characters; the realm's user profile allows at most %s" % (length, config["max"])
    return None


def _validate_username_characters(value, _config):
    found = USERNAME_PROHIBITED.findall(value)
    return "contains %s, which Keycloak refuses in a username" % _chars(found) if found else None


def _validate_person_name(value, _config):
    found = PERSON_NAME_PROHIBITED.findall(value)
    return "contains %s, which Keycloak refuses in a name" % _chars(found) if found else None


def _validate_homograph(value, _config):
    found = _not_latin(value)
    return ("contains %s, not Latin script, which Keycloak refuses in a username (IDN homographs)" % _chars(found)
            if found else None)


def _validate_email(value, config):
    limit = int(config.get("max-local-part-length") or EMAIL_LOCAL_MAX)
    if is_keycloak_email(value, limit):
        return None
    return "%r is not an e-mail address Keycloak accepts (local part at most %d characters)" % (value, limit)


def _validate_pattern(value, config):
    try:
        pattern = re.compile(config.get("pattern") or "")
    except re.error:
        return None  # a Java-only construct: Keycloak decides, and its refusal names the object
    if pattern.fullmatch(value):
        return None
    return "does not match the pattern %s of the realm's user profile" % config.get("pattern")


def _validate_options(value, config):
    options = config.get("options") or []
    return None if value in options else "is not one of %s (the realm's user profile)" % ", ".join(options)


VALIDATORS = {
    "length": _validate_length,
    "username-prohibited-characters": _validate_username_characters,
    "person-name-prohibited-characters": _validate_person_name,
    "up-username-not-idn-homograph": _validate_homograph,
    "email": _validate_email,
    "pattern": _validate_pattern,
    "options": _validate_options,
}

# Keycloak 26's user profile of a new realm (GET .../users/profile); used when a server answers none.
DEFAULT_USER_PROFILE = {"attributes": [
    {"name": "username", "validations": {"length": {"min": 3, "max": 255}, "username-prohibited-characters": {},
                                         "up-username-not-idn-homograph": {}}},
    {"name": "email", "validations": {"email": {}, "length": {"max": 255}}},
    {"name": "firstName", "validations": {"length": {"max": 255}, "person-name-prohibited-characters": {}}},
    {"name": "lastName", "validations": {"length": {"max": 255}, "person-name-prohibited-characters": {}}},
]}


def _required_for_admin(attribute):
    required = attribute.get("required")
    if not isinstance(required, dict):
        return False
    if required.get("scopes"):
        return False  # required only when a client asks for that scope, never through the admin API
    roles = required.get("roles") or []
    return not roles or "admin" in roles


def user_problems(profile, attributes, where):
    """What the realm's user profile would refuse in a user written through the admin API.

    ``profile``: the answer of ``GET /admin/realms/{realm}/users/profile`` (None: Keycloak's default).
    ``attributes``: {attribute: (input field, how the field is used, value)}, e.g.
    ``{"username": ("email", "as the username", "fay@x.example")}``; the attributes the caller writes.
    Returns ``["members[1].email: as the username, contains ' ..."]``, empty when Keycloak should accept the user.
    Checked: the validators of :data:`VALIDATORS`, attributes required for the admin that the caller does not write,
    and attributes the caller writes that the admin may not edit.
    """
    problems = []
    declared = dict((a.get("name"), a) for a in (profile or DEFAULT_USER_PROFILE).get("attributes") or [])
    for name, attribute in sorted(declared.items()):
        if name not in attributes:
            if _required_for_admin(attribute):
                problems.append("%s: the realm's user profile requires the attribute %s, which is not set here"
                                % (where, name))
            continue
        field, usage, value = attributes[name]
        label = "%s.%s: %s" % (where, field, usage + ", " if usage else "")
        edit = (attribute.get("permissions") or {}).get("edit")
        if edit is not None and "admin" not in edit and name not in ("username", "email"):
            problems.append("%sthe realm's user profile does not let an administrator edit %s" % (label, name))
        if value in (None, "") or not str(value).strip():
            if _required_for_admin(attribute):
                problems.append("%sthe realm's user profile requires a value" % label)
            continue
        for validator, config in sorted((attribute.get("validations") or {}).items()):
            check = VALIDATORS.get(validator)
            reason = check(str(value), config or {}) if check else None
            if reason:
                problems.append("%s%s" % (label, reason if validator == "email" else "%r %s" % (value, reason)))
    return problems


def member_attributes(member, tenant_id):
    """The attributes keycloak_tenant writes for one member, as :func:`user_problems` takes them."""
    return {"username": ("email", "as the username", member["username"]), "email": ("email", "", member["email"]),
            "firstName": ("name", "as the first name", member["firstName"]),
            "lastName": ("name", "as the last name", member["lastName"]),
            TENANT_ATTRIBUTE: ("tenant.id", "as the user attribute %s" % TENANT_ATTRIBUTE, tenant_id)}


PASSWORD_POLICY = re.compile(r"(\w+)(?:\(([^)]*)\))?")


def _count(password, test):
    return sum(1 for c in password if test(c))


# Keycloak's password policies that can be checked from the realm's passwordPolicy string: (default, test, reason).
# passwordHistory, passwordBlacklist (a file on the server), hash settings and the like are left to Keycloak.
PASSWORD_RULES = {
    "length": (8, lambda p, n, u, e: len(p) >= n, "at least %s characters"),
    "maxLength": (64, lambda p, n, u, e: len(p) <= n, "at most %s characters"),
    "digits": (1, lambda p, n, u, e: _count(p, str.isdigit) >= n, "at least %s digits"),
    "lowerCase": (1, lambda p, n, u, e: _count(p, str.islower) >= n, "at least %s lower-case letters"),
    "upperCase": (1, lambda p, n, u, e: _count(p, str.isupper) >= n, "at least %s upper-case letters"),
    "specialChars": (1, lambda p, n, u, e: _count(p, lambda c: not c.isalnum()) >= n, "at least %s special characters"),
    "notUsername": (None, lambda p, n, u, e: p.lower() != u.lower(), "not the username"),
    "notEmail": (None, lambda p, n, u, e: p.lower() != (e or "").lower(), "not the e-mail address"),
    "notContainsUsername": (None, lambda p, n, u, e: u.lower() not in p.lower(), "not containing the username"),
}


def password_problems(policy, password, username, email, field):
    """What the realm's password policy (``passwordPolicy`` of the realm, e.g. ``length(12) and digits(2)``) would
    refuse in ``password``; the reasons name the rule, never the password."""
    problems = []
    for name, argument in PASSWORD_POLICY.findall(policy or ""):
        if name == "regexPattern" and argument:
            try:
                if not re.fullmatch(argument, password):
                    problems.append("%s: the realm's password policy wants it to match %s" % (field, argument))
            except re.error:
                pass  # a Java-only construct: Keycloak decides
            continue
        if name not in PASSWORD_RULES:
            continue
        default, test, reason = PASSWORD_RULES[name]
        try:
            number = int(argument) if argument.strip() else default
        except ValueError:
            number = default
        if not test(password, number, username, email):
            wanted = reason % number if "%s" in reason else reason
            problems.append("%s: the realm's password policy wants %s" % (field, wanted))
    return problems


def group_name_problems(name, field):
    """Why Keycloak cannot hold ``name`` as an unambiguous group name (empty list: it can).

    ``/`` separates the levels of a group path (a group ``acme/eu`` and the subgroup ``eu`` of ``acme`` share the
    path ``/acme/eu``); names longer than 255 characters fail with HTTP 500; control characters and surrounding
    blanks make names that look alike.
    """
    problems = []
    if not name or not name.strip():
        return ["%s: a group name cannot be empty" % field]
    if "/" in name:
        problems.append("%s: %r contains '/', which Keycloak reads as a group path separator" % (field, name))
    if len(name) > KEYCLOAK_NAME_MAX:
        problems.append("%s: %r is longer than the %d characters of a Keycloak group name"
                        % (field, name[:40] + "...", KEYCLOAK_NAME_MAX))
    if re.search("[" + _JAVA_CNTRL + "\x85\u2028\u2029]", name):
        problems.append("%s: %r contains control characters" % (field, name))
    if name != name.strip():
        problems.append("%s: %r begins or ends with blanks" % (field, name))
    return problems


def client_id_problems(client_id, field):
    """Why Keycloak cannot hold ``client_id`` as a client id usable in URLs and tokens (empty list: it can)."""
    if not client_id or not client_id.strip():
        return ["%s: a client id cannot be empty" % field]
    problems = []
    if len(client_id) > KEYCLOAK_NAME_MAX:
        problems.append("%s: the client id %r is longer than %d characters"
                        % (field, client_id[:40] + "...", KEYCLOAK_NAME_MAX))
    if re.search("[" + _JAVA_SPACE + _JAVA_CNTRL + "]", client_id):
        problems.append("%s: the client id %r contains blanks or control characters" % (field, client_id))
    return problems


def realm_name_problems(name, field):
    """Why Keycloak refuses ``name`` as a realm name, or cannot serve it (``%``: created, then every URL of it 404s)."""
    if not name or not name.strip():
        return ["%s: a realm name cannot be empty" % field]
    problems = []
    bad = sorted(set(c for c in name if c in "/#?%\\") | set(re.findall("[" + _JAVA_CNTRL + "]", name)))
    if bad:
        problems.append("%s: %r contains %s, which Keycloak refuses in a realm name or cannot serve in its URLs"
                        % (field, name, _chars(bad)))
    if len(name) > KEYCLOAK_NAME_MAX:
        problems.append("%s: longer than the %d characters of a Keycloak realm name" % (field, KEYCLOAK_NAME_MAX))
    if name != name.strip():
        problems.append("%s: %r begins or ends with blanks" % (field, name))
    return problems


def base_url_problems(url, field):
    """Why ``url`` cannot be the base of a client's redirect URIs and web origins (Keycloak wants absolute http(s)
    URLs without a fragment; a wildcard is added by the module)."""
    match = re.match(r"^(https?)://([^/?#\s]+)([^#\s]*)$", url or "")
    if not match:
        return ["%s: %r is not an absolute http(s) URL without blanks or fragment" % (field, url)]
    if "*" in url:
        return ["%s: %r contains '*'; give the base URL, the module adds the wildcard" % (field, url)]
    return []


def tenant_problems(tenant, scheme):
    """What Keycloak would refuse or misread in the tenant's groups (names and attributes); every problem at once."""
    problems = []
    for name in sorted(set(group_names(tenant.get("id") or "", scheme).values())):
        problems.extend(group_name_problems(name, "tenant.id"))
    values = [("tenant.display_name", tenant.get("display_name"))]
    values += [("tenant.environments[%d]" % i, e) for i, e in enumerate(tenant.get("environments") or [])]
    for field, value in values:
        if value is not None and len(str(value)) > KEYCLOAK_NAME_MAX:
            problems.append("%s: longer than the %d characters of a Keycloak group attribute"
                            % (field, KEYCLOAK_NAME_MAX))
    return sorted(set(problems), key=problems.index)


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
