# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Vault references: ``vault:<mount>/data/<path>#<key>`` read from a KV v2 engine with hvac.

Git holds references, never secrets (design phase 3). The modules that need a
secret resolve its reference at the last moment with a :class:`VaultResolver`:
one connection and a cache per module run, and errors that name the reference,
never the value. Authentication methods are small classes (token, AppRole),
chosen by ``vault_auth_method``; options and ``VAULT_*`` environment variables
are read by :func:`vault_argument_spec` (modules) and the ``vault_ref`` lookup.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import threading

from ansible.module_utils.basic import env_fallback

try:
    import hvac
    from hvac import exceptions as hvac_exceptions

    HAS_HVAC = True
except ImportError:  # pragma: no cover - reported by the module with missing_required_lib
    HAS_HVAC = False

# The one form of a reference (KV version 2): vault:<mount>/data/<path>#<key>. The path's segments are not empty;
# the mount is one segment. Also the JSON Schema pattern of every *Ref field of the GitOps repository
# (gitops_schemas), so the validator, the modules and the vault_ref lookup accept exactly the same references.
REFERENCE_PATTERN = r"^vault:([^/#\s]+)/data/([^/#\s]+(?:/[^/#\s]+)*)#([^#\s]+)$"
REFERENCE = re.compile(REFERENCE_PATTERN)


class VaultRefError(Exception):
    """A reference that is malformed or cannot be resolved; the message names the reference only."""


class VaultReference(object):
    __slots__ = ("text", "mount", "path", "key")

    def __init__(self, text, mount, path, key):
        self.text, self.mount, self.path, self.key = text, mount, path, key

    def __repr__(self):
        return "VaultReference(%r)" % self.text

    @property
    def where(self):
        """How errors name the reference: without the ``vault:`` prefix, because a module whose option
        holds the reference masks that exact string (no_log) in everything it prints."""
        return "%s/data/%s#%s" % (self.mount, self.path, self.key)


def is_reference(value):
    return isinstance(value, str) and value.startswith("vault:")


def parse_reference(text):
    """``vault:secret/data/dev/backend#password`` -> mount ``secret``, path ``dev/backend``, key ``password``."""
    match = REFERENCE.match(text or "") if isinstance(text, str) else None
    if not match:
        raise VaultRefError("%r is not a Vault reference; expected vault:<mount>/data/<path>#<key>, "
                            "for example vault:secret/data/dev/payment-backend#client_secret" % (text,))
    return VaultReference(text, match.group(1), match.group(2), match.group(3))


def vault_argument_spec():
    """Connection options of doc fragment stoa.platform.vault."""
    return dict(
        vault_addr=dict(type="str", fallback=(env_fallback, ["VAULT_ADDR"])),
        vault_auth_method=dict(type="str", choices=["token", "approle"], default="token",
                               fallback=(env_fallback, ["VAULT_AUTH_METHOD"])),
        vault_token=dict(type="str", no_log=True, fallback=(env_fallback, ["VAULT_TOKEN"])),
        vault_role_id=dict(type="str", fallback=(env_fallback, ["VAULT_ROLE_ID"])),
        vault_secret_id=dict(type="str", no_log=True, fallback=(env_fallback, ["VAULT_SECRET_ID"])),
        vault_approle_mount=dict(type="str", default="approle"),
        vault_namespace=dict(type="str", fallback=(env_fallback, ["VAULT_NAMESPACE"])),
        vault_validate_certs=dict(type="bool", default=True),
        vault_timeout=dict(type="int", default=30),
    )


class TokenAuth(object):
    name = "token"

    def __init__(self, options):
        self.token = options.get("vault_token")

    def authenticate(self, client):
        if not self.token:
            raise VaultRefError("vault_auth_method=token needs vault_token (or VAULT_TOKEN)")
        client.token = self.token


class AppRoleAuth(object):
    name = "approle"

    def __init__(self, options):
        self.role_id, self.secret_id = options.get("vault_role_id"), options.get("vault_secret_id")
        self.mount = options.get("vault_approle_mount") or "approle"

    def authenticate(self, client):
        if not self.role_id:
            raise VaultRefError("vault_auth_method=approle needs vault_role_id (or VAULT_ROLE_ID)")
        try:
            client.auth.approle.login(role_id=self.role_id, secret_id=self.secret_id, mount_point=self.mount)
        except hvac_exceptions.VaultError as exc:
            raise VaultRefError("AppRole login at %s failed: %s" % (self.mount, type(exc).__name__))


AUTH_METHODS = dict((cls.name, cls) for cls in (TokenAuth, AppRoleAuth))


class VaultResolver(object):
    """Resolves references within one run; each secret path is read once."""

    def __init__(self, options):
        if not HAS_HVAC:
            raise VaultRefError("the hvac Python library is required to read Vault references")
        if not options.get("vault_addr"):
            raise VaultRefError("vault_addr is required to resolve Vault references (or set VAULT_ADDR)")
        self.client = hvac.Client(url=options["vault_addr"], namespace=options.get("vault_namespace"),
                                  verify=options.get("vault_validate_certs", True) is not False,
                                  timeout=options.get("vault_timeout") or 30)
        AUTH_METHODS[options.get("vault_auth_method") or "token"](options).authenticate(self.client)
        self._secrets = {}

    def mount_problem(self, mount):
        """Why ``mount`` cannot hold KV v2 secrets (not mounted, another engine, KV version 1), or None.

        Asks ``sys/internal/ui/mounts/<mount>``, the endpoint Vault's own ``kv`` command uses to tell
        the KV versions apart (any token that may use the path may read it)."""
        try:
            response = self.client.adapter.get("/v1/sys/internal/ui/mounts/%s" % mount)
        except (hvac_exceptions.InvalidPath, hvac_exceptions.Forbidden):
            # OpenBao and Vault answer 403 "preflight capability check" for a mount that does not exist.
            return "no secrets engine that this token may use is mounted at %s/" % mount
        except Exception:  # pylint: disable=broad-except
            return None  # cannot tell: the read's own error stands
        info = (response or {}).get("data") or {} if isinstance(response, dict) else {}
        engine = info.get("type")
        version = str((info.get("options") or {}).get("version") or "1")
        if engine and engine not in ("kv", "generic"):
            return "the mount %s/ is a %s secrets engine, not KV version 2" % (mount, engine)
        if engine and version != "2":
            return ("the mount %s/ is KV version %s; references read KV version 2 "
                    "(vault:<mount>/data/<path>#<key>): upgrade the mount or move the secret" % (mount, version))
        return None

    def read(self, mount, path):
        """(data, metadata) of the latest version of a KV v2 secret, cached.

        A read that fails because the mount is not KV version 2 says so (see :meth:`mount_problem`)."""
        if (mount, path) not in self._secrets:
            where = "%s/data/%s" % (mount, path)
            try:
                response = self.client.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=mount, raise_on_deleted_version=True)
            except hvac_exceptions.InvalidPath:
                raise VaultRefError(self.mount_problem(mount) or "no secret at %s" % where)
            except (hvac_exceptions.Forbidden, hvac_exceptions.Unauthorized):
                raise VaultRefError("reading %s was denied by Vault" % where)
            except hvac_exceptions.VaultError as exc:
                raise VaultRefError(self.mount_problem(mount) or "reading %s failed: %s" % (where, type(exc).__name__))
            except Exception as exc:  # pylint: disable=broad-except
                # Connection errors come from requests; their text has no secret in it.
                raise VaultRefError("reading %s failed: %s" % (where, exc))
            self._secrets[(mount, path)] = (response["data"]["data"] or {}, response["data"]["metadata"] or {})
        return self._secrets[(mount, path)]

    def resolve(self, reference):
        ref = parse_reference(reference) if isinstance(reference, str) else reference
        try:
            data, _metadata = self.read(ref.mount, ref.path)
        except VaultRefError as exc:
            raise VaultRefError("Vault reference %s: %s" % (ref.where, exc))
        if ref.key not in data:
            raise VaultRefError("Vault reference %s: the secret has no key %r" % (ref.where, ref.key))
        value = data[ref.key]
        return value if isinstance(value, str) else str(value)

    def version(self, reference):
        ref = parse_reference(reference) if isinstance(reference, str) else reference
        return self.read(ref.mount, ref.path)[1].get("version")


class LazyVaultResolver(object):
    """Resolves ``vault:`` references with one :class:`VaultResolver` made when the first reference is met (a
    run without any needs no Vault); other values pass through. Safe for several threads: one client, each
    secret path read once. Raises VaultRefError as VaultResolver does."""

    def __init__(self, options):
        self._options, self._resolver, self._lock = options, None, threading.Lock()

    def value(self, value):
        """``value`` itself, or the secret its reference names."""
        if not is_reference(value):
            return value
        with self._lock:
            if self._resolver is None:
                self._resolver = VaultResolver(self._options)
            return self._resolver.resolve(value)


def resolve_all(resolver, references):
    """{reference text: value}; every failure is reported at once, each naming its reference."""
    values, errors = {}, []
    for text in references:
        try:
            values[text] = resolver.resolve(text)
        except VaultRefError as exc:
            errors.append(str(exc))
    if errors:
        raise VaultRefError("; ".join(errors))
    return values
