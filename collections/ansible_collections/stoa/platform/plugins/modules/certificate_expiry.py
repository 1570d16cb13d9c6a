#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: certificate_expiry
short_description: How long the platform's certificates have left, by severity
version_added: 0.1.0
description:
  - Reads the certificate of each TLS endpoint (C(host:port)) and each PEM certificate held in Vault (a
    C(vault:) reference), and sorts them by the design's thresholds, C(expired), C(critical) (7 days or less),
    C(warning) (30), C(info) (60), else C(ok).
  - Reports findings and a summary by severity; it only reads, and fails only with O(fail_on).
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.vault
requirements:
  - cryptography
options:
  endpoints:
    description: TLS endpoints, C(host:port).
    type: list
    elements: str
    default: []
  vault_refs:
    description: Certificates in Vault, PEM, as C(vault:<mount>/data/<path>#<key>) references.
    type: list
    elements: str
    default: []
  thresholds:
    description: Days left at or below which a certificate is C(critical), C(warning) or C(info).
    type: dict
    default: {critical: 7, warning: 30, info: 60}
  timeout:
    description: Seconds to wait for each endpoint.
    type: int
    default: 10
  fail_on:
    description: Fail when a finding is at least this severe.
    type: str
    choices: [never, expired, critical, warning]
    default: never
notes:
  - Support for check_mode is full (the module only reads).
"""

EXAMPLES = r"""
- name: Certificates of the dev platform
  stoa.platform.certificate_expiry:
    endpoints: [gateway.dev.example:443, auth.dev.example:443]
    vault_refs: [vault:secret/data/dev/certs/gateway#certificate]
  register: certificates
"""

RETURN = r"""
findings:
  description: One per certificate, most urgent first (source, subject, not_after, days_left, severity, error).
  returned: always
  type: list
  elements: dict
summary:
  description: Number of certificates by severity (expired, critical, warning, info, ok, unreadable).
  returned: always
  type: dict
"""

import datetime
import socket
import ssl

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import (
    VaultRefError,
    VaultResolver,
    vault_argument_spec,
)

try:
    from cryptography import x509

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False

ORDER = ["unreadable", "expired", "critical", "warning", "info", "ok"]


def endpoint_pem(endpoint, timeout):
    host, _sep, port = endpoint.rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we read the certificate, we do not trust it
    with socket.create_connection((host, int(port)), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True))


def severity(days, thresholds):
    if days < 0:
        return "expired"
    for level in ("critical", "warning", "info"):
        if days <= thresholds[level]:
            return level
    return "ok"


def finding(source, pem, thresholds, now):
    certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    not_after = getattr(certificate, "not_valid_after_utc", None) or certificate.not_valid_after.replace(
        tzinfo=datetime.timezone.utc)
    days = (not_after - now).total_seconds() / 86400.0
    return {"source": source, "subject": certificate.subject.rfc4514_string(), "not_after": not_after.isoformat(),
            "days_left": round(days, 1), "severity": severity(days, thresholds)}


def main():
    spec = dict(
        endpoints=dict(type="list", elements="str", default=[]),
        vault_refs=dict(type="list", elements="str", default=[], no_log=False),
        thresholds=dict(type="dict", default={"critical": 7, "warning": 30, "info": 60}),
        timeout=dict(type="int", default=10),
        fail_on=dict(type="str", choices=["never", "expired", "critical", "warning"], default="never"),
    )
    spec.update(vault_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    p = module.params
    thresholds = dict({"critical": 7, "warning": 30, "info": 60}, **p["thresholds"])
    now = datetime.datetime.now(datetime.timezone.utc)
    findings = []
    for endpoint in p["endpoints"]:
        try:
            findings.append(finding(endpoint, endpoint_pem(endpoint, p["timeout"]), thresholds, now))
        except (OSError, ValueError) as exc:
            findings.append({"source": endpoint, "severity": "unreadable", "error": str(exc)})
    resolver = None
    for reference in p["vault_refs"]:
        try:
            resolver = resolver or VaultResolver(p)
            findings.append(finding(reference, resolver.resolve(reference), thresholds, now))
        except (VaultRefError, ValueError) as exc:
            findings.append({"source": reference, "severity": "unreadable", "error": str(exc)})
    findings.sort(key=lambda f: (ORDER.index(f["severity"]), f.get("days_left", 0)))
    summary = dict((level, sum(1 for f in findings if f["severity"] == level)) for level in ORDER)
    result = dict(changed=False, findings=findings, summary=summary)
    if p["fail_on"] != "never":
        worst = ORDER[1:ORDER.index(p["fail_on"]) + 1]
        if any(f["severity"] in worst for f in findings):
            module.fail_json(msg="certificates at or above %s: %s" % (p["fail_on"], ", ".join(
                f["source"] for f in findings if f["severity"] in worst)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
