#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vault_secret_rotate
short_description: Rotate one key of a Vault KV v2 secret when its rotation policy says it is due
version_added: 0.1.0
description:
  - Reads when the key was last rotated (the secret's custom metadata C(last_rotated), else the creation time of
    its current version) and compares it with the rotation policy of its type (design phase 7).
  - When due, or with O(force), writes a new random value with check-and-set on the current version (a concurrent
    writer makes the run fail instead of being overwritten), keeps the secret's other keys, and records
    C(last_rotated), C(rotated_by), C(rotated_key) and C(rotation_state=pending) in the custom metadata.
  - With O(state=propagated), records that every consumer (Keycloak, gateway aliases) has the new value. A secret
    left C(pending) is reported by the next run (RV(pending_propagation)) so that it finishes the propagation
    instead of rotating again.
  - The value is never returned.
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.vault
options:
  reference:
    description: The key to rotate, as a reference C(vault:<mount>/data/<path>#<key>).
    type: str
    required: true
  secret_type:
    description:
      - Its rotation policy. V(api_key) every 30 days (notice 7 days before), V(oauth_client_secret) and
        V(database_password) every 90 (14), V(service_account) every 180 (30), V(encryption_key) every 365 (60),
        never automatically.
    type: str
    choices: [api_key, oauth_client_secret, database_password, service_account, encryption_key]
    required: true
  max_age_days:
    description: Overrides the policy's rotation period.
    type: int
  notify_days:
    description: Overrides how many days before the due date RV(notify) turns true.
    type: int
  force:
    description: Rotate now, whatever the age (also an encryption key).
    type: bool
    default: false
  length:
    description: Length of the generated value (letters and digits).
    type: int
    default: 40
  rotated_by:
    description: Who rotates, recorded in the metadata (for example the AWX job's user).
    type: str
    default: stoa-automation
  state:
    description: V(rotated) rotates when due; V(propagated) marks a pending rotation as propagated.
    type: str
    choices: [rotated, propagated]
    default: rotated
notes:
  - Check mode reports whether a rotation is due and writes nothing.
  - Support for check_mode is full, for diff_mode none.
seealso:
  - plugin: stoa.platform.vault_ref
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Rotate the payment backend password when due
  stoa.platform.vault_secret_rotate:
    reference: vault:secret/data/dev/payment-backend#password
    secret_type: database_password
    rotated_by: "{{ awx_user_name | default('stoa-automation') }}"
  register: rotation
"""

RETURN = r"""
due:
  description: Whether the policy says the key must be rotated now.
  returned: always
  type: bool
rotated:
  description: Whether this run wrote a new value (in check mode, whether it would).
  returned: always
  type: bool
pending_propagation:
  description: Whether the last rotation still waits to be propagated to its consumers (after this run).
  returned: always
  type: bool
notify:
  description: Whether the due date is within the policy's notice period (or past).
  returned: always
  type: bool
age_days:
  description: Days since the last rotation, before this run.
  returned: always
  type: float
days_until_due:
  description: Days left before the next rotation is due (negative when overdue), after this run.
  returned: always
  type: float
version:
  description: The secret's current version after this run.
  returned: always
  type: int
last_rotated:
  description: When the key was last rotated (ISO 8601, UTC), after this run.
  returned: always
  type: str
"""

import datetime
import secrets
import string

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import (
    HAS_HVAC,
    VaultRefError,
    VaultResolver,
    parse_reference,
    vault_argument_spec,
)

# Design phase 7: (rotation period, notice), in days; None means never automatically.
POLICIES = {
    "api_key": (30, 7),
    "oauth_client_secret": (90, 14),
    "database_password": (90, 14),
    "service_account": (180, 30),
    "encryption_key": (None, 60),
}
ENCRYPTION_KEY_PERIOD = 365


def parse_time(text):
    text = text.rstrip("Z")
    if "." in text:
        head, fraction = text.split(".", 1)
        text = "%s.%s" % (head, fraction[:6])
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise VaultRefError("cannot read the time %r in the secret's metadata" % text)


def new_value(length):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for dummy in range(length))


def now():
    return datetime.datetime.utcnow().replace(microsecond=0)


def main():
    spec = dict(
        reference=dict(type="str", required=True),
        secret_type=dict(type="str", required=True, choices=sorted(POLICIES)),
        max_age_days=dict(type="int"),
        notify_days=dict(type="int"),
        force=dict(type="bool", default=False),
        length=dict(type="int", default=40, no_log=False),
        rotated_by=dict(type="str", default="stoa-automation"),
        state=dict(type="str", choices=["rotated", "propagated"], default="rotated"),
    )
    spec.update(vault_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib("hvac"))
    p = module.params
    try:
        ref = parse_reference(p["reference"])
        kv = VaultResolver(p).client.secrets.kv.v2
        where = "%s/data/%s" % (ref.mount, ref.path)
        try:
            metadata = kv.read_secret_metadata(path=ref.path, mount_point=ref.mount)["data"]
            current = kv.read_secret_version(path=ref.path, mount_point=ref.mount,
                                             raise_on_deleted_version=True)["data"]
        except Exception as exc:  # pylint: disable=broad-except
            raise VaultRefError("cannot read %s: %s" % (where, type(exc).__name__))
        data = dict(current["data"] or {})
        if ref.key not in data:
            raise VaultRefError("%s#%s: the secret has no key %r" % (where, ref.key, ref.key))
        custom = dict(metadata.get("custom_metadata") or {})
        version = metadata["current_version"]
        if custom.get("rotated_key") == ref.key and custom.get("last_rotated"):
            last = parse_time(custom["last_rotated"])
        else:
            last = parse_time(metadata["versions"][str(version)]["created_time"])
        period, notice = POLICIES[p["secret_type"]]
        period = p["max_age_days"] or period
        notice = p["notify_days"] if p["notify_days"] is not None else notice
        age = (now() - last).total_seconds() / 86400.0
        due = period is not None and age >= period
        pending = custom.get("rotation_state") == "pending" and custom.get("rotated_key") == ref.key
        result = dict(changed=False, due=due, rotated=False, age_days=round(age, 3), version=version,
                      last_rotated=last.isoformat() + "Z", pending_propagation=pending)

        if p["state"] == "propagated":
            if pending:
                result.update(changed=True, pending_propagation=False)
                if not module.check_mode:
                    custom["rotation_state"] = "propagated"
                    kv.update_metadata(path=ref.path, mount_point=ref.mount, custom_metadata=custom)
        elif (due or p["force"]) and not pending:
            # A rotation still pending is finished by propagating it, not by writing yet another value.
            result.update(changed=True, rotated=True, pending_propagation=True)
            if not module.check_mode:
                data[ref.key] = new_value(p["length"])
                module.no_log_values.add(data[ref.key])
                try:
                    written = kv.create_or_update_secret(path=ref.path, mount_point=ref.mount, secret=data,
                                                         cas=version)
                except Exception as exc:  # pylint: disable=broad-except
                    raise VaultRefError("writing %s with check-and-set on version %s failed (%s): another writer "
                                        "changed it; run again" % (where, version, type(exc).__name__))
                stamp = now()
                custom.update(last_rotated=stamp.isoformat() + "Z", rotated_by=p["rotated_by"],
                              rotated_key=ref.key, rotation_state="pending")
                kv.update_metadata(path=ref.path, mount_point=ref.mount, custom_metadata=custom)
                result.update(version=written["data"]["version"], last_rotated=custom["last_rotated"])
                last, age = stamp, 0.0
        effective_age = 0.0 if result["rotated"] else age
        until = (period - effective_age) if period is not None else (ENCRYPTION_KEY_PERIOD - effective_age)
        result.update(days_until_due=round(until, 3), notify=until <= notice)
    except VaultRefError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
