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

import copy
import fnmatch

from ansible_collections.stoa.platform.plugins.module_utils.gitops_yaml import (
    YamlFileError,
    line_of,
    load_file,
    problem,
)
from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import REFERENCE_PATTERN

try:
    from jsonschema import Draft202012Validator

    HAS_JSONSCHEMA = True
except ImportError:  # reported by the callers
    HAS_JSONSCHEMA = False

API_VERSION = "stoa.cab-i.com/v1"
NAME = {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", "maxLength": 63}
ENVIRONMENT = {"type": "string", "enum": ["dev", "staging", "prod"]}
EMAIL = {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"}
TIMESTAMP = {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$"}
# The KV v2 form vault:<mount>/data/<path>#<key>: the same pattern as the vault_ref lookup and the modules.
VAULT_REF = {"type": "string", "pattern": REFERENCE_PATTERN}
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
                           "sourceEnvironment": ENVIRONMENT, "targetEnvironment": ENVIRONMENT,
                           "commit": {"type": "string", "pattern": "^[0-9a-f]{40}$"}},
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
                                                      "failed", "checks-failed", "retried"]},
                "at": TIMESTAMP, "by": {"type": "string", "minLength": 1}, "comment": {"type": "string"},
                "version": {"type": "string"}, "commit": {"type": "string", "pattern": "^[0-9a-f]{40}$"}},
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


def _rendered(schema):
    """The schema of a document after substitution: fields that took a string for a ``${PLACEHOLDER}``
    (``["integer", "string"]``) must now hold their real type."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            kinds = node.get("type")
            if isinstance(kinds, list) and "string" in kinds and len(kinds) > 1:
                rest = [k for k in kinds if k != "string"]
                node["type"] = rest[0] if len(rest) == 1 else rest
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    schema["$id"] = schema["$id"].replace("/API.json", "/RenderedAPI.json")
    schema["title"] = "API (rendered for one environment)"
    return schema


# An API once its placeholders are substituted (checked before anything is deployed).
RENDERED_API = _rendered(SCHEMAS["API"])

YAML11_BOOLEANS = ("yes", "no", "on", "off", "y", "n")


def classify(relpath):
    """The kind of the file at ``relpath`` (relative to the checkout, with /), or None."""
    for pattern, kind in LOCATIONS.items():
        if relpath.count("/") == pattern.count("/") and fnmatch.fnmatchcase(relpath, pattern):
            return kind
    return None


def schema_problems(schema, data):
    """[(json pointer, message)] of ``data`` against a schema of this module (a kind's name or a schema)."""
    if not HAS_JSONSCHEMA:
        raise RuntimeError("the jsonschema library is required to check the GitOps files")
    schema = SCHEMAS[schema] if isinstance(schema, str) else schema
    found = []
    for error in sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        pointer = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path)
        message = "%s (%s)" % (error.message, schema.get("title"))
        if error.validator == "type" and isinstance(error.instance, str) and error.instance.lower() in YAML11_BOOLEANS:
            message += "; YAML 1.2 reads %s as text: write true or false" % error.instance
        found.append((pointer, message))
    return found


class DocumentError(ValueError):
    """A GitOps file that cannot be used: ``problems`` is the list of ``{file, line, field, message}``."""

    def __init__(self, problems):
        super(DocumentError, self).__init__("; ".join("%(file)s:%(line)s: %(field)s: %(message)s" % p for p in problems))
        self.problems = problems


def load_checked(root, relpath, kind=None):
    """(data, lines) of the file ``relpath`` of the checkout, read by the GitOps loader and checked against
    the schema of its kind (``kind``, else the kind of its location; a file of no kind is only loaded).

    Raises :class:`DocumentError` listing every problem, or OSError when the file is missing.
    """
    kind = kind or classify(relpath)
    try:
        data, lines = load_file(root, relpath)
    except YamlFileError as exc:
        raise DocumentError([problem(relpath, line, pointer, message) for line, pointer, message in exc.problems])
    if kind:
        found = schema_problems(kind, data)
        if found:
            raise DocumentError([problem(relpath, line_of(lines, pointer), pointer, message)
                                 for pointer, message in found])
    return data, lines
