#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gateway_alias
short_description: Make one alias of a webMethods API Gateway match its description, secrets from Vault
version_added: 0.1.0
description:
  - Creates, updates or deletes one alias of a webMethods API Gateway 10.15, found by name. An existing alias is
    always updated in place; it is never deleted and re-created, because 10.15 resolves an alias name to its id
    when an API is deployed, and a re-created alias breaks that API's routing for good.
  - Supported types are simple aliases (a value), endpoint aliases (a backend URL and its timeouts), authorization
    server aliases (an external OAuth2/OIDC server such as Keycloak) and HTTP transport security aliases (basic
    credentials or an OAuth2 token towards a backend).
  - Secrets are given as C(vault:<mount>/data/<path>#<key>) references (or plain values) and resolved at the last
    moment. The gateway masks secrets when read, so the module records a fingerprint of what it sent at the end
    of the alias' description, C([stoa-secrets:<16 hex digits>]) (PBKDF2-HMAC-SHA256 of the values, salted with
    the alias name). A secret rotated in Vault changes the fingerprint and updates the alias; an unchanged secret
    sends nothing.
author:
  - STOA platform team (@stoa-platform)
extends_documentation_fragment:
  - stoa.platform.gateway
  - stoa.platform.vault
options:
  name:
    description:
      - The alias name, unique on the gateway. APIs refer to it as C(${name}).
      - Exactly one of O(name) and O(definition) is required.
    type: str
  definition:
    description:
      - A GatewayAlias document of the GitOps repository (C(aliases/<env>/<name>.yaml), C(apiVersion
        stoa.cab-i.com/v1)), instead of O(name), O(type) and the type's options.
      - C(spec.type) is V(endpoint) (C(endpoint.url), C(connectionTimeout) and C(readTimeout) in milliseconds),
        V(simple) (C(value) or C(valueRef)) or V(authServer) (C(authServer.issuer), C(jwksUri),
        C(introspectionEndpoint), C(clientId), C(clientSecretRef), C(scopes)).
      - An endpoint's C(spec.authentication) becomes a second alias, because a 10.15 endpoint alias holds no
        credentials. V(basic) (C(basic.username) or C(usernameRef), C(passwordRef)) and V(oauth2Token)
        (C(oauth2Token.tokenRef)) give the transport security alias C(<name>-auth), for the API's outbound
        authentication policy; V(apiKey) (C(apiKey.valueRef)) gives the secret simple alias C(<name>-apikey), for a
        header policy. V(oauth2) client credentials cannot be expressed by a 10.15 alias and are refused.
      - The results are then in RV(aliases).
    type: dict
  state:
    description: V(absent) deletes the alias (the gateway refuses it for its built-in aliases).
    type: str
    choices: [present, absent]
    default: present
  type:
    description: The kind of alias. Required with O(state=present). The type of an existing alias cannot change.
    type: str
    choices: [simple, endpoint, auth_server, transport_security]
  description:
    description: Description on the gateway (the module appends its secrets fingerprint to it).
    type: str
    default: ""
  value:
    description:
      - Value of a simple alias. A Vault reference is resolved and treated as a secret.
    type: str
  value_is_secret:
    description: Treat a plain O(value) as a secret (fingerprinted, never shown).
    type: bool
    default: false
  endpoint:
    description: An endpoint alias.
    type: dict
    suboptions:
      url:
        description: Backend URL (C(endPointURI)).
        type: str
        required: true
      connection_timeout:
        description: Connection timeout, in seconds.
        type: int
      read_timeout:
        description: Read timeout, in seconds.
        type: int
      pass_security_headers:
        description: Pass the incoming security headers to the backend.
        type: bool
      optimization:
        description: Message optimisation technique.
        type: str
        choices: [None, MTOM, SwA]
      keystore_alias:
        description: Keystore for TLS client authentication.
        type: str
      key_alias:
        description: Key in O(endpoint.keystore_alias).
        type: str
      truststore_alias:
        description: Truststore that verifies the backend.
        type: str
  auth_server:
    description: An external authorization server (C(authServerAlias), C(authServerType=EXTERNAL)).
    type: dict
    suboptions:
      issuer:
        description: Issuer; must equal the tokens' C(iss) exactly. Enables local JWT validation.
        type: str
      jwks_uri:
        description: JWKS URI, reachable from the gateway.
        type: str
      introspection_endpoint:
        description: RFC 7662 introspection endpoint, for remote introspection.
        type: str
      client_id:
        description: Client the gateway introspects with.
        type: str
      client_secret:
        description: Its secret, preferably a Vault reference.
        type: str
      introspection_user:
        description: Gateway user the introspection runs as (the 10.15 validator wants one).
        type: str
      authorize_url:
        description: Authorization endpoint.
        type: str
      token_url:
        description: Token endpoint.
        type: str
      refresh_token_url:
        description: Refresh endpoint; defaults to O(auth_server.token_url).
        type: str
      scopes:
        description: The server's scopes that scope mappings may refer to.
        type: list
        elements: dict
        suboptions:
          name:
            description: Scope name.
            type: str
            required: true
          description:
            description: Scope description; defaults to the name.
            type: str
  transport_security:
    description: Credentials towards a backend (C(httpTransportSecurityAlias)).
    type: dict
    suboptions:
      auth_type:
        description: V(basic) sends HTTP Basic credentials, V(oauth2_token) a fixed bearer token.
        type: str
        choices: [basic, oauth2_token]
        required: true
      username:
        description: User for V(basic).
        type: str
      password:
        description: Password for V(basic), preferably a Vault reference. Sent base64-encoded, as 10.15 wants.
        type: str
      token:
        description: Token for V(oauth2_token), preferably a Vault reference.
        type: str
notes:
  - Check mode sends no write request. Diff mode shows the managed fields and the secrets fingerprint, never a
    secret.
  - Support for check_mode is full, for diff_mode full.
seealso:
  - module: stoa.platform.gateway_api
  - plugin: stoa.platform.vault_ref
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Sync an alias from the GitOps repository
  stoa.platform.gateway_alias:
    definition: "{{ lookup('ansible.builtin.file', gitops_checkout ~ '/aliases/dev/payment-backend.yaml') | from_yaml }}"

- name: Backend of the payment API in dev
  stoa.platform.gateway_alias:
    name: payment-backend-dev
    type: endpoint
    endpoint:
      url: https://payment-dev.internal.example
      connection_timeout: 30
      read_timeout: 60

- name: Credentials towards that backend, from Vault
  stoa.platform.gateway_alias:
    name: payment-backend-dev-auth
    type: transport_security
    transport_security:
      auth_type: basic
      username: svc-gateway
      password: vault:secret/data/dev/payment-backend#password

- name: Trust the stoa realm of Keycloak
  stoa.platform.gateway_alias:
    name: KeycloakOIDC
    type: auth_server
    auth_server:
      issuer: https://auth.example/realms/stoa
      jwks_uri: https://auth.example/realms/stoa/protocol/openid-connect/certs
      introspection_endpoint: https://auth.example/realms/stoa/protocol/openid-connect/token/introspect
      client_id: api-gateway
      client_secret: vault:secret/data/dev/keycloak/api-gateway#client_secret
      scopes:
        - name: openid
"""

RETURN = r"""
alias_id:
  description: Id of the alias on the gateway (none in check mode for a new alias).
  returned: when the alias exists or existed
  type: str
existing:
  description: The alias before, as the gateway returned it, secrets removed, with RV(existing.secrets_fingerprint).
  returned: always
  type: dict
  contains:
    secrets_fingerprint:
      description: The fingerprint recorded on the alias, or none.
      type: str
end_state:
  description: The alias after (in check mode, what a real run would leave), secrets removed.
  returned: always
  type: dict
diff:
  description: The managed fields and the secrets fingerprint, before and after.
  returned: always
  type: dict
secrets_changed:
  description: Whether the secrets differ from what the gateway got last (by fingerprint).
  returned: when state is present
  type: bool
aliases:
  description: With O(definition), one result per gateway alias (name, changed, existing, end_state, diff, alias_id).
  returned: when O(definition) is set
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.stoa.platform.plugins.module_utils.gateway_alias_model import (
    AliasSpecError,
    aliases_from_document,
    converge_alias,
    desired_alias,
    remove_alias,
)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayError
from ansible_collections.stoa.platform.plugins.module_utils.gateway_module import (
    gateway_argument_spec,
    gateway_client,
    vault_values,
)
from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import (
    VaultRefError,
    is_reference,
    vault_argument_spec,
)


def argument_spec():
    spec = gateway_argument_spec(
        name=dict(type="str"),
        definition=dict(type="dict"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        type=dict(type="str", choices=["simple", "endpoint", "auth_server", "transport_security"]),
        description=dict(type="str", default=""),
        value=dict(type="str", no_log=False),
        value_is_secret=dict(type="bool", default=False),
        endpoint=dict(type="dict", options=dict(
            url=dict(type="str", required=True),
            connection_timeout=dict(type="int"),
            read_timeout=dict(type="int"),
            pass_security_headers=dict(type="bool"),
            optimization=dict(type="str", choices=["None", "MTOM", "SwA"]),
            keystore_alias=dict(type="str", no_log=False),
            key_alias=dict(type="str", no_log=False),
            truststore_alias=dict(type="str"),
        )),
        auth_server=dict(type="dict", options=dict(
            issuer=dict(type="str"),
            jwks_uri=dict(type="str"),
            introspection_endpoint=dict(type="str"),
            client_id=dict(type="str"),
            client_secret=dict(type="str", no_log=True),
            introspection_user=dict(type="str"),
            authorize_url=dict(type="str"),
            token_url=dict(type="str", no_log=False),
            refresh_token_url=dict(type="str", no_log=False),
            scopes=dict(type="list", elements="dict", options=dict(
                name=dict(type="str", required=True),
                description=dict(type="str"),
            )),
        )),
        transport_security=dict(type="dict", no_log=False, options=dict(
            auth_type=dict(type="str", choices=["basic", "oauth2_token"], required=True),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            token=dict(type="str", no_log=True),
        )),
    )
    spec.update(vault_argument_spec())
    return spec


def resolve_secrets(module, references):
    """{reference: value} for every Vault reference; all failures reported at once, before any write."""
    values, errors = vault_values(module, references)
    if errors:
        raise VaultRefError("; ".join(errors[reference] for reference in sorted(errors)))
    return values


def wanted_aliases(params):
    """[(name, type, description, options)] from a GatewayAlias document or from the module's options."""
    if params["definition"] is not None:
        return aliases_from_document(params["definition"])
    return [(params["name"], params["type"], params["description"], params)]


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_one_of=[("name", "definition")],
        mutually_exclusive=[("definition", "name"), ("definition", "type")],
        required_if=[("state", "present", ("type", "definition"), True)],
        supports_check_mode=True,
    )
    params = module.params
    client = gateway_client(module)
    results = []
    try:
        wanted = wanted_aliases(params)
        if params["state"] == "absent":
            results = [remove_alias(client, name, module.check_mode) for name, _type, _description, _options in wanted]
        else:
            # Every body built and every reference resolved before the first write.
            planned = [(name,) + desired_alias(name, alias_type, description, options)
                       for name, alias_type, description, options in wanted]
            references = set(v for _name, _body, secrets in planned for v in secrets.values() if is_reference(v))
            values = resolve_secrets(module, references)
            results = [converge_alias(client, name, body, secrets, values, module.check_mode)
                       for name, body, secrets in planned]
    except (GatewayError, VaultRefError, AliasSpecError) as exc:
        module.fail_json(msg=to_native(exc), aliases=results)
    if params["definition"] is None:
        single = results[0]
        single.pop("name")
        module.exit_json(**single)
    module.exit_json(
        changed=any(r["changed"] for r in results), aliases=results,
        diff=dict(before=dict((r["name"], r["diff"]["before"]) for r in results),
                  after=dict((r["name"], r["diff"]["after"]) for r in results)))


if __name__ == "__main__":
    main()
