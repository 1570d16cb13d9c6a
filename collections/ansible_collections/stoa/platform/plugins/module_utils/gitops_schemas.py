# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""JSON Schemas (draft 2020-12) of every YAML kind of the GitOps repository.

Kept as Python data so that they travel with the modules (Ansible ships
module_utils, not data files); ``stoa-gitops schemas DIR`` writes them out as
JSON files for editors and for the GitOps repository's own CI.

The kinds and their fields follow the design document; where it gives no
example (service accounts, the per-environment configuration and secret
references), the shapes are this collection's, documented in docs/gitops.md.
Values that may hold a ``${PLACEHOLDER}`` are strings.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

API_VERSION = "stoa.cab-i.com/v1"
NAME = {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", "maxLength": 63}
ENVIRONMENT = {"type": "string", "enum": ["dev", "staging", "prod"]}
EMAIL = {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"}
TIMESTAMP = {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$"}
VAULT_REF = {"type": "string", "pattern": "^vault:[^/#\\s]+/(data/)?[^#\\s]+#[^#\\s]+$"}
VARIABLE_NAME = "^[A-Z][A-Z0-9_]*$"
SCALAR = {"type": ["string", "number", "boolean"]}


def document(kind, properties, required, metadata_properties=None, metadata_required=("name",)):
    """A top-level document: apiVersion, kind, metadata and the kind's own fields, nothing else."""
    meta = {"type": "object", "required": list(metadata_required), "additionalProperties": False,
            "properties": dict({"name": {"type": "string", "minLength": 1}, "lastUpdated": TIMESTAMP,
                                "labels": {"type": "object", "additionalProperties": {"type": "string"}}},
                               **(metadata_properties or {}))}
    props = {"apiVersion": {"const": API_VERSION}, "kind": {"const": kind}, "metadata": meta}
    props.update(properties)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "https://stoa.cab-i.com/schemas/%s.json" % kind,
            "title": kind, "type": "object", "additionalProperties": False,
            "required": ["apiVersion", "kind", "metadata"] + list(required), "properties": props}


def obj(properties, required=(), additional=False):
    return {"type": "object", "required": list(required), "additionalProperties": additional, "properties": properties}


VARIABLES = {"type": "object", "propertyNames": {"pattern": VARIABLE_NAME}, "additionalProperties": SCALAR}

MEMBER = obj({"email": EMAIL, "name": {"type": "string"}, "addedAt": TIMESTAMP, "addedBy": {"type": "string"},
              "enabled": {"type": "boolean"}, "initialPasswordRef": VAULT_REF}, ["email"])

POLICY = {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False, "properties": {
    "rateLimit": obj({"requests": {"type": ["integer", "string"]},
                      "period": {"type": "string", "enum": ["second", "minute", "hour", "day"]},
                      "interval": {"type": ["integer", "string"]}}, ["requests"]),
    "cors": obj({"allowedOrigins": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                 "allowedMethods": {"type": "array", "items": {"type": "string"}},
                 "allowedHeaders": {"type": "array", "items": {"type": "string"}},
                 "exposedHeaders": {"type": "array", "items": {"type": "string"}},
                 "allowCredentials": {"type": ["boolean", "string"]},
                 "maxAge": {"type": ["integer", "string"]}}, ["allowedOrigins"]),
}}

SCHEMAS = {
    "API": document("API", {"spec": obj({
        "displayName": {"type": "string"},
        "version": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "openapi": {"type": "string", "minLength": 1},
        "maturityState": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "backend": obj({"url": {"type": "string"}, "alias": {"type": "string"}, "timeout": {"type": "string"},
                        "apiKeyRef": {"type": "string"},
                        "authentication": obj({"type": {"type": "string"},
                                               "credentials": {"type": "object",
                                                               "additionalProperties": {"type": "string"}}})}),
        "security": obj({"type": {"type": "string", "enum": ["apiKey", "oauth2", "jwt", "none"]},
                         "apiKeyHeader": {"type": "string"}, "authServer": {"type": "string"},
                         "scopes": {"type": "array", "items": {"type": "string"}}}, ["type"]),
        "policies": {"type": "array", "items": POLICY},
    }, ["version"])}, ["spec"], {"tenant": NAME}, ("name", "tenant")),

    "APIEnvironmentConfig": document("APIEnvironmentConfig", {"variables": VARIABLES}, ["variables"],
                                     {"environment": {"type": "string", "enum": ["_defaults", "dev", "staging", "prod"]}},
                                     ("name", "environment")),

    "EnvironmentConfig": document("EnvironmentConfig", {"variables": VARIABLES}, ["variables"],
                                  {"environment": ENVIRONMENT}, ("name", "environment")),

    "SecretReferences": document("SecretReferences", {"secrets": {
        "type": "object", "propertyNames": {"pattern": VARIABLE_NAME}, "additionalProperties": VAULT_REF}},
        ["secrets"], {"environment": ENVIRONMENT}, ("name", "environment")),

    "GatewayAlias": document("GatewayAlias", {"spec": {
        "type": "object", "required": ["type"], "additionalProperties": False, "properties": {
            "type": {"type": "string", "enum": ["endpoint", "simple", "authServer"]},
            "description": {"type": "string"},
            "value": {"type": "string"}, "valueRef": VAULT_REF,
            "endpoint": obj({"url": {"type": "string", "pattern": "^https?://"},
                             "connectionTimeout": {"type": "integer", "minimum": 1},
                             "readTimeout": {"type": "integer", "minimum": 1}}, ["url"]),
            "authentication": obj({
                "type": {"type": "string", "enum": ["basic", "apiKey", "oauth2Token", "oauth2"]},
                "basic": obj({"username": {"type": "string"}, "usernameRef": VAULT_REF, "passwordRef": VAULT_REF},
                             ["passwordRef"]),
                "apiKey": obj({"header": {"type": "string"}, "valueRef": VAULT_REF}, ["valueRef"]),
                "oauth2Token": obj({"tokenRef": VAULT_REF}, ["tokenRef"]),
                "oauth2": obj({"tokenUrl": {"type": "string"}, "clientIdRef": VAULT_REF, "clientSecretRef": VAULT_REF,
                               "scopes": {"type": "array", "items": {"type": "string"}}})}, ["type"]),
            "authServer": obj({"issuer": {"type": "string"}, "jwksUri": {"type": "string"},
                               "introspectionEndpoint": {"type": "string"}, "clientId": {"type": "string"},
                               "clientSecretRef": VAULT_REF, "introspectionUser": {"type": "string"},
                               "authorizeUrl": {"type": "string"}, "tokenUrl": {"type": "string"},
                               "scopes": {"type": "array", "items": {"type": "string"}}}),
        },
        "allOf": [
            {"if": {"properties": {"type": {"const": "endpoint"}}}, "then": {"required": ["endpoint"]}},
            {"if": {"properties": {"type": {"const": "authServer"}}}, "then": {"required": ["authServer"]}},
            {"if": {"properties": {"type": {"const": "simple"}}},
             "then": {"oneOf": [{"required": ["value"]}, {"required": ["valueRef"]}]}},
        ]}}, ["spec"], {"environment": ENVIRONMENT}),

    "TenantRegistry": document("TenantRegistry", {"tenants": {"type": "array", "items": obj({
        "id": NAME,
        "displayName": {"type": "string"},
        "status": {"type": "string", "enum": ["active", "suspended", "archived"]},
        "owner": obj({"email": EMAIL, "name": {"type": "string"}}, ["email"]),
        "quotas": obj({"maxApis": {"type": "integer", "minimum": 0},
                       "maxApplications": {"type": "integer", "minimum": 0}}),
        "environments": {"type": "array", "items": ENVIRONMENT, "uniqueItems": True, "minItems": 1},
        "members": obj({"cpi": {"type": "array", "items": MEMBER}, "devops": {"type": "array", "items": MEMBER},
                        "viewers": {"type": "array", "items": MEMBER}}),
    }, ["id", "status", "environments"])}}, ["tenants"]),

    "GlobalAdminRegistry": document("GlobalAdminRegistry", {"admins": {"type": "array", "items": obj({
        "email": EMAIL, "name": {"type": "string"}, "role": {"type": "string", "enum": ["cpi-admin"]},
        "permissions": {"type": "array", "items": {"type": "string"}}}, ["email", "role"])}}, ["admins"]),

    "ServiceAccountRegistry": document("ServiceAccountRegistry", {"serviceAccounts": {"type": "array", "items": obj({
        "id": NAME, "description": {"type": "string"}, "email": EMAIL,
        "roles": {"type": "array", "items": {"type": "string", "enum": ["cpi-admin", "devops", "viewer"]}},
        "permissions": {"type": "array", "items": {"type": "string"}},
        "tenants": {"type": "array", "items": {"type": "string"}},
        "credentialRef": VAULT_REF}, ["id", "email", "roles"])}}, ["serviceAccounts"]),

    "PromotionRequest": document("PromotionRequest", {
        "spec": obj({
            "target": obj({"type": {"type": "string", "enum": ["api"]}, "name": NAME,
                           "version": {"type": "string", "minLength": 1},
                           "sourceEnvironment": ENVIRONMENT, "targetEnvironment": ENVIRONMENT},
                          ["type", "name", "version", "sourceEnvironment", "targetEnvironment"]),
            "request": obj({"justification": {"type": "string", "minLength": 1},
                            "impactAssessment": {"type": "string", "enum": ["low", "medium", "high"]},
                            "rollbackPlan": {"type": "string"}}, ["justification"]),
            "preChecks": {"type": "object", "additionalProperties": {"type": ["boolean", "string"]}},
        }, ["target", "request"]),
        "status": obj({
            "state": {"type": "string", "enum": ["pending", "approved", "rejected", "deploying", "deployed", "failed"]},
            "history": {"type": "array", "minItems": 1, "items": obj({
                "action": {"type": "string", "enum": ["created", "approved", "rejected", "deploying", "deployed",
                                                      "failed"]},
                "at": TIMESTAMP, "by": {"type": "string", "minLength": 1}, "comment": {"type": "string"}},
                ["action", "at", "by"])}}, ["state", "history"]),
    }, ["spec", "status"], {"id": {"type": "string", "pattern": "^PR-\\d{4}-\\d{4}$"}, "createdAt": TIMESTAMP,
                            "createdBy": {"type": "string"}, "tenant": NAME},
        ("id", "createdAt", "createdBy", "tenant")),
}

# Where each kind lives in a checkout (glob relative to its root).
LOCATIONS = {
    "iam/tenants.yaml": "TenantRegistry",
    "iam/global-admins.yaml": "GlobalAdminRegistry",
    "iam/service-accounts.yaml": "ServiceAccountRegistry",
    "environments/*/config.yaml": "EnvironmentConfig",
    "environments/*/secrets-refs.yaml": "SecretReferences",
    "aliases/*/*.yaml": "GatewayAlias",
    "tenants/*/apis/*/api.yaml": "API",
    "tenants/*/apis/*/environments/*.yaml": "APIEnvironmentConfig",
    "requests/prod/*/*/*.yaml": "PromotionRequest",
}
