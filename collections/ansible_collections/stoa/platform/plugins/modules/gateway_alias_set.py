#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_alias_set
short_description: Make the aliases of one environment on a webMethods API Gateway match their GatewayAlias documents
version_added: 0.2.0
description:
  - Converges every GatewayAlias document of O(definitions) on one webMethods API Gateway 10.15, each exactly as
    M(stoa.platform.gateway_alias) with O(stoa.platform.gateway_alias#module:definition) would (the same
    converger, results, secrets fingerprint and check mode), in one module call.
  - The gateway's alias list (C(GET /alias)) is read once for the whole set, and its entries (whole Alias objects,
    secrets masked) are compared as they are; a rerun with nothing to change sends that one GET. A changed alias is
    read back after its write. Vault references are resolved once each, before the first write.
  - O(parallelism) documents are converged at once; the aliases of one document (an endpoint and its C(-auth) or
    C(-apikey) alias) are converged in order by one worker.
  - A document or alias that fails (a malformed document, an unreadable Vault reference, a gateway error, an alias of
    another type) does not stop the others. Its RV(results) entry carries the error; the module fails at the end,
    naming every failed alias.
  - Aliases carry no mark of who made them (the gateway's own C(local), C(OKTA)... are in the same list), so the
    module never removes an alias that no document names.
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.gateway
  - stoa.platform.vault
options:
  definitions:
    description:
      - GatewayAlias documents (C(apiVersion) C(stoa.cab-i.com/v1), C(kind) C(GatewayAlias)), as in the GitOps
        repository's C(aliases/<environment>/) (see M(stoa.platform.gateway_alias)).
      - Two documents giving the same gateway alias name fail the module before any request.
    type: list
    elements: dict
    required: true
  parallelism:
    description:
      - How many documents are converged at once. V(1) converges them one after the other.
    type: int
    default: 8
notes:
  - Check mode sends no write request; each result says what a real run would change. Diff mode shows the managed
    fields and the secrets fingerprint, never a secret.
  - Support for check_mode is full, for diff_mode full.
seealso:
  - module: stoa.platform.gateway_alias
  - module: stoa.platform.gateway_api_set
"""

EXAMPLES = r"""
- name: Find the environment's aliases
  ansible.builtin.find:
    paths: "{{ checkout }}/aliases/dev"
    patterns: ["*.yaml", "*.yml"]
  register: found

- name: Converge them all in one call
  stoa.platform.gateway_alias_set:
    definitions: "{{ query('ansible.builtin.file', *(found.files | map(attribute='path') | sort))
      | map('from_yaml') | list }}"
  register: aliases
"""

RETURN = r"""
results:
  description: One entry per gateway alias, in the order of O(definitions) (a document may give two).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The alias name (C(definitions[<i>]) for a document without a usable name).
      type: str
    definition:
      description: The C(metadata.name) of the document it comes from.
      type: str
    changed:
      description: Whether the alias was (in check mode, would be) created or updated.
      type: bool
    operations:
      description: V(create) or V(update) when changed, else empty.
      type: list
      elements: str
    error:
      description: Why the alias failed; none when it did not.
      type: str
    alias_id:
      description: Id of the alias (none in check mode for a new alias).
      type: str
    secrets_changed:
      description: Whether the secrets differ from what the gateway got last (by fingerprint).
      type: bool
    diff:
      description: The managed fields and the secrets fingerprint, before and after.
      type: dict
    end_state:
      description: The alias after (in check mode, what a real run would leave), secrets removed.
      type: dict
  sample:
    - {name: weather-backend-dev, definition: weather-backend-dev, changed: false, operations: [], error: null}
summary:
  description: Counts over RV(results), and how often each operation was done.
  returned: always
  type: dict
  sample: {total: 2, changed: 1, unchanged: 1, failed: 0, operations: {update: 1}}
gateway_requests:
  description: Number of HTTP requests sent to the gateway, by method.
  returned: always
  type: dict
"""

from collections import Counter

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.stoa.platform.plugins.module_utils.gateway_alias_model import (
    AliasSpecError,
    aliases_from_document,
    converge_alias,
    desired_alias,
)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayError
from ansible_collections.stoa.platform.plugins.module_utils.gateway_module import (
    gateway_argument_spec,
    gateway_client,
    vault_values,
)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_set import EXPECTED_ERRORS
from ansible_collections.stoa.platform.plugins.module_utils.object_set import (
    DEFAULT_PARALLELISM,
    error_text,
    exit_set,
    run_each,
    set_diff,
    summarise,
)
from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import is_reference, vault_argument_spec


def document_name(document, index):
    metadata = document.get("metadata") if isinstance(document, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) and name else "definitions[%d]" % index


def plan(definitions):
    """[(document name, [(alias name, body, secrets)] or the AliasSpecError)] for every document."""
    planned = []
    for index, document in enumerate(definitions):
        try:
            aliases = [(name,) + desired_alias(name, alias_type, description, options)
                       for name, alias_type, description, options in aliases_from_document(document)]
        except AliasSpecError as exc:
            aliases = exc
        planned.append((document_name(document, index), aliases))
    return planned


def converge_document(module, client, listed, values, failures, aliases):
    """The aliases of one document, in order; the first failure stops that document only."""
    results = []
    for name, body, secrets in aliases:
        result = dict(name=name, changed=False, operations=[], error=None)
        missing = sorted(failures[ref] for ref in set(secrets.values()) if ref in failures)
        if missing or (results and results[-1]["error"]):
            result["error"] = "; ".join(missing) if missing else "not converged: %s failed" % results[-1]["name"]
            results.append(result)
            continue
        try:
            result.update(converge_alias(client, name, body, secrets, values, module.check_mode, listed))
            result["operations"] = (["update" if result.get("existing") else "create"] if result["changed"] else [])
            result.pop("existing", None)
        except (GatewayError, AliasSpecError) as exc:
            result["error"] = to_native(exc)
        results.append(result)
    return results


def main():
    spec = gateway_argument_spec(
        definitions=dict(type="list", elements="dict", required=True),
        parallelism=dict(type="int", default=DEFAULT_PARALLELISM),
    )
    spec.update(vault_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    if params["parallelism"] < 1:
        module.fail_json(msg="parallelism must be at least 1, not %d" % params["parallelism"])
    planned = plan(params["definitions"])
    names = [name for _document, aliases in planned if not isinstance(aliases, Exception)
             for name, _body, _secrets in aliases]
    twice = sorted(name for name, count in Counter(names).items() if count > 1)
    if twice:
        module.fail_json(msg="definitions give the alias%s %s more than once"
                         % ("es" if len(twice) > 1 else "", ", ".join(twice)))
    references = set(v for _document, aliases in planned if not isinstance(aliases, Exception)
                     for _name, _body, secrets in aliases for v in secrets.values() if is_reference(v))
    values, failures = vault_values(module, references)

    client = gateway_client(module)
    try:
        listed = client.list_aliases()
    except GatewayError as exc:
        module.fail_json(msg="cannot list the gateway's aliases: %s" % to_native(exc),
                         gateway_requests=client.request_counts())

    def work(entry):
        _document, aliases = entry
        if isinstance(aliases, Exception):
            return aliases
        return converge_document(module, client, listed, values, failures, aliases)

    results = []
    for (document, aliases), outcome in zip(planned, run_each(planned, work, params["parallelism"], EXPECTED_ERRORS)):
        if isinstance(outcome, Exception):
            module.debug(getattr(outcome, "traceback_text", ""))
            affected = [a[0] for a in aliases] if not isinstance(aliases, Exception) else [document]
            outcome = [dict(name=name, changed=False, operations=[], error=error_text(outcome)) for name in affected]
        for result in outcome:
            result["definition"] = document
            results.append(result)

    output = dict(
        changed=any(r["changed"] for r in results), results=results, summary=summarise(results),
        gateway_requests=client.request_counts(),
        diff=set_diff(results, lambda r: r["name"]))
    exit_set(module, "aliases", lambda r: r["name"], output)


if __name__ == "__main__":
    main()
