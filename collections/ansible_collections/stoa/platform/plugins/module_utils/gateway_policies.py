# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The API policies that api.yaml sets, as webMethods policy actions and back.

Each kind of policy (``rate_limit``, ``cors``, ``authentication``) maps to one
policy-action template. ``encode`` builds the action's parameters from module
options; ``decode`` reads options back from an action (None when the action
holds parameters this collection does not write, e.g. edited in the UI).
Actions are compared by template and canonical parameters, never by name: a
live 10.15 rewrites action names (LIVE-NOTES.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

PERIOD_UNITS = {"second": "seconds", "minute": "minutes", "hour": "hours", "day": "days"}
IDENTIFICATION_TYPES = {
    "api_key": "apiKey",
    "oauth2": "oAuth2Token",
    "jwt": "jwtClaims",
    "openid": "openIdClaims",
    "http_basic": "httpBasicAuth",
    "client_certificate": "httpsCertificate",
    "ip_address": "ipAddressRange",
    "hostname": "hostNameAddress",
}
CORS_FIELDS = (  # option, templateKey
    ("allowed_origins", "allowedOrigins"),
    ("allowed_headers", "allowHeaders"),
    ("exposed_headers", "exposeHeaders"),
    ("allowed_methods", "allowMethods"),
)


def value(key, *values):
    return {"templateKey": key, "values": [str(v) for v in values]}


def group(key, *parameters):
    return {"templateKey": key, "parameters": list(parameters)}


def canonical(parameters):
    """An order-insensitive, hashable form of a parameter list."""
    items = []
    for parameter in parameters or []:
        if "parameters" in parameter:
            items.append((parameter.get("templateKey"), "group", canonical(parameter["parameters"])))
        else:
            items.append((parameter.get("templateKey"), "values", tuple(sorted(str(v) for v in parameter.get("values") or []))))
    return tuple(sorted(items, key=json.dumps))


def _as_dict(parameters):
    """templateKey -> values or nested dict; None when a key repeats (not ours to read)."""
    result = {}
    for parameter in parameters or []:
        key = parameter.get("templateKey")
        if key in result and key != "IdentificationRule":
            return None
        if "parameters" in parameter:
            nested = _as_dict(parameter["parameters"])
            if nested is None:
                return None
            if key == "IdentificationRule":
                result.setdefault(key, []).append(nested)
            else:
                result[key] = nested
        else:
            result[key] = list(parameter.get("values") or [])
    return result


# -- rate limit: the "Traffic Optimization" action (throttle, stage LMT) ---------------
def encode_rate_limit(options):
    return [
        group("throttleRule", value("throttleRuleName", "requestCount"), value("monitorRuleOperator", "GT"),
              value("value", options["requests"])),
        value("alertInterval", options.get("interval") or 1),
        value("alertIntervalUnit", PERIOD_UNITS[options.get("period") or "minute"]),
        value("alertFrequency", "once"),
        value("alertMessage", options.get("alert_message") or "Rate limit exceeded"),
        group("destination", value("destinationType", "GATEWAY")),
    ]


def decode_rate_limit(parameters):
    found = _as_dict(parameters)
    try:
        units = dict((v, k) for k, v in PERIOD_UNITS.items())
        options = {
            "requests": int(found["throttleRule"]["value"][0]),
            "interval": int(found["alertInterval"][0]),
            "period": units[found["alertIntervalUnit"][0]],
            "alert_message": found["alertMessage"][0],
        }
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return options if canonical(encode_rate_limit(options)) == canonical(parameters) else None


# -- CORS (cors) ---------------------------------------------------------------------
def encode_cors(options):
    attributes = [value(key, *options[name]) for name, key in CORS_FIELDS if options.get(name)]
    attributes.append(value("allowCredentials", "true" if options.get("allow_credentials") else "false"))
    if options.get("max_age") is not None:
        attributes.append(value("maxAge", options["max_age"]))
    return [group("corsAttributes", *attributes)]


def decode_cors(parameters):
    found = _as_dict(parameters)
    try:
        attributes = found["corsAttributes"]
        options = dict((name, sorted(attributes[key])) for name, key in CORS_FIELDS if key in attributes)
        options["allow_credentials"] = attributes.get("allowCredentials", ["false"])[0] == "true"
        options["max_age"] = int(attributes["maxAge"][0]) if "maxAge" in attributes else None
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return options if canonical(encode_cors(options)) == canonical(parameters) else None


# -- Identify & Authorize (evaluatePolicy, stage IAM) ---------------------------------
def encode_authentication(options):
    parameters = [
        value("logicalConnector", options.get("logical_connector") or "OR"),
        value("allowAnonymous", "true" if options.get("allow_anonymous") else "false"),
    ]
    for method in options["methods"]:
        parameters.append(group("IdentificationRule",
                                value("applicationLookup", options.get("application_lookup") or "strict"),
                                value("identificationType", IDENTIFICATION_TYPES[method])))
    return parameters


def decode_authentication(parameters):
    found = _as_dict(parameters)
    types = dict((v, k) for k, v in IDENTIFICATION_TYPES.items())
    try:
        rules = found["IdentificationRule"]
        lookups = set(rule["applicationLookup"][0] for rule in rules)
        options = {
            "methods": sorted(types[rule["identificationType"][0]] for rule in rules),
            "application_lookup": lookups.pop() if len(lookups) == 1 else None,
            "allow_anonymous": found["allowAnonymous"][0] == "true",
            "logical_connector": found["logicalConnector"][0],
        }
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
    if options["application_lookup"] is None:
        return None
    return options if canonical(encode_authentication(options)) == canonical(parameters) else None


class PolicyKind(object):
    def __init__(self, option, template, display_name, encode, decode):
        self.option, self.template, self.display_name = option, template, display_name
        self.encode, self.decode = encode, decode


POLICY_KINDS = (
    PolicyKind("authentication", "evaluatePolicy", "Identify & Authorize Application", encode_authentication, decode_authentication),
    PolicyKind("rate_limit", "throttle", "Traffic Optimization", encode_rate_limit, decode_rate_limit),
    PolicyKind("cors", "cors", "CORS", encode_cors, decode_cors),
)
BY_TEMPLATE = dict((kind.template, kind) for kind in POLICY_KINDS)


def describe(kind, parameters):
    """The options an action stands for, or its raw parameters when it is not in our shape."""
    decoded = kind.decode(parameters)
    return decoded if decoded is not None else {"unmanaged_parameters": parameters}


def normalise_options(kind, options):
    """Options as :func:`describe` would read them back, to compare and to show in diffs."""
    return kind.decode(kind.encode(options))
