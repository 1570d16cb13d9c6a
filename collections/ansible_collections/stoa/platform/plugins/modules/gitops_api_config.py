#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gitops_api_config
short_description: Render one API of the GitOps repository for one environment
version_added: 0.1.0
description:
  - Merges the API's variables for the environment, lowest precedence first, C(environments/<env>/config.yaml),
    the API's C(environments/_defaults.yaml), then its C(environments/<env>.yaml) (most specific wins), and
    substitutes C(${VAR}) and C(${VAR:default}) in C(api.yaml), recursively. C($${) writes a literal C(${).
  - C(vault:) references stay references; the modules that need a secret resolve them at the last moment.
  - Fails listing every undefined variable, with where it is used, before anything is deployed.
  - Returns the rendered description, the options for M(stoa.platform.gateway_api), and the aliases it routes to.
  - With O(apis), renders many APIs in one call (for M(stoa.platform.gateway_api_set)); an API that cannot be
    rendered is reported in RV(failures) and does not stop the others, nor fail the module.
  - With O(registered_apis), renders every API of the tenants that C(iam/tenants.yaml) registers for the
    environment, the whole environment of M(stoa.platform.gateway_api_set) in one task.
author:
  - STOA platform team (@stoa-platform)
options:
  path:
    description: Root of the GitOps checkout.
    type: path
    required: true
  tenant:
    description: Tenant id (C(tenants/<tenant>/)). Required unless O(apis) or O(registered_apis) is set.
    type: str
  api:
    description: API name (C(tenants/<tenant>/apis/<api>/)). Required unless O(apis) or O(registered_apis) is set.
    type: str
  apis:
    description:
      - Several APIs to render, instead of O(tenant) and O(api). The results are then in RV(rendered) and
        RV(failures).
    type: list
    elements: dict
    suboptions:
      tenant:
        description: Tenant id.
        type: str
        required: true
      api:
        description: API name.
        type: str
        required: true
  registered_apis:
    description:
      - Render every API (C(tenants/<tenant>/apis/<api>/api.yaml)) of each tenant whose C(environments) in
        C(iam/tenants.yaml) include O(environment), in (tenant, API) order, instead of O(apis). The tenants are
        returned in RV(tenants).
    type: bool
    default: false
  environment:
    description: Target environment.
    type: str
    required: true
    choices: [dev, staging, prod]
notes:
  - Support for check_mode is full (the module only reads).
seealso:
  - module: stoa.platform.gitops_validate
  - module: stoa.platform.gateway_api
"""

EXAMPLES = r"""
- name: Render petstore-api for staging
  stoa.platform.gitops_api_config:
    path: "{{ gitops_checkout }}"
    tenant: tenant-demo
    api: petstore-api
    environment: staging
  register: petstore

- name: Converge its aliases, then deploy it
  stoa.platform.gateway_alias:
    definition: "{{ item }}"
  loop: "{{ petstore.aliases }}"

- name: Deploy
  stoa.platform.gateway_api: "{{ petstore.gateway_api }}"

- name: Render the whole dev environment, as Sync Gateway does
  stoa.platform.gitops_api_config:
    path: "{{ gitops_checkout }}"
    registered_apis: true
    environment: dev
  register: dev

- name: Converge every alias the APIs route to
  stoa.platform.gateway_alias_set:
    definitions: "{{ dev.aliases }}"

- name: Converge the APIs, pruning only among the tenants of dev
  stoa.platform.gateway_api_set:
    apis: "{{ dev.rendered | map(attribute='gateway_api') | list }}"
    tenants: "{{ dev.tenants }}"
"""

RETURN = r"""
api:
  description: The API description with every placeholder substituted.
  returned: success, without O(apis)
  type: dict
variables:
  description: The merged variables (Vault references unresolved).
  returned: success, without O(apis)
  type: dict
variable_sources:
  description: For each variable, the file that gave its value.
  returned: success, without O(apis)
  type: dict
gateway_api:
  description: Options for M(stoa.platform.gateway_api) (name, version, tenant, spec_path, backend_url, policies, ...).
  returned: success, without O(apis)
  type: dict
aliases:
  description:
    - The GatewayAlias documents of the environment that C(*_ALIAS) variables name.
    - With O(apis), those of every API rendered, each document once (the input of
      M(stoa.platform.gateway_alias_set) for the whole environment).
  returned: success
  type: list
  elements: dict
tenants:
  description: With O(registered_apis), the ids of the tenants registered for O(environment), in registry order.
  returned: with O(registered_apis)
  type: list
  elements: str
rendered:
  description: With O(apis) or O(registered_apis), one entry per API rendered (tenant, api, gateway_api, aliases), in order.
  returned: with O(apis) or O(registered_apis)
  type: list
  elements: dict
failures:
  description: With O(apis) or O(registered_apis), one entry per API that could not be rendered (tenant, api, msg,
    undefined).
  returned: with O(apis) or O(registered_apis)
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stoa.platform.plugins.module_utils.gitops_resolver import (
    ResolveError,
    api_dir,
    environment_aliases,
    gateway_api_options,
    referenced_aliases,
    read_checked,
    render_api,
)


def render(root, tenant, api, environment, alias_documents=None, cache=None):
    """(rendered api.yaml, variables, their origin, gateway_api options, alias documents); raises ResolveError.

    ``alias_documents``: the environment's aliases, already read (see gitops_resolver.environment_aliases);
    ``cache``: the files read so far in this module call (see gitops_resolver.read_checked).
    """
    if not os.path.isfile(os.path.join(api_dir(root, tenant, api), "api.yaml")):
        raise ResolveError("no tenants/%s/apis/%s/api.yaml in %s" % (tenant, api, root))
    rendered, variables, origin = render_api(root, tenant, api, environment, cache)
    options = gateway_api_options(rendered, api_dir(root, tenant, api))
    aliases = referenced_aliases(root, environment, variables, alias_documents)
    return rendered, variables, origin, options, aliases


def registered_apis(root, environment):
    """(tenant ids that ``iam/tenants.yaml`` registers for ``environment``, ``[{tenant, api}]`` of the API
    directories with an ``api.yaml`` under them, sorted); raises ResolveError naming the registry's problems."""
    registry, _lines = read_checked(root, "iam/tenants.yaml", "TenantRegistry")
    tenants = [t["id"] for t in registry.get("tenants") or [] if environment in (t.get("environments") or [])]
    apis = []
    for tenant in tenants:
        directory = os.path.join(root, "tenants", tenant, "apis")
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            if os.path.isfile(os.path.join(directory, name, "api.yaml")):
                apis.append(dict(tenant=tenant, api=name))
    return tenants, sorted(apis, key=lambda a: (a["tenant"], a["api"]))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            tenant=dict(type="str"),
            api=dict(type="str"),
            apis=dict(type="list", elements="dict", options=dict(
                tenant=dict(type="str", required=True),
                api=dict(type="str", required=True),
            )),
            registered_apis=dict(type="bool", default=False),
            environment=dict(type="str", required=True, choices=["dev", "staging", "prod"]),
        ),
        mutually_exclusive=[("apis", "tenant", "registered_apis"), ("apis", "api", "registered_apis")],
        required_one_of=[("apis", "tenant", "registered_apis")],
        required_together=[("tenant", "api")],
        supports_check_mode=True,
    )
    p = module.params
    extra = {}
    if p["registered_apis"]:
        try:
            extra["tenants"], p["apis"] = registered_apis(p["path"], p["environment"])
        except ResolveError as exc:
            module.fail_json(msg=str(exc))
    if p["apis"] is not None:
        rendered, failures, cache = [], [], {}  # one call: each file is read once (config.yaml for every API)
        # Each alias document once, in first-use order: deduplicating here costs nothing, while Jinja's
        # `unique` over 500 rendered dicts took 6.5 s of controller time (compared lazily, pairwise).
        union = {}
        try:
            documents = environment_aliases(p["path"], p["environment"])
        except ResolveError as exc:
            module.fail_json(msg=str(exc))
        for entry in p["apis"]:
            try:
                _api, _variables, _origin, options, aliases = render(p["path"], entry["tenant"], entry["api"],
                                                                     p["environment"], documents, cache)
            except ResolveError as exc:
                failures.append(dict(tenant=entry["tenant"], api=entry["api"], msg=str(exc),
                                     undefined=sorted(set(n for n, _p in exc.unresolved))))
                continue
            rendered.append(dict(tenant=entry["tenant"], api=entry["api"], gateway_api=options, aliases=aliases))
            for document in aliases:
                union.setdefault(id(document), document)
        module.exit_json(changed=False, rendered=rendered, failures=failures, aliases=list(union.values()), **extra)
    try:
        rendered, variables, origin, options, aliases = render(p["path"], p["tenant"], p["api"], p["environment"])
    except ResolveError as exc:
        module.fail_json(msg=str(exc), undefined=sorted(set(n for n, _p in exc.unresolved)))
    module.exit_json(changed=False, api=rendered, variables=variables, variable_sources=origin,
                     gateway_api=options, aliases=aliases)


if __name__ == "__main__":
    main()
