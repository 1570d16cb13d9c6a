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
- an API has no environment file for an environment its tenant does not declare.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os

from ansible_collections.stoa.platform.plugins.module_utils.gitops_resolver import Renderer, merged_variables, ResolveError
from ansible_collections.stoa.platform.plugins.module_utils.gitops_schemas import LOCATIONS, SCHEMAS
from ansible_collections.stoa.platform.plugins.module_utils.gitops_yaml import YamlFileError, line_of, load_with_lines
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import (
    DocumentError,
    join_pointer,
    load_document,
    openapi_version,
)

try:
    from jsonschema import Draft202012Validator

    HAS_JSONSCHEMA = True
except ImportError:  # pragma: no cover - reported by the callers
    HAS_JSONSCHEMA = False

WATCHED_DIRS = ("iam", "environments", "aliases", "tenants", "requests")


def field_of(pointer):
    return ".".join(part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]) or "(document)"


class Checkout(object):
    """The parsed files of one checkout and the problems found so far."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.problems = []
        self.files = {}  # relative path -> (kind, data, lines)

    def problem(self, relpath, message, pointer="", lines=None, line=None):
        if line is None:
            line = line_of(lines or self.files.get(relpath, (None, None, {"": 1}))[2], pointer)
        self.problems.append({"file": relpath, "line": line, "field": field_of(pointer), "message": message})

    def of_kind(self, kind):
        return dict((path, (data, lines)) for path, (k, data, lines) in self.files.items() if k == kind and data)


def classify(relpath):
    for pattern, kind in LOCATIONS.items():
        if relpath.count("/") == pattern.count("/") and fnmatch.fnmatchcase(relpath, pattern):
            return kind
    return None


def yaml_files(root):
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")) and not name.startswith("."):
                yield os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/")


def load_and_check_schemas(checkout):
    for relpath in yaml_files(checkout.root):
        kind = classify(relpath)
        if kind is None:
            if relpath.split("/")[0] in WATCHED_DIRS and not relpath.endswith("/openapi.yaml"):
                checkout.problem(relpath, "not a file of the GitOps layout (see docs/gitops.md)", line=1)
            continue
        try:
            with open(os.path.join(checkout.root, relpath), "rb") as handle:
                data, lines = load_with_lines(handle.read().decode("utf-8"))
        except (YamlFileError, UnicodeDecodeError) as exc:
            checkout.problem(relpath, str(exc), line=getattr(exc, "line", None) or 1)
            continue
        checkout.files[relpath] = (kind, data, lines)
        validator = Draft202012Validator(SCHEMAS[kind])
        for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
            pointer = join_pointer("", *[str(p) for p in error.absolute_path])
            checkout.problem(relpath, "%s (%s)" % (error.message, kind), pointer, lines)


def tenants(checkout):
    registry = checkout.of_kind("TenantRegistry").get("iam/tenants.yaml")
    if not registry:
        checkout.problem("iam/tenants.yaml", "the tenant registry is missing", line=1)
        return {}
    return dict((t.get("id"), t) for t in registry[0].get("tenants") or [] if isinstance(t, dict))


def check_names(checkout):
    for relpath, (data, lines) in checkout.of_kind("GatewayAlias").items():
        env = relpath.split("/")[1]
        if (data.get("metadata") or {}).get("environment") not in (None, env):
            checkout.problem(relpath, "metadata.environment says %s but the file is in aliases/%s/"
                             % (data["metadata"]["environment"], env), "/metadata/environment", lines)
    for kind in ("EnvironmentConfig", "SecretReferences"):
        for relpath, (data, lines) in checkout.of_kind(kind).items():
            env = relpath.split("/")[1]
            if (data.get("metadata") or {}).get("environment") != env:
                checkout.problem(relpath, "metadata.environment must be %s (the folder)" % env,
                                 "/metadata/environment", lines)
    for relpath, (data, lines) in checkout.of_kind("APIEnvironmentConfig").items():
        stem = os.path.splitext(relpath.rsplit("/", 1)[1])[0]
        if (data.get("metadata") or {}).get("environment") != stem:
            checkout.problem(relpath, "metadata.environment must be %s (the file name)" % stem,
                             "/metadata/environment", lines)


def aliases_by_environment(checkout):
    found = {}
    for relpath, (data, _lines) in checkout.of_kind("GatewayAlias").items():
        found.setdefault(relpath.split("/")[1], set()).add((data.get("metadata") or {}).get("name"))
    return found


def check_apis(checkout, registry):
    aliases = aliases_by_environment(checkout)
    for relpath, (data, lines) in checkout.of_kind("API").items():
        _tenants, tenant_dir, _apis, api_dir, _file = relpath.split("/")
        metadata = data.get("metadata") or {}
        if metadata.get("name") != api_dir:
            checkout.problem(relpath, "metadata.name must be %s (the folder)" % api_dir, "/metadata/name", lines)
        if metadata.get("tenant") != tenant_dir:
            checkout.problem(relpath, "metadata.tenant must be %s (the folder)" % tenant_dir, "/metadata/tenant", lines)
        tenant = registry.get(tenant_dir)
        if tenant is None:
            checkout.problem(relpath, "tenant %s is not in iam/tenants.yaml" % tenant_dir, "/metadata/tenant", lines)
            continue
        check_openapi(checkout, relpath, data, lines)
        environments = tenant.get("environments") or []
        base = relpath.rsplit("/", 1)[0]
        for env_file in [p for p in checkout.files if p.startswith(base + "/environments/")]:
            stem = os.path.splitext(env_file.rsplit("/", 1)[1])[0]
            if stem != "_defaults" and stem not in environments:
                checkout.problem(env_file, "tenant %s does not declare the environment %s" % (tenant_dir, stem),
                                 "/metadata/environment")
        for environment in environments:
            check_variables(checkout, relpath, data, lines, tenant_dir, api_dir, environment, aliases)


def check_openapi(checkout, relpath, data, lines):
    name = ((data.get("spec") or {}).get("openapi")) or "openapi.yaml"
    path = os.path.join(checkout.root, relpath.rsplit("/", 1)[0], name)
    try:
        with open(path, "rb") as handle:
            openapi_version(load_document(handle.read().decode("utf-8"), name)[0])
    except (OSError, UnicodeDecodeError) as exc:
        checkout.problem(relpath, "the OpenAPI document %s cannot be read: %s" % (name, exc.__class__.__name__),
                         "/spec/openapi", lines)
    except DocumentError as exc:
        checkout.problem(relpath, "the OpenAPI document %s: %s" % (name, exc), "/spec/openapi", lines)


def check_variables(checkout, relpath, data, lines, tenant, api, environment, aliases):
    try:
        variables, origin = merged_variables(checkout.root, tenant, api, environment)
        renderer = Renderer(variables)
        renderer.render(data)
    except ResolveError as exc:
        checkout.problem(relpath, "environment %s: %s" % (environment, exc), "", lines)
        return
    for name, pointer in renderer.unresolved:
        checkout.problem(relpath, "${%s} is not defined for environment %s (tenant %s declares it)"
                         % (name, environment, tenant), pointer, lines)
    for name, value in sorted(variables.items()):
        if name.endswith("_ALIAS") and value not in aliases.get(environment, set()):
            source = origin[name]
            checkout.problem(source, "%s names the alias %r, which is not defined in aliases/%s/"
                             % (name, value, environment), "/variables/" + name)


def check_requests(checkout, registry):
    apis = set((p.split("/")[1], p.split("/")[3]) for p in checkout.of_kind("API"))
    for relpath, (data, lines) in checkout.of_kind("PromotionRequest").items():
        _requests, _prod, year, month, filename = relpath.split("/")
        metadata = data.get("metadata") or {}
        request_id = metadata.get("id") or ""
        if filename != request_id + ".yaml":
            checkout.problem(relpath, "the file must be named after metadata.id (%s.yaml)" % request_id,
                             "/metadata/id", lines)
        if request_id[3:7] != year or str(metadata.get("createdAt", ""))[5:7] != month:
            checkout.problem(relpath, "the request must be under requests/prod/<year of its id>/<month created>/",
                             "/metadata/createdAt", lines)
        tenant = metadata.get("tenant")
        if tenant not in registry:
            checkout.problem(relpath, "tenant %s is not in iam/tenants.yaml" % tenant, "/metadata/tenant", lines)
        target = ((data.get("spec") or {}).get("target")) or {}
        if target.get("name") and (tenant, target["name"]) not in apis:
            checkout.problem(relpath, "tenant %s has no API %s" % (tenant, target["name"]), "/spec/target/name", lines)


def validate_checkout(root):
    """Every problem of the checkout, sorted by file and line."""
    if not HAS_JSONSCHEMA:
        raise RuntimeError("the jsonschema library is required to validate a GitOps checkout")
    checkout = Checkout(root)
    load_and_check_schemas(checkout)
    registry = tenants(checkout)
    check_names(checkout)
    check_apis(checkout, registry)
    check_requests(checkout, registry)
    return sorted(checkout.problems, key=lambda p: (p["file"], p["line"], p["field"], p["message"]))


def format_problem(problem):
    return "%(file)s:%(line)s: %(field)s: %(message)s" % problem
