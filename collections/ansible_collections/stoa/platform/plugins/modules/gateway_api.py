#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_api
short_description: Make one API on a webMethods API Gateway match its description
version_added: 0.1.0
description:
  - Creates, updates, activates, deactivates or deletes one API on a webMethods API Gateway 10.15, with its
    document, metadata, tags and policies, in one call.
  - The API is identified by O(name) and O(version), looked up on the gateway; the module never deletes and
    re-creates an API to change it, so its id and its applications stay.
  - A version that does not exist yet of an API that does is minted from the latest version, keeping its
    applications when O(retain_applications=true).
  - An OpenAPI 3.1 document is converted to 3.0.3 first (see M(stoa.platform.openapi_downgrade)); the import
    fixes a live 10.15 needs are applied when O(webmethods_fixes=true). Both are reported.
  - The module records what it imported as the API tag C(stoa-spec:<first 16 hex digits of the SHA-256 of
    the document>), and the owning tenant as C(tenant:<id>). A rerun with the same document sends only GET
    requests. A change made to the API's document in the gateway UI is not detected unless that tag changes.
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.gateway
options:
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
      - At most one of O(spec_path), O(spec_url) and O(spec_content). One of them is required to create an API;
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
      - With O(state=present), an untagged API is not adopted, and no new version is minted from an untagged one.
      - Requires O(tenant).
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
        description: Traffic optimisation (C(throttle) action), at most O(policies.rate_limit.requests) requests per period.
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
            description: Length of the period, in O(policies.rate_limit.period) units.
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
            description: How callers are identified; several are combined by O(policies.authentication.logical_connector).
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
            description: How several O(policies.authentication.methods) combine.
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
        them in RV(gateway_fixes).
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
notes:
  - Check mode sends no write request; it reports the change, the diff and RV(operations) a real run would make.
  - Diff mode shows the API's comparable state before and after (spec fingerprint, description, tags, activation,
    policies).
  - Support for check_mode is full, for diff_mode full.
seealso:
  - module: stoa.platform.gateway_api_info
  - module: stoa.platform.openapi_downgrade
"""

EXAMPLES = r"""
- name: Deploy the petstore API of tenant-demo, rate limited and protected by API key
  stoa.platform.gateway_api:
    gateway_url: https://gateway.dev.example:5555
    gateway_username: Administrator
    gateway_password: "{{ gateway_admin_password }}"
    name: petstore-api
    version: "1.0.0"
    tenant: tenant-demo
    spec_path: "{{ gitops_checkout }}/tenants/tenant-demo/apis/petstore-api/openapi.yaml"
    backend_url: https://petstore.swagger.io/v2
    maturity_state: Beta
    tags: [demo]
    policies:
      rate_limit:
        requests: 100
        period: minute
      authentication:
        methods: [api_key]
  register: petstore

- name: Connection from module_defaults and STOA_GATEWAY_* variables; take an API out of service
  module_defaults:
    group/stoa.platform.gateway:
      validate_certs: true
  stoa.platform.gateway_api:
    name: petstore-api
    version: "1.0.0"
    active: false

- name: Remove a version
  stoa.platform.gateway_api:
    name: petstore-api
    version: "0.9.0"
    tenant: tenant-demo
    state: absent

- name: Remove a version, but only if this automation deployed it (an untagged API of that name fails the task)
  stoa.platform.gateway_api:
    name: petstore-api
    version: "0.9.0"
    tenant: tenant-demo
    owned_only: true
    state: absent
"""

RETURN = r"""
api_id:
  description: Id of the API on the gateway (none in check mode for an API that does not exist yet).
  returned: when the API exists at the end, or existed
  type: str
  sample: 3e5b1a36-7b0a-4f6e-9d43-52a1c0b2a8f1
existing:
  description: The API's state before the call; none when it did not exist.
  returned: always
  type: dict
  sample:
    api_id: 3e5b1a36-7b0a-4f6e-9d43-52a1c0b2a8f1
    name: petstore-api
    version: 1.0.0
    active: true
    spec_sha256: 9c1f0a7be2d34c55
    tenant: tenant-demo
    tags: [demo]
    policies:
      rate_limit: {requests: 100, period: minute, interval: 1, alert_message: Rate limit exceeded}
end_state:
  description: The API's state after the call (in check mode, the state a real run would reach); none when absent.
  returned: always
  type: dict
diff:
  description: The comparable state before and after.
  returned: always
  type: dict
  contains:
    before:
      description: State before.
      type: dict
    after:
      description: State after.
      type: dict
operations:
  description: What was done, or in check mode what would be done, in order.
  returned: always
  type: list
  elements: str
  sample: [deactivate, update_spec, update_metadata, add_rate_limit, activate]
gateway_endpoints:
  description: The URLs the gateway serves the API on (empty while inactive).
  returned: when state is present
  type: list
  elements: str
  sample: ["http://gateway:5555/gateway/petstore-api/1.0.0"]
applications:
  description: Ids and names of the applications subscribed to the API, read back after a new version was minted.
  returned: when a new version was minted
  type: list
  elements: dict
conversion_warnings:
  description: What the OpenAPI 3.1 to 3.0 conversion could not express exactly (see M(stoa.platform.openapi_downgrade)).
  returned: when a document was given
  type: list
  elements: dict
gateway_fixes:
  description: The webMethods 10.15 import fixes applied to the document.
  returned: when a document was given and O(webmethods_fixes=true)
  type: list
  elements: dict
source_version:
  description: OpenAPI or Swagger version of the given document.
  returned: when a document was given
  type: str
  sample: 3.1.0
gateway_requests:
  description: Number of HTTP requests sent to the gateway, by method.
  returned: always
  type: dict
  sample: {GET: 4}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_converge import ApiConverger, ConvergeError
from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_document import (
    API_MUTUALLY_EXCLUSIVE,
    API_OPTIONS,
    API_REQUIRED_IF,
    desired_api,
    prepare_document,
)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayError
from ansible_collections.stoa.platform.plugins.module_utils.gateway_module import gateway_argument_spec, gateway_client
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import DocumentError


def main():
    module = AnsibleModule(
        argument_spec=gateway_argument_spec(**API_OPTIONS),
        mutually_exclusive=API_MUTUALLY_EXCLUSIVE,
        required_if=API_REQUIRED_IF,
        supports_check_mode=True,
    )
    params = module.params
    result = dict(changed=False, existing=None, end_state=None, operations=[])
    client = gateway_client(module)
    converger = ApiConverger(client, check_mode=module.check_mode)
    try:
        if params["state"] == "absent":
            changed, before, after = converger.absent(params["name"], params["version"], params["tenant"],
                                                      owned_only=params["owned_only"])
        else:
            document, document_type, check_document = prepare_document(
                params, result, module.warn, validate_certs=params["validate_certs"] is not False,
                timeout=params["timeout"])
            desired = desired_api(params, document, document_type, check_document)
            changed, before, after = converger.present(desired, owned_only=params["owned_only"])
            if "create_version" in converger.operations and not module.check_mode:
                result["applications"] = [dict(id=a.get("id"), name=a.get("name"))
                                          for a in client.api_applications(after["api_id"])]
    except (GatewayError, ConvergeError, DocumentError) as exc:
        module.fail_json(msg=to_native(exc), operations=converger.operations,
                         gateway_requests=client.request_counts(), **dict((k, v) for k, v in result.items()
                                                                          if k not in ("operations",)))
    api_id = (after or {}).get("api_id") or (before or {}).get("api_id")
    result.update(
        changed=changed, existing=before, end_state=after, operations=converger.operations,
        diff=dict(before=converger.comparable(before), after=converger.comparable(after)),
        gateway_requests=client.request_counts(),
    )
    if api_id:
        result["api_id"] = api_id
    if params["state"] == "present":
        result["gateway_endpoints"] = (after or {}).get("gateway_endpoints", [])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
