#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_api_set
short_description: Make a set of APIs on a webMethods API Gateway match their descriptions, in one call
version_added: 0.2.0
description:
  - Converges every API of O(apis) on one webMethods API Gateway 10.15, each exactly as
    M(stoa.platform.gateway_api) would (the same converger, the same operations, results and check mode), but in
    one module call, with the gateway's reads shared and the APIs handled concurrently.
  - "Reads are batched before any write: the API list once, each named API once (the list holds summaries only),
    their policies and policy actions in batches of 100 ids, the policy stages once. A rerun with nothing to change
    sends about one GET per API and no other request."
  - O(parallelism) APIs are converged at once. The versions of one API name are handled by one worker, in the
    order given, so that requests to one API stay ordered and a new version is minted from the latest one.
  - An API that fails (an unreadable or invalid document, a gateway error, an API of another tenant) does not stop
    the others. Its RV(results) entry carries the error; the module fails at the end, naming every failed API.
  - With O(tenants), the APIs of the gateway that O(apis) does not name are looked at, as
    M(stoa.platform.gateway_api_prune) does. Those tagged C(tenant:<t>) for one of O(tenants) are RV(extra), and
    removed only with O(prune=true); untagged APIs are never touched, only reported in RV(untagged).
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.gateway
options:
  apis:
    description:
      - The APIs, each with the options of M(stoa.platform.gateway_api).
      - An API named twice with the same version fails the module before any request.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The API's name on the gateway (C(apiName)). Letters, digits, C(.), C(_) and C(-) only.
        type: str
        required: true
      version:
        description:
          - The API's version label (C(apiVersion)).
        type: str
        required: true
      state:
        description:
          - V(present) creates or updates the API; V(absent) deactivates it if needed, then deletes it.
        type: str
        choices: [present, absent]
        default: present
      spec_path:
        description:
          - Path of the OpenAPI (3.0, 3.1) or Swagger 2.0 document, JSON or YAML, on the host the module runs on.
          - At most one of O(apis[].spec_path), O(apis[].spec_url) and O(apis[].spec_content). One of them is required to create an API;
            without any, an existing API's document is left as it is.
        type: path
      spec_url:
        description:
          - URL of the document. The module downloads it (with O(validate_certs)) so that it can convert and
            fingerprint it; the gateway never fetches it.
        type: str
      spec_content:
        description:
          - The document itself, as a JSON or YAML string or as a mapping.
        type: raw
      backend_url:
        description:
          - URL of the backend the gateway proxies to. Replaces the document's C(servers) (Swagger 2.0 C(schemes),
            C(host) and C(basePath)), because the gateway derives its routing endpoint from the first server, and a
            relative server leaves it nothing to proxy to.
        type: str
      description:
        description:
          - The API's description on the gateway. Defaults, for a new API, to the document's C(info.description);
            left as it is on an existing API when not set.
        type: str
      maturity_state:
        description:
          - The API's maturity state, for example C(Beta) or C(Production). Left as it is when not set.
        type: str
      tags:
        description:
          - The API's tags, apart from the C(tenant:) and C(stoa-spec:) tags the module manages. When set, tags not
            listed are removed; when not set, existing tags are kept.
        type: list
        elements: str
      tenant:
        description:
          - The tenant that owns the API, recorded as the tag C(tenant:<tenant>). The module refuses to change or
            delete an API that another tenant owns, and a gateway sync can tell which APIs it manages.
        type: str
      owned_only:
        description:
          - Change or delete the API only when it carries the tag C(tenant:<tenant>) that this collection puts on the
            APIs it manages. An API with the same name and version but no tenant tag (made by hand, or by another tool)
            fails the task before any write, as an API of another tenant always does.
          - With O(apis[].state=present), an untagged API is not adopted, and no new version is minted from an untagged one.
          - Requires O(apis[].tenant).
        type: bool
        default: false
      active:
        description:
          - Whether the API should be active (serving traffic) on the gateway.
          - On 10.15, updating an active API's document or metadata needs it deactivated for the update; the module
            does that and re-activates it afterwards, also when the update fails. Policies change without that window.
        type: bool
        default: true
      policies:
        description:
          - The API-level policies api.yaml sets. When set, each kind not listed is removed from the API; when not
            set, the API's policies are left alone.
          - Actions are matched by template and parameters, not by name, and changed by rewriting the API's policy
            as a whole (read, modify, write).
        type: dict
        suboptions:
          rate_limit:
            description: Traffic optimisation (C(throttle) action), at most O(apis[].policies.rate_limit.requests) requests per period.
            type: dict
            suboptions:
              requests:
                description: Requests allowed per period.
                type: int
                required: true
              period:
                description: Unit of the period.
                type: str
                choices: [second, minute, hour, day]
                default: minute
              interval:
                description: Length of the period, in O(apis[].policies.rate_limit.period) units.
                type: int
                default: 1
              alert_message:
                description: Message of the alert raised when the limit is exceeded.
                type: str
                default: Rate limit exceeded
          cors:
            description: Cross-origin resource sharing (C(cors) action).
            type: dict
            suboptions:
              allowed_origins:
                description: Origins allowed to call the API.
                type: list
                elements: str
                required: true
              allowed_methods:
                description: HTTP methods allowed.
                type: list
                elements: str
              allowed_headers:
                description: Request headers allowed.
                type: list
                elements: str
              exposed_headers:
                description: Response headers exposed to the browser.
                type: list
                elements: str
              allow_credentials:
                description: Whether credentials (cookies, authorization headers) are allowed.
                type: bool
                default: false
              max_age:
                description: Seconds a browser may cache the preflight answer.
                type: int
          authentication:
            description: Identify & Authorize Application (C(evaluatePolicy) action); one per API.
            type: dict
            suboptions:
              methods:
                description: How callers are identified; several are combined by O(apis[].policies.authentication.logical_connector).
                type: list
                elements: str
                required: true
                choices: [api_key, oauth2, jwt, openid, http_basic, client_certificate, ip_address, hostname]
              application_lookup:
                description:
                  - V(strict) accepts registered applications only, V(open) also the global application,
                    V(relax) also the default application.
                type: str
                choices: [strict, open, relax]
                default: strict
              allow_anonymous:
                description: Let unidentified callers through.
                type: bool
                default: false
              logical_connector:
                description: How several O(apis[].policies.authentication.methods) combine.
                type: str
                choices: [OR, AND]
                default: OR
      retain_applications:
        description:
          - When minting a new version, keep the applications (subscriptions) of the version it is minted from.
        type: bool
        default: true
      webmethods_fixes:
        description:
          - Apply the import fixes a live webMethods 10.15 needs (see M(stoa.platform.openapi_downgrade)) and report
            them in RV(results[].gateway_fixes).
        type: bool
        default: true
      validate:
        description:
          - Validate the document (after conversion, before the gateway fixes) with openapi-spec-validator and fail,
            before any change on the gateway, when it is not valid.
          - The document is validated only when it is about to be sent, that is when the API does not exist or its
            recorded fingerprint differs; an unchanged document costs no validation on reruns.
        type: bool
        default: true
  tenants:
    description:
      - The tenants this set stands for. When set, the gateway's other APIs are classified (RV(extra), RV(untagged)).
    type: list
    elements: str
  prune:
    description:
      - Remove the RV(extra) APIs (tagged for one of O(tenants), not named by O(apis)). Requires O(tenants).
      - APIs named in O(apis) are never pruned, whatever their outcome.
    type: bool
    default: false
  parallelism:
    description:
      - How many APIs are converged at once. V(1) converges them one after the other.
      - The default suits a 10.15 gateway's admin API; the requests of one API are always sent in order.
    type: int
    default: 8
notes:
  - Check mode sends no write request; each result's RV(results[].operations) is what the real run then does.
  - Diff mode shows, per API, the comparable state before and after, as M(stoa.platform.gateway_api) does.
  - Support for check_mode is full, for diff_mode full.
seealso:
  - module: stoa.platform.gateway_api
  - module: stoa.platform.gateway_api_prune
  - module: stoa.platform.gateway_alias_set
"""

EXAMPLES = r"""
- name: Converge every API of the environment, as rendered from Git, and prune what tenant-demo no longer has
  stoa.platform.gateway_api_set:
    apis: "{{ rendered.apis | map(attribute='gateway_api') | list }}"
    tenants: [tenant-demo]
    prune: true
  register: synced

- name: Two APIs, four at a time
  stoa.platform.gateway_api_set:
    parallelism: 4
    apis:
      - name: petstore-api
        version: "1.0.0"
        tenant: tenant-demo
        spec_path: "{{ checkout }}/tenants/tenant-demo/apis/petstore-api/openapi.yaml"
        policies:
          rate_limit:
            requests: 100
      - name: old-api
        version: "0.9.0"
        tenant: tenant-demo
        state: absent
"""

RETURN = r"""
results:
  description: One entry per API of O(apis), in order, then one per pruned API.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The API's name.
      type: str
    version:
      description: Its version.
      type: str
    tenant:
      description: Its tenant, as given.
      type: str
    state:
      description: V(present) or V(absent) (also for a pruned API).
      type: str
    pruned:
      description: Whether the entry is an RV(extra) API removed by O(prune).
      type: bool
    changed:
      description: Whether the API was (in check mode, would be) changed.
      type: bool
    operations:
      description: What was done, or in check mode what would be done, in order (as M(stoa.platform.gateway_api)).
      type: list
      elements: str
    error:
      description: Why the API failed; none when it did not.
      type: str
    api_id:
      description: The API's id, when it exists (or existed).
      type: str
    diff:
      description: Its comparable state before and after.
      type: dict
    gateway_endpoints:
      description: The URLs the gateway serves the API on.
      type: list
      elements: str
    source_version:
      description: OpenAPI or Swagger version of the given document.
      type: str
    conversion_warnings:
      description: What the OpenAPI 3.1 to 3.0 conversion could not express exactly, when anything.
      type: list
      elements: dict
    gateway_fixes:
      description: The webMethods 10.15 import fixes applied to the document, when any.
      type: list
      elements: dict
  sample:
    - {name: petstore-api, version: 1.0.0, tenant: tenant-demo, state: present, changed: true, error: null,
       operations: [update_rate_limit], api_id: 3e5b1a36-7b0a-4f6e-9d43-52a1c0b2a8f1}
summary:
  description: Counts over RV(results), and how often each operation was done.
  returned: always
  type: dict
  sample: {total: 500, changed: 2, unchanged: 497, failed: 1, operations: {update_rate_limit: 2}}
extra:
  description: APIs tagged for one of O(tenants) that O(apis) does not name (name, version, tenant, api_id, active).
  returned: always
  type: list
  elements: dict
untagged:
  description: APIs without a tenant tag, left alone.
  returned: always
  type: list
  elements: dict
removed:
  description: The RV(extra) APIs removed (with O(prune=true); in check mode, those that would be).
  returned: always
  type: list
  elements: dict
gateway_requests:
  description: Number of HTTP requests sent to the gateway, by method.
  returned: always
  type: dict
  sample: {GET: 531}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_converge import (
    ApiConverger,
    ConvergeError,
    unlisted_apis,
)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_document import (
    API_MUTUALLY_EXCLUSIVE,
    API_OPTIONS,
    API_REQUIRED_IF,
    desired_api,
    prepare_document,
)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayError
from ansible_collections.stoa.platform.plugins.module_utils.gateway_module import gateway_argument_spec, gateway_client
from ansible_collections.stoa.platform.plugins.module_utils.gateway_set import ApiSnapshot, SnapshotClient
from ansible_collections.stoa.platform.plugins.module_utils.object_set import (
    DEFAULT_PARALLELISM,
    error_text,
    exit_set,
    run_each,
    set_diff,
    summarise,
)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import DocumentError

EXPECTED_ERRORS = (GatewayError, ConvergeError, DocumentError)


def converge_one(module, client, item):
    """One API of the set through the single-object converger; never raises an expected error."""
    result = dict(name=item["name"], version=item["version"], tenant=item["tenant"], state=item["state"],
                  pruned=False, changed=False, operations=[], error=None)
    converger = ApiConverger(client, check_mode=module.check_mode)
    try:
        if item["state"] == "absent":
            changed, before, after = converger.absent(item["name"], item["version"], item["tenant"],
                                                      owned_only=item["owned_only"])
        else:
            extras = {}
            document, document_type, check_document = prepare_document(
                item, extras, module.warn, validate_certs=module.params["validate_certs"] is not False,
                timeout=module.params["timeout"])
            result.update((k, v) for k, v in extras.items() if v)
            changed, before, after = converger.present(desired_api(item, document, document_type, check_document),
                                                       owned_only=item["owned_only"])
    except EXPECTED_ERRORS as exc:
        # Whatever was sent before the failure stays done: report it.
        result.update(error=to_native(exc), operations=list(converger.operations),
                      changed=bool(converger.operations) and not module.check_mode)
        return result
    api_id = (after or {}).get("api_id") or (before or {}).get("api_id")
    result.update(changed=changed, operations=list(converger.operations), api_id=api_id,
                  diff=dict(before=converger.comparable(before), after=converger.comparable(after)))
    if item["state"] == "present":
        result["gateway_endpoints"] = (after or {}).get("gateway_endpoints", [])
    return result


def converge_chain(module, snapshot, chain):
    """The versions of one API name, in order, through one snapshot view."""
    client = SnapshotClient(snapshot)
    return [converge_one(module, client, item) for item in chain]


def prune_one(module, snapshot, entry):
    result = dict(name=entry["name"], version=entry["version"], tenant=entry["tenant"], state="absent", pruned=True,
                  changed=False, operations=[], error=None, api_id=entry["api_id"])
    converger = ApiConverger(SnapshotClient(snapshot), check_mode=module.check_mode)
    try:
        changed, before, _after = converger.absent(entry["name"], entry["version"], entry["tenant"])
    except EXPECTED_ERRORS as exc:
        result.update(error=to_native(exc), operations=list(converger.operations),
                      changed=bool(converger.operations) and not module.check_mode)
        return result
    result.update(changed=changed, operations=list(converger.operations),
                  diff=dict(before=converger.comparable(before), after=None))
    return result


def chains(apis):
    """The APIs grouped by name (first appearance order), each group in the order given."""
    groups = {}
    for item in apis:
        groups.setdefault(item["name"], []).append(item)
    return list(groups.values())


def label(result):
    return "%s %s%s" % (result["name"], result["version"], " (pruned)" if result.get("pruned") else "")


def main():
    module = AnsibleModule(
        argument_spec=gateway_argument_spec(
            apis=dict(type="list", elements="dict", required=True, options=API_OPTIONS,
                      mutually_exclusive=API_MUTUALLY_EXCLUSIVE, required_if=API_REQUIRED_IF),
            tenants=dict(type="list", elements="str"),
            prune=dict(type="bool", default=False),
            parallelism=dict(type="int", default=DEFAULT_PARALLELISM),
        ),
        required_if=[("prune", True, ("tenants",))],
        supports_check_mode=True,
    )
    params = module.params
    if params["parallelism"] < 1:
        module.fail_json(msg="parallelism must be at least 1, not %d" % params["parallelism"])
    seen, twice = set(), []
    for item in params["apis"]:
        key = (item["name"], item["version"])
        if key in seen:
            twice.append("%s %s" % key)
        seen.add(key)
    if twice:
        module.fail_json(msg="apis names %s more than once; each API version may appear once" % ", ".join(twice))

    client = gateway_client(module)
    results, extra, untagged, removed = [], [], [], []
    try:
        snapshot = ApiSnapshot(client)
    except GatewayError as exc:
        module.fail_json(msg="cannot list the gateway's APIs: %s" % to_native(exc), results=results,
                         gateway_requests=client.request_counts())
    named = [s["id"] for s in snapshot.summaries if (s.get("apiName"), s.get("apiVersion")) in seen]
    snapshot.load(named, params["parallelism"])

    groups = chains(params["apis"])
    by_key = {}
    for group, outcome in zip(groups, run_each(groups, lambda g: converge_chain(module, snapshot, g),
                                               params["parallelism"], EXPECTED_ERRORS)):
        for position, item in enumerate(group):
            if isinstance(outcome, Exception):
                module.debug(getattr(outcome, "traceback_text", ""))
                by_key[(item["name"], item["version"])] = dict(
                    name=item["name"], version=item["version"], tenant=item["tenant"], state=item["state"],
                    pruned=False, changed=False, operations=[], error=error_text(outcome))
            else:
                by_key[(item["name"], item["version"])] = outcome[position]
    results = [by_key[(item["name"], item["version"])] for item in params["apis"]]

    if params["tenants"] is not None:
        others = [s["id"] for s in snapshot.summaries if s["id"] not in named]
        try:
            snapshot.load(others, params["parallelism"], with_policies=False)
            failed_reads = [snapshot.apis[i] for i in others if isinstance(snapshot.apis[i], Exception)]
            if failed_reads:
                raise failed_reads[0]
            extra, untagged = unlisted_apis([snapshot.apis[i] for i in others], params["tenants"])
        except GatewayError as exc:
            module.fail_json(msg="cannot read the APIs that the set does not name, nothing was pruned: %s"
                             % to_native(exc), results=results, summary=summarise(results),
                             gateway_requests=client.request_counts())
        if params["prune"]:
            snapshot.load_policies([entry["api_id"] for entry in extra])
            pruned = run_each(extra, lambda e: prune_one(module, snapshot, e), params["parallelism"], EXPECTED_ERRORS)
            for entry, outcome in zip(extra, pruned):
                if isinstance(outcome, Exception):
                    module.debug(getattr(outcome, "traceback_text", ""))
                    outcome = dict(name=entry["name"], version=entry["version"], tenant=entry["tenant"],
                                   state="absent", pruned=True, changed=False, operations=[],
                                   error=error_text(outcome), api_id=entry["api_id"])
                results.append(outcome)
                if not outcome["error"]:
                    removed.append(entry)

    output = dict(
        changed=any(r["changed"] for r in results), results=results, summary=summarise(results),
        extra=extra, untagged=untagged, removed=removed, gateway_requests=client.request_counts(),
        diff=set_diff(results, label))
    exit_set(module, "APIs", label, output)


if __name__ == "__main__":
    main()
