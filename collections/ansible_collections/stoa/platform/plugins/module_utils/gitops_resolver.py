# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render an API of the GitOps repository for one environment.

Variables come from three files, later ones winning:

1. ``environments/<env>/config.yaml``: the platform's values for the environment;
2. ``tenants/<t>/apis/<api>/environments/_defaults.yaml``: the API's defaults;
3. ``tenants/<t>/apis/<api>/environments/<env>.yaml``: the API in that environment.

Most specific wins: an API owner can override a platform default for their API,
and an environment file overrides the API's defaults. Placeholders:

- ``${VAR}``; ``${VAR:default}`` (the default is plain text, up to the first ``}``);
- a value that is exactly one placeholder keeps the variable's YAML type (a number
  stays a number); inside a longer string it is interpolated as text;
- variables may refer to other variables (resolved recursively; a cycle is an error);
- ``$${`` writes a literal ``${`` (``$${VAR}`` renders as ``${VAR}``);
- ``vault:`` references are left as they are: the module that needs a secret resolves it.

Every unresolved variable is reported at once, with where it is used.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.stoa.platform.plugins.module_utils.gitops_yaml import YamlFileError, load_with_lines
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import join_pointer

PLACEHOLDER = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
WHOLE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}$")


class ResolveError(Exception):
    def __init__(self, message, unresolved=None):
        super(ResolveError, self).__init__(message)
        self.unresolved = unresolved or []


def read_yaml(path):
    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8")
    return load_with_lines(text)


def api_dir(root, tenant, api):
    return os.path.join(root, "tenants", tenant, "apis", api)


def variable_sources(root, tenant, api, environment):
    """The files that give variables, lowest precedence first (missing ones skipped)."""
    candidates = [
        os.path.join(root, "environments", environment, "config.yaml"),
        os.path.join(api_dir(root, tenant, api), "environments", "_defaults.yaml"),
        os.path.join(api_dir(root, tenant, api), "environments", environment + ".yaml"),
    ]
    return [path for path in candidates if os.path.exists(path)]


def merged_variables(root, tenant, api, environment):
    """({name: value}, {name: file it came from})."""
    variables, origin = {}, {}
    for path in variable_sources(root, tenant, api, environment):
        try:
            data, _lines = read_yaml(path)
        except (YamlFileError, OSError) as exc:
            raise ResolveError("%s: %s" % (os.path.relpath(path, root), exc))
        for name, value in ((data or {}).get("variables") or {}).items():
            variables[name] = value
            origin[name] = os.path.relpath(path, root)
    return variables, origin


class Renderer(object):
    def __init__(self, variables):
        self.variables = variables
        self.unresolved = []  # (variable, pointer)
        self._done = {}

    def variable(self, name, pointer, stack=()):
        if name in self._done:
            return self._done[name]
        if name in stack:
            raise ResolveError("variables refer to each other in a cycle: %s" % " -> ".join(stack + (name,)))
        value = self.variables[name]
        if isinstance(value, str):
            value = self.text(value, pointer, stack + (name,))
        self._done[name] = value
        return value

    def text(self, value, pointer, stack=()):
        whole = WHOLE.match(value)
        if whole:
            return self._lookup(whole.group(1), whole.group(2), pointer, stack, keep_type=True)

        def substitute(match):
            if match.group(0) == "$${":
                return "${"
            return str(self._lookup(match.group(1), match.group(2), pointer, stack, keep_type=False))

        return PLACEHOLDER.sub(substitute, value)

    def _lookup(self, name, default, pointer, stack, keep_type):
        if name in self.variables:
            return self.variable(name, pointer, stack)
        if default is not None:
            return default
        self.unresolved.append((name, pointer))
        return "${%s}" % name

    def render(self, node, pointer=""):
        if isinstance(node, dict):
            return dict((k, self.render(v, join_pointer(pointer, str(k)))) for k, v in node.items())
        if isinstance(node, list):
            return [self.render(v, join_pointer(pointer, str(i))) for i, v in enumerate(node)]
        if isinstance(node, str):
            return self.text(node, pointer)
        return node


def render_api(root, tenant, api, environment):
    """The API's description for one environment: (rendered api.yaml, variables, origin of each variable)."""
    path = os.path.join(api_dir(root, tenant, api), "api.yaml")
    try:
        document, _lines = read_yaml(path)
    except (YamlFileError, OSError) as exc:
        raise ResolveError("%s: %s" % (os.path.relpath(path, root), exc))
    variables, origin = merged_variables(root, tenant, api, environment)
    renderer = Renderer(variables)
    rendered = renderer.render(document)
    if renderer.unresolved:
        names = sorted(set(name for name, _pointer in renderer.unresolved))
        where = "; ".join("${%s} at %s" % (name, pointer) for name, pointer in renderer.unresolved)
        raise ResolveError("%s/%s in %s: undefined variable%s %s (%s); define them in environments/%s/config.yaml, "
                           "or the API's environments/_defaults.yaml or environments/%s.yaml"
                           % (tenant, api, environment, "s" if len(names) > 1 else "", ", ".join(names), where,
                              environment, environment), renderer.unresolved)
    return rendered, variables, origin


def _int(value, where):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ResolveError("%s must be a whole number, not %r" % (where, value))


AUTHENTICATION_METHODS = {"apiKey": "api_key", "oauth2": "oauth2", "jwt": "jwt"}


def gateway_api_options(rendered, api_path):
    """The options of stoa.platform.gateway_api for a rendered API description."""
    spec = rendered.get("spec") or {}
    metadata = rendered.get("metadata") or {}
    options = {
        "name": metadata.get("name"),
        "version": str(spec.get("version")),
        "tenant": metadata.get("tenant"),
        "spec_path": os.path.abspath(os.path.join(api_path, spec.get("openapi") or "openapi.yaml")),
        "description": spec.get("description"),
        "maturity_state": spec.get("maturityState"),
        "tags": spec.get("tags"),
        "backend_url": (spec.get("backend") or {}).get("url"),
    }
    policies = {}
    for entry in spec.get("policies") or []:
        if "rateLimit" in entry:
            limit = entry["rateLimit"]
            policies["rate_limit"] = {"requests": _int(limit.get("requests"), "spec.policies.rateLimit.requests"),
                                      "period": limit.get("period") or "minute",
                                      "interval": _int(limit.get("interval", 1), "spec.policies.rateLimit.interval")}
        if "cors" in entry:
            cors = entry["cors"]
            policies["cors"] = {"allowed_origins": cors.get("allowedOrigins"), "allowed_methods": cors.get("allowedMethods"),
                                "allowed_headers": cors.get("allowedHeaders"), "exposed_headers": cors.get("exposedHeaders"),
                                "allow_credentials": str(cors.get("allowCredentials", False)).lower() == "true",
                                "max_age": None if cors.get("maxAge") is None else _int(cors["maxAge"], "spec.policies.cors.maxAge")}
    security = (spec.get("security") or {}).get("type")
    if security in AUTHENTICATION_METHODS:
        policies["authentication"] = {"methods": [AUTHENTICATION_METHODS[security]]}
    options["policies"] = policies
    return dict((k, v) for k, v in options.items() if v is not None)


def referenced_aliases(root, environment, variables):
    """The GatewayAlias documents of ``environment`` that ``*_ALIAS`` variables name."""
    wanted = set(v for k, v in variables.items() if k.endswith("_ALIAS"))
    found = []
    directory = os.path.join(root, "aliases", environment)
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if name.endswith((".yaml", ".yml")):
            data, _lines = read_yaml(os.path.join(directory, name))
            if (data.get("metadata") or {}).get("name") in wanted:
                found.append(data)
    missing = wanted - set(a["metadata"]["name"] for a in found)
    if missing:
        raise ResolveError("no alias named %s in aliases/%s/" % (", ".join(sorted(missing)), environment))
    return found
