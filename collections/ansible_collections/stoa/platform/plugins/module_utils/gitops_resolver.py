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
  anything else that starts with ``${`` (unterminated ``${VAR``, ``${}``, ``${1X}``, a default
  holding ``${``) is an error, never rendered as it stands;
- a value that is exactly one placeholder keeps the variable's YAML type (a number
  stays a number); inside a longer string it is interpolated as text;
- variables may refer to other variables (resolved recursively; a cycle is an error);
- ``$${`` writes a literal ``${`` (``$${VAR}`` renders as ``${VAR}``);
- ``vault:`` references are left as they are: the module that needs a secret resolves it.

Every unresolved variable is reported at once, with where it is used. Every file is read by the
GitOps loader (gitops_yaml: YAML 1.2, strict, inside the checkout) and checked against its kind's
schema; the rendered description is checked against the API schema once more (``RENDERED_API``: a
number is a number, an origin is a string), so a variable of the wrong type stops a deploy.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.stoa.platform.plugins.module_utils.gitops_schemas import (
    RENDERED_API,
    DocumentError,
    load_checked,
    schema_problems,
)
from ansible_collections.stoa.platform.plugins.module_utils.gitops_yaml import OutsideCheckoutError, checkout_path
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import join_pointer

PLACEHOLDER_AT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


class ResolveError(Exception):
    def __init__(self, message, unresolved=None):
        super(ResolveError, self).__init__(message)
        self.unresolved = unresolved or []


def _shown(fragment, limit=40):
    return fragment if len(fragment) <= limit else fragment[:limit] + "..."


def parse_placeholders(value):
    """(parts, problems) of a string: parts are text or ``(name, default)`` tuples (default None when absent),
    problems the messages of placeholders that are not well formed (unterminated ``${NAME``, ``${}``,
    ``${1X}``, a default holding ``${``). ``$${`` is the text ``${``. The one parser of placeholders."""
    parts, problems, start, i = [], [], 0, 0
    while True:
        i = value.find("${", i)
        if i < 0:
            break
        if i - 1 >= start and value[i - 1] == "$":
            parts.append(value[start:i - 1] + "${")
            start = i = i + 2
            continue
        match = PLACEHOLDER_AT.match(value, i)
        if match and "${" not in (match.group(2) or ""):
            if start < i:
                parts.append(value[start:i])
            parts.append((match.group(1), match.group(2)))
            start = i = match.end()
            continue
        end = value.find("}", i)
        if end < 0:
            problems.append("unterminated placeholder %s: it has no closing }" % _shown(value[i:]))
        else:
            problems.append("malformed placeholder %s: write ${NAME} or ${NAME:default} (NAME: letters, digits and _, "
                            "not starting with a digit; a default holds no ${)" % _shown(value[i:end + 1]))
        i += 2
    if start < len(value):
        parts.append(value[start:])
    return parts, problems


def placeholder_problems(data, pointer=""):
    """[(json pointer, message)] of every malformed placeholder in the strings of ``data``."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(placeholder_problems(value, join_pointer(pointer, str(key))))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(placeholder_problems(value, join_pointer(pointer, str(index))))
    elif isinstance(data, str) and "${" in data:
        found.extend((pointer, message) for message in parse_placeholders(data)[1])
    return found


def api_relpath(tenant, api):
    return "tenants/%s/apis/%s" % (tenant, api)


def api_dir(root, tenant, api):
    return os.path.join(root, "tenants", tenant, "apis", api)


def read_checked(root, relpath, kind=None, cache=None):
    """(data, lines) of a file of the checkout through the GitOps loader and its kind's schema;
    a file that cannot be used is a :class:`ResolveError` naming every problem (file:line: field: message).

    ``cache``: a dict that lives for one module call (or one validation), never longer, so that a file
    many APIs share (``environments/<env>/config.yaml``) is read once per call and never served stale to a
    later one. Keyed by the file's resolved path (with the path as written, which messages name, and the
    kind); a file that cannot be used is remembered as its error. The data is shared: callers do not change it.
    """
    if cache is None:
        return _read_checked(root, relpath, kind)
    key = (os.path.realpath(os.path.join(root, relpath)), relpath, kind)
    if key not in cache:
        try:
            cache[key] = _read_checked(root, relpath, kind)
        except ResolveError as exc:
            cache[key] = exc
    if isinstance(cache[key], ResolveError):
        raise cache[key]
    return cache[key]


def _read_checked(root, relpath, kind):
    try:
        return load_checked(root, relpath, kind)
    except DocumentError as exc:
        raise ResolveError(str(exc))
    except (OSError, IOError) as exc:
        raise ResolveError("%s cannot be read: %s" % (relpath, getattr(exc, "strerror", None) or exc))


def variable_sources(root, tenant, api, environment):
    """The files that give variables, lowest precedence first (missing ones skipped), relative to ``root``."""
    candidates = [
        "environments/%s/config.yaml" % environment,
        "%s/environments/_defaults.yaml" % api_relpath(tenant, api),
        "%s/environments/%s.yaml" % (api_relpath(tenant, api), environment),
    ]
    return [relpath for relpath in candidates if os.path.lexists(os.path.join(root, relpath))]


def merged_variables(root, tenant, api, environment, cache=None):
    """({name: value}, {name: file it came from}); each file is read by the GitOps loader and checked
    against its kind's schema (ResolveError otherwise); ``cache``: see :func:`read_checked`."""
    variables, origin = {}, {}
    for relpath in variable_sources(root, tenant, api, environment):
        data, _lines = read_checked(root, relpath, cache=cache)
        for name, value in (data.get("variables") or {}).items():
            variables[name] = value
            origin[name] = relpath
    return variables, origin


class Renderer(object):
    """Substitutes placeholders; collects ``unresolved`` (name, pointer), ``malformed`` (pointer, message)
    and, for each pointer whose whole value was one variable, ``sources`` (pointer -> variable name)."""

    def __init__(self, variables):
        self.variables = variables
        self.unresolved = []  # (variable, pointer)
        self.malformed = []  # (pointer, message)
        self.sources = {}  # pointer -> variable whose value it holds
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
        parts, problems = parse_placeholders(value)
        self.malformed.extend((pointer, message) for message in problems)
        if len(parts) == 1 and isinstance(parts[0], tuple):
            name, default = parts[0]
            if name in self.variables:
                self.sources.setdefault(pointer, name)
            return self._lookup(name, default, pointer, stack)
        return "".join(part if isinstance(part, str) else str(self._lookup(part[0], part[1], pointer, stack))
                       for part in parts)

    def _lookup(self, name, default, pointer, stack):
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

    def rendered_problems(self, rendered, origin):
        """[(pointer, message)]: the rendered API against its schema, each naming the variable that gave the value."""
        found = []
        for pointer, message in schema_problems(RENDERED_API, rendered):
            name = next((self.sources[p] for p in sorted(self.sources, key=len, reverse=True)
                         if pointer == p or pointer.startswith(p + "/")), None)
            if name:
                message += " (the value of ${%s}, from %s)" % (name, origin.get(name, "?"))
            found.append((pointer, "after substitution: " + message))
        return found


def render_api(root, tenant, api, environment, cache=None):
    """The API's description for one environment: (rendered api.yaml, variables, origin of each variable).

    Raises ResolveError when a file cannot be used, a placeholder is malformed or undefined, the rendered
    description breaks the API schema (a variable of the wrong type), or the OpenAPI document it names
    resolves outside the checkout. ``cache``: see :func:`read_checked` (rendering many APIs in one call)."""
    base = api_relpath(tenant, api)
    document, _lines = read_checked(root, base + "/api.yaml", "API", cache)
    variables, origin = merged_variables(root, tenant, api, environment, cache)
    renderer = Renderer(variables)
    rendered = renderer.render(document)
    where = "%s/%s in %s" % (tenant, api, environment)
    if renderer.malformed:
        raise ResolveError("%s: %s" % (where, "; ".join("%s at %s" % (m, p) for p, m in renderer.malformed)))
    if renderer.unresolved:
        names = sorted(set(name for name, _pointer in renderer.unresolved))
        used = "; ".join("${%s} at %s" % (name, pointer) for name, pointer in renderer.unresolved)
        raise ResolveError("%s: undefined variable%s %s (%s); define them in environments/%s/config.yaml, "
                           "or the API's environments/_defaults.yaml or environments/%s.yaml"
                           % (where, "s" if len(names) > 1 else "", ", ".join(names), used,
                              environment, environment), renderer.unresolved)
    wrong = renderer.rendered_problems(rendered, origin)
    if wrong:
        raise ResolveError("%s: %s" % (where, "; ".join("%s: %s" % (p or "/", m) for p, m in wrong)))
    try:
        checkout_path(root, "%s/%s" % (base, (rendered.get("spec") or {}).get("openapi") or "openapi.yaml"))
    except OutsideCheckoutError as exc:
        raise ResolveError("%s: spec.openapi: %s" % (where, exc))
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


def environment_aliases(root, environment):
    """Every GatewayAlias document of ``aliases/<environment>/``, in file name order (each file read by the
    GitOps loader and checked against the GatewayAlias schema)."""
    documents = []
    directory = os.path.join(root, "aliases", environment)
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if name.endswith((".yaml", ".yml")):
            data, _lines = read_checked(root, "aliases/%s/%s" % (environment, name), "GatewayAlias")
            documents.append(data)
    return documents


def referenced_aliases(root, environment, variables, documents=None):
    """The GatewayAlias documents of ``environment`` that ``*_ALIAS`` variables name.

    ``documents`` is :func:`environment_aliases` already read (rendering many APIs reads the directory once).
    """
    wanted = set(v for k, v in variables.items() if k.endswith("_ALIAS"))
    if documents is None:
        documents = environment_aliases(root, environment)
    found = [d for d in documents if (d.get("metadata") or {}).get("name") in wanted]
    missing = wanted - set(a["metadata"]["name"] for a in found)
    if missing:
        raise ResolveError("no alias named %s in aliases/%s/" % (", ".join(sorted(str(m) for m in missing)), environment))
    return found
