# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One converge loop for the gateway's named objects (strategies, applications, scope mappings).

A module describes its object kind (how to list, get, create, update and
delete it, and its natural key) and builds the desired body; this module finds
the object by key, compares only the fields the module manages (lists in any
order, server-generated fields ignored), and writes only on a difference.
Check mode writes nothing and predicts the end state; results always carry
``existing``, ``end_state`` and ``diff``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

SERVER_FIELDS = ("id", "owner", "creationDate", "lastModified", "lastupdated", "created", "accessTokens",
                 "consumingAPIs", "isAssociated")


class ObjectError(Exception):
    """The desired object cannot be converged without an operator's decision."""


class ObjectKind(object):
    """How to reach one kind of gateway object through the client."""

    def __init__(self, label, key, list_all, get, create, update, delete, ignore=()):
        self.label, self.key = label, key
        self.list_all, self.get, self.create, self.update, self.delete = list_all, get, create, update, delete
        self.ignore = tuple(ignore)


def normalise(value):
    """Lists in a stable order, so that the gateway's ordering never reads as a change."""
    if isinstance(value, dict):
        return dict((k, normalise(v)) for k, v in value.items())
    if isinstance(value, list):
        items = [normalise(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value


def managed(current, desired, ignore=()):
    """The part of ``current`` at the keys ``desired`` sets (recursively)."""
    if isinstance(desired, dict):
        current = current if isinstance(current, dict) else {}
        return dict((k, managed(current.get(k), v, ignore)) for k, v in desired.items() if k not in ignore)
    if isinstance(desired, list) and desired and all(isinstance(d, dict) for d in desired):
        # Lists of objects (identifiers): compare the keys we set, whatever the server adds (ids).
        keys = set(k for d in desired for k in d)
        return [dict((k, v) for k, v in item.items() if k in keys) for item in current or [] if isinstance(item, dict)]
    return current


def find(kind, client, key_value):
    matches = [o for o in kind.list_all(client) if o.get(kind.key) == key_value]
    if len(matches) > 1:
        raise ObjectError("%d %ss named %s on the gateway (ids %s); remove the extra ones"
                          % (len(matches), kind.label, key_value, ", ".join(str(m.get("id")) for m in matches)))
    return kind.get(client, matches[0]["id"]) if matches else None


def strip_server_fields(obj):
    return dict((k, v) for k, v in (obj or {}).items() if k not in SERVER_FIELDS)


def converge(kind, client, desired, state, check_mode):
    """Returns a result dict: changed, existing, end_state, diff, id."""
    key_value = desired[kind.key]
    current = find(kind, client, key_value)
    result = dict(changed=False, existing=current)
    if state == "absent":
        result["diff"] = dict(before=normalise(strip_server_fields(current)) if current else {}, after={})
        if current is not None:
            result.update(changed=True, id=current.get("id"))
            if not check_mode:
                kind.delete(client, current["id"])
        result["end_state"] = None
        return result
    before = normalise(managed(current, desired, kind.ignore)) if current is not None else {}
    after = normalise(dict((k, v) for k, v in desired.items() if k not in kind.ignore))
    result["diff"] = dict(before=before, after=after)
    if current is not None and before == after:
        result.update(end_state=current, id=current.get("id"))
        return result
    result["changed"] = True
    if current is None:
        body = copy.deepcopy(desired)
        saved = None if check_mode else kind.create(client, body)
    else:
        # The whole read-back object with the managed fields replaced.
        body = strip_server_fields(current)
        body.update(copy.deepcopy(desired))
        saved = None if check_mode else kind.update(client, current["id"], body)
    if check_mode:
        result.update(end_state=dict(body, id=(current or {}).get("id")), id=(current or {}).get("id"))
        return result
    object_id = (saved or {}).get("id") or current["id"]
    result.update(end_state=kind.get(client, object_id), id=object_id)
    return result


def run(module, kind, client, desired, errors):
    """Converge and exit the module; ``errors`` are the exception types to report as failures."""
    try:
        result = converge(kind, client, desired, module.params["state"], module.check_mode)
    except errors as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


def compact(body):
    """Drop options that were not given, so that they are left as they are on the gateway."""
    return dict((k, v) for k, v in body.items() if v is not None)


def api_ids(client, apis):
    """[{name, version}] -> [API id]; every missing API is reported at once."""
    if not apis:
        return []
    known = dict(((a.get("apiName"), a.get("apiVersion")), a["id"]) for a in client.list_apis())
    missing = ["%s %s" % (a["name"], a["version"]) for a in apis if (a["name"], a["version"]) not in known]
    if missing:
        raise ObjectError("no API on the gateway named %s; deploy it first (stoa.platform.gateway_api)"
                          % ", ".join(missing))
    return [known[(a["name"], a["version"])] for a in apis]


STRATEGY = ObjectKind(
    "strategy", "name",
    list_all=lambda c: c.list_strategies(), get=lambda c, i: c.get_strategy(i),
    create=lambda c, b: c.create_strategy(b), update=lambda c, i, b: c.update_strategy(i, b),
    delete=lambda c, i: c.delete_strategy(i))

APPLICATION = ObjectKind(
    "application", "name",
    list_all=lambda c: c.list_applications(), get=lambda c, i: c.get_application(i),
    create=lambda c, b: c.create_application(b), update=lambda c, i, b: c.update_application(i, b),
    delete=lambda c, i: c.delete_application(i))

SCOPE_MAPPING = ObjectKind(
    "scope mapping", "scopeName",
    list_all=lambda c: c.list_scopes(), get=lambda c, i: c.get_scope(i),
    create=lambda c, b: c.create_scope(b), update=lambda c, i, b: c.update_scope(i, b),
    delete=lambda c, i: c.delete_scope(i))


def scope_mapping_name(auth_server, tenant, api_name, api_version, scope):
    """The platform's naming rule: ``{AuthServer}:{Tenant}:{Api}:{Version}:{Scope}``."""
    return ":".join((auth_server, tenant, api_name, api_version, scope))
