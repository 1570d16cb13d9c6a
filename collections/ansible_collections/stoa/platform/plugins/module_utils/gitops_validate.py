# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validate a whole GitOps checkout: every file against its kind's schema, then the cross-references.

Every problem is collected (nothing stops at the first one) as
``{file, line, field, message}``, file relative to the checkout, field a dotted
path. Cross-references checked:

- a file sits where its kind belongs, and its names agree with its path
  (an API's folder and ``metadata.name``/``tenant``, an environment file's name
  and ``metadata.environment``, a promotion request's id, year and month);
- an API's tenant exists in ``iam/tenants.yaml``, its OpenAPI document exists and parses;
- every ``${VAR}`` of an API resolves in every environment its tenant declares;
- a variable named ``*_ALIAS`` names a GatewayAlias of that environment;
- an API has no environment file for an environment its tenant does not declare;
- no placeholder is malformed (``${VAR`` unterminated, ``${}``, ...);
- the API rendered for each environment still satisfies the API schema
  (a variable whose type does not fit where it is used);
- every file read, the OpenAPI documents included, resolves inside the checkout.

Every file is read by the GitOps loader (gitops_yaml: YAML 1.2, duplicate keys,
bounded aliases and depth, one mapping per file).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.stoa.platform.plugins.module_utils.gitops_resolver import (
    Renderer,
    ResolveError,
    merged_variables,
    placeholder_problems,
    variable_sources,
)
from ansible_collections.stoa.platform.plugins.module_utils.gitops_schemas import (
    HAS_JSONSCHEMA,
    SCHEMAS,
    classify,
    schema_problems,
)
from ansible_collections.stoa.platform.plugins.module_utils.gitops_yaml import (
    YamlFileError,
    format_problem,
    line_of,
    load_file,
    problem,
    read_text,
)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import (
    DocumentError as OpenAPIDocumentError,
    load_document,
    openapi_version,
)

WATCHED_DIRS = ("iam", "environments", "aliases", "tenants", "requests")
PLACEHOLDER_KINDS = ("API", "APIEnvironmentConfig", "EnvironmentConfig")
OPENAPI_MAX_BYTES = 16 * 1024 * 1024

ENVIRONMENTS = SCHEMAS["EnvironmentConfig"]["properties"]["metadata"]["properties"]["environment"]["enum"]

__all__ = ["HAS_JSONSCHEMA", "classify", "format_problem", "validate_checkout"]


def dig(data, *keys):
    """``data[k1][k2]...``, or None as soon as a level is not a mapping (files with schema problems are
    still cross-checked: their problems are already reported, the checks must only not break on them)."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


class Checkout(object):
    """The parsed files of one checkout and the problems found so far."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.problems = []
        self.files = {}  # relative path -> (kind, data, lines)
        self.unusable = set()  # files that could not be read or break their schema
        self.variable_files = {}  # gitops_resolver.read_checked's cache: each variables file read once

    def problem(self, relpath, message, pointer="", lines=None, line=None):
        if line is None:
            line = line_of(lines or self.files.get(relpath, (None, None, {"": 1}))[2], pointer)
        self.problems.append(problem(relpath, line, pointer, message))

    def of_kind(self, kind):
        return dict((path, (data, lines)) for path, (k, data, lines) in self.files.items() if k == kind and data)


def yaml_files(root):
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")) and not name.startswith("."):
                yield os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/")


def load_and_check_schemas(checkout):
    """Every file of the layout through the GitOps loader and its kind's schema; malformed placeholders."""
    for relpath in yaml_files(checkout.root):
        kind = classify(relpath)
        if kind is None:
            if relpath.split("/")[0] in WATCHED_DIRS and not relpath.endswith("/openapi.yaml"):
                checkout.problem(relpath, "not a file of the GitOps layout (see docs/gitops.md)", line=1)
            continue
        try:
            data, lines = load_file(checkout.root, relpath)
        except YamlFileError as exc:
            checkout.unusable.add(relpath)
            checkout.problems.extend(problem(relpath, line, pointer, message) for line, pointer, message in exc.problems)
            continue
        except (OSError, IOError) as exc:
            checkout.unusable.add(relpath)
            checkout.problem(relpath, "cannot be read: %s" % (getattr(exc, "strerror", None) or exc), line=1)
            continue
        checkout.files[relpath] = (kind, data, lines)
        for pointer, message in schema_problems(kind, data):
            checkout.unusable.add(relpath)
            checkout.problem(relpath, message, pointer, lines)
        if kind in PLACEHOLDER_KINDS:
            for pointer, message in placeholder_problems(data):
                checkout.problem(relpath, message, pointer, lines)


def tenants(checkout):
    registry = checkout.of_kind("TenantRegistry").get("iam/tenants.yaml")
    if not registry:
        checkout.problem("iam/tenants.yaml", "the tenant registry is missing", line=1)
        return {}
    entries = dig(registry[0], "tenants")
    if not isinstance(entries, list):
        return {}
    return dict((t["id"], t) for t in entries if isinstance(t, dict) and isinstance(t.get("id"), str))


def check_names(checkout):
    for relpath, (data, lines) in checkout.of_kind("GatewayAlias").items():
        env = relpath.split("/")[1]
        if dig(data, "metadata", "environment") not in (None, env):
            checkout.problem(relpath, "metadata.environment says %s but the file is in aliases/%s/"
                             % (dig(data, "metadata", "environment"), env), "/metadata/environment", lines)
    for kind in ("EnvironmentConfig", "SecretReferences"):
        for relpath, (data, lines) in checkout.of_kind(kind).items():
            env = relpath.split("/")[1]
            if dig(data, "metadata", "environment") != env:
                checkout.problem(relpath, "metadata.environment must be %s (the folder)" % env,
                                 "/metadata/environment", lines)
    for relpath, (data, lines) in checkout.of_kind("APIEnvironmentConfig").items():
        stem = os.path.splitext(relpath.rsplit("/", 1)[1])[0]
        if dig(data, "metadata", "environment") != stem:
            checkout.problem(relpath, "metadata.environment must be %s (the file name)" % stem,
                             "/metadata/environment", lines)


def aliases_by_environment(checkout):
    found = {}
    for relpath, (data, _lines) in checkout.of_kind("GatewayAlias").items():
        name = dig(data, "metadata", "name")
        if isinstance(name, str):
            found.setdefault(relpath.split("/")[1], set()).add(name)
    return found


def check_apis(checkout, registry):
    aliases = aliases_by_environment(checkout)
    for relpath, (data, lines) in checkout.of_kind("API").items():
        _tenants, tenant_dir, _apis, api_dir, _file = relpath.split("/")
        if dig(data, "metadata", "name") != api_dir:
            checkout.problem(relpath, "metadata.name must be %s (the folder)" % api_dir, "/metadata/name", lines)
        if dig(data, "metadata", "tenant") != tenant_dir:
            checkout.problem(relpath, "metadata.tenant must be %s (the folder)" % tenant_dir, "/metadata/tenant", lines)
        tenant = registry.get(tenant_dir)
        if tenant is None:
            checkout.problem(relpath, "tenant %s is not in iam/tenants.yaml" % tenant_dir, "/metadata/tenant", lines)
            continue
        check_openapi(checkout, relpath, data, lines)
        if placeholder_problems(data):
            continue  # reported where they are; rendering would only repeat them
        declared = tenant.get("environments")
        environments = [e for e in declared if e in ENVIRONMENTS] if isinstance(declared, list) else []
        base = relpath.rsplit("/", 1)[0]
        for env_file in [p for p in checkout.files if p.startswith(base + "/environments/")]:
            stem = os.path.splitext(env_file.rsplit("/", 1)[1])[0]
            if stem != "_defaults" and stem not in environments:
                checkout.problem(env_file, "tenant %s does not declare the environment %s" % (tenant_dir, stem),
                                 "/metadata/environment")
        for environment in environments:
            sources = variable_sources(checkout.root, tenant_dir, api_dir, environment)
            if any(source in checkout.unusable for source in sources):
                continue  # its problems are reported in the file itself
            check_variables(checkout, relpath, data, lines, tenant_dir, api_dir, environment, aliases)


def check_openapi(checkout, relpath, data, lines):
    name = dig(data, "spec", "openapi")
    name = name if isinstance(name, str) and name else "openapi.yaml"
    document = "%s/%s" % (relpath.rsplit("/", 1)[0], name)
    try:
        openapi_version(load_document(read_text(checkout.root, document, OPENAPI_MAX_BYTES), name)[0])
    except YamlFileError as exc:
        checkout.problem(relpath, "the OpenAPI document %s: %s" % (name, exc), "/spec/openapi", lines)
    except (OSError, IOError) as exc:
        checkout.problem(relpath, "the OpenAPI document %s cannot be read: %s"
                         % (name, getattr(exc, "strerror", None) or exc.__class__.__name__), "/spec/openapi", lines)
    except OpenAPIDocumentError as exc:
        checkout.problem(relpath, "the OpenAPI document %s: %s" % (name, exc), "/spec/openapi", lines)


def check_variables(checkout, relpath, data, lines, tenant, api, environment, aliases):
    """The API rendered for one environment: undefined variables, the rendered API against its schema, aliases."""
    try:
        variables, origin = merged_variables(checkout.root, tenant, api, environment, checkout.variable_files)
        renderer = Renderer(variables)
        rendered = renderer.render(data)
    except ResolveError as exc:
        checkout.problem(relpath, "environment %s: %s" % (environment, exc), "", lines)
        return
    for name, pointer in renderer.unresolved:
        checkout.problem(relpath, "${%s} is not defined for environment %s (tenant %s declares it)"
                         % (name, environment, tenant), pointer, lines)
    if not renderer.unresolved and not renderer.malformed:
        for pointer, message in renderer.rendered_problems(rendered, origin):
            checkout.problem(relpath, "environment %s: %s" % (environment, message), pointer, lines)
    for name, value in sorted(variables.items()):
        if name.endswith("_ALIAS") and (not isinstance(value, str) or value not in aliases.get(environment, set())):
            checkout.problem(origin[name], "%s names the alias %r, which is not defined in aliases/%s/"
                             % (name, value, environment), "/variables/" + name)


def check_requests(checkout, registry):
    apis = set((p.split("/")[1], p.split("/")[3]) for p in checkout.of_kind("API"))
    for relpath, (data, lines) in checkout.of_kind("PromotionRequest").items():
        _requests, _prod, year, month, filename = relpath.split("/")
        metadata = dig(data, "metadata") if isinstance(dig(data, "metadata"), dict) else {}
        request_id = str(metadata.get("id") or "")
        if filename != request_id + ".yaml":
            checkout.problem(relpath, "the file must be named after metadata.id (%s.yaml)" % request_id,
                             "/metadata/id", lines)
        if request_id[3:7] != year or str(metadata.get("createdAt", ""))[5:7] != month:
            checkout.problem(relpath, "the request must be under requests/prod/<year of its id>/<month created>/",
                             "/metadata/createdAt", lines)
        tenant = metadata.get("tenant")
        if not isinstance(tenant, str) or tenant not in registry:
            checkout.problem(relpath, "tenant %s is not in iam/tenants.yaml" % tenant, "/metadata/tenant", lines)
        target = dig(data, "spec", "target") if isinstance(dig(data, "spec", "target"), dict) else {}
        if isinstance(target.get("name"), str) and (tenant, target["name"]) not in apis:
            checkout.problem(relpath, "tenant %s has no API %s" % (tenant, target["name"]), "/spec/target/name", lines)


def validate_checkout(root, documents=None):
    """Every problem of the checkout (``{file, line, field, message}``), sorted by file and line.

    ``documents``: a dict that receives, for each of its keys (paths relative to the checkout), the file's data
    as read and checked here when the file exists and passed its schema, so a job that validates first does
    not read its registries a second time. Other keys are removed.
    """
    if not HAS_JSONSCHEMA:
        raise RuntimeError("the jsonschema library is required to validate a GitOps checkout")
    checkout = Checkout(root)
    load_and_check_schemas(checkout)
    registry = tenants(checkout)
    check_names(checkout)
    check_apis(checkout, registry)
    check_requests(checkout, registry)
    for relpath in list(documents or {}):
        if relpath in checkout.files and relpath not in checkout.unusable:
            documents[relpath] = checkout.files[relpath][1]
        else:
            del documents[relpath]
    return sorted(checkout.problems, key=lambda p: (p["file"], p["line"], p["field"], p["message"]))
