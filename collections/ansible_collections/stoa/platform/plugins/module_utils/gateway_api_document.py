# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One API's options as stoa.platform.gateway_api takes them, and its document made ready to send.

Shared by ``gateway_api`` (one API) and ``gateway_api_set`` (the APIs of one
environment), so that both accept the same options and read, convert, fix and
validate a document the same way: :data:`API_OPTIONS` is the argument spec of
one API, :func:`prepare_document` reads its spec (``spec_path``, ``spec_url``
or ``spec_content``), converts OpenAPI 3.1 to 3.0, sets the backend, applies
the webMethods 10.15 fixes and returns the validation to run before the
document is first sent, and :func:`desired_api` builds the converger's input.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.urls import open_url

from ansible_collections.stoa.platform.plugins.module_utils.gateway_api_converge import DesiredApi
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import (
    DocumentError,
    load_document,
    spec_errors,
)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_downgrade import downgrade
from ansible_collections.stoa.platform.plugins.module_utils.openapi_webmethods import apply_webmethods_fixes

POLICY_OPTIONS = dict(
    rate_limit=dict(type="dict", options=dict(
        requests=dict(type="int", required=True),
        period=dict(type="str", choices=["second", "minute", "hour", "day"], default="minute"),
        interval=dict(type="int", default=1),
        alert_message=dict(type="str", default="Rate limit exceeded"),
    )),
    cors=dict(type="dict", options=dict(
        allowed_origins=dict(type="list", elements="str", required=True),
        allowed_methods=dict(type="list", elements="str"),
        allowed_headers=dict(type="list", elements="str"),
        exposed_headers=dict(type="list", elements="str"),
        allow_credentials=dict(type="bool", default=False),
        max_age=dict(type="int"),
    )),
    authentication=dict(type="dict", options=dict(
        methods=dict(type="list", elements="str", required=True,
                     choices=["api_key", "oauth2", "jwt", "openid", "http_basic", "client_certificate",
                              "ip_address", "hostname"]),
        application_lookup=dict(type="str", choices=["strict", "open", "relax"], default="strict"),
        allow_anonymous=dict(type="bool", default=False),
        logical_connector=dict(type="str", choices=["OR", "AND"], default="OR"),
    )),
)

# The options of one API (gateway_api's own, without the connection options).
API_OPTIONS = dict(
    name=dict(type="str", required=True),
    version=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    spec_path=dict(type="path"),
    spec_url=dict(type="str"),
    spec_content=dict(type="raw"),
    backend_url=dict(type="str"),
    description=dict(type="str"),
    maturity_state=dict(type="str"),
    tags=dict(type="list", elements="str"),
    tenant=dict(type="str"),
    owned_only=dict(type="bool", default=False),
    active=dict(type="bool", default=True),
    policies=dict(type="dict", options=POLICY_OPTIONS),
    retain_applications=dict(type="bool", default=True),
    webmethods_fixes=dict(type="bool", default=True),
    validate=dict(type="bool", default=True),
)
API_MUTUALLY_EXCLUSIVE = [("spec_path", "spec_url", "spec_content")]
API_REQUIRED_IF = [("owned_only", True, ("tenant",))]


def read_spec(options, validate_certs=True, timeout=30):
    """(the document as given, where it came from), or (None, None) when no spec option is set.

    Raises :class:`DocumentError` naming the file or URL when it cannot be read or parsed.
    """
    source = "spec_content"
    if options.get("spec_path"):
        source = options["spec_path"]
        try:
            with open(source, "rb") as handle:
                text = to_text(handle.read(), errors="surrogate_or_strict")
        except (IOError, OSError, UnicodeError) as exc:
            raise DocumentError("cannot read spec_path %s: %s" % (source, to_native(exc)))
    elif options.get("spec_url"):
        source = options["spec_url"]
        try:
            response = open_url(source, validate_certs=validate_certs, timeout=timeout)
            text = to_text(response.read(), errors="surrogate_or_strict")
        # Any download failure is reported the same way.
        except Exception as exc:  # pylint: disable=broad-except
            raise DocumentError("cannot download spec_url %s: %s" % (source, to_native(exc)))
    elif options.get("spec_content") is not None:
        content = options["spec_content"]
        if isinstance(content, dict):
            return content, source
        text = to_text(content)
    else:
        return None, None
    document, _format = load_document(text, source)
    return document, source


def set_backend(document, version, backend_url):
    """Point the document at ``backend_url``: OpenAPI ``servers``, or Swagger 2.0 schemes, host and basePath."""
    if version == "2.0":
        scheme, _sep, rest = backend_url.partition("://")
        host, _slash, base_path = rest.partition("/")
        document["schemes"], document["host"] = [scheme], host
        document["basePath"] = "/" + base_path if base_path else "/"
    else:
        document["servers"] = [{"url": backend_url}]


def prepare_document(options, result, warn, validate_certs=True, timeout=30):
    """Read, convert and fix one API's document.

    ``options`` are one API's options (:data:`API_OPTIONS`); ``result`` gets ``conversion_warnings``,
    ``source_version`` and ``gateway_fixes``; ``warn(text)`` is told about lossy conversions.
    Returns (document, document type ``openapi`` or ``swagger``, the validation to run before the
    document is sent), or (None, None, None) without a spec. Raises :class:`DocumentError`.
    """
    document, source = read_spec(options, validate_certs, timeout)
    if document is None:
        return None, None, None
    try:
        document, warnings, version = downgrade(document)
    except DocumentError as exc:
        raise DocumentError("%s is not a usable OpenAPI document: %s" % (source, to_native(exc)))
    result.update(conversion_warnings=warnings, source_version=version)
    lossy = [w for w in warnings if w["lossy"]]
    if lossy:
        warn("%d lossy change(s) converting %s to OpenAPI 3.0, first at %s; see conversion_warnings"
             % (len(lossy), source, lossy[0]["pointer"]))
    target = "2.0" if version == "2.0" else "3.0"
    document = json.loads(json.dumps(document))  # our own copy, plain JSON types
    if options.get("backend_url"):
        set_backend(document, target, options["backend_url"])
    checked = json.loads(json.dumps(document))  # validated as it is before the gateway fixes
    validate = options.get("validate", True)

    def check_document():
        if not validate:
            return
        errors = spec_errors(checked, target)
        if errors:
            raise DocumentError("%s is not a valid %s document, nothing was changed: %s"
                                % (source, "Swagger 2.0" if target == "2.0" else "OpenAPI 3.0", "; ".join(errors)))

    if options.get("webmethods_fixes", True):
        document, fixes = apply_webmethods_fixes(document)
        result["gateway_fixes"] = fixes
    return document, ("swagger" if target == "2.0" else "openapi"), check_document


def desired_api(options, document=None, document_type=None, check_document=None):
    """The converger's :class:`DesiredApi` for one API's options and its prepared document."""
    return DesiredApi(
        options["name"], options["version"], document=document, document_type=document_type,
        description=options.get("description"), maturity_state=options.get("maturity_state"),
        tags=options.get("tags"), tenant=options.get("tenant"), active=options.get("active", True),
        policies=options.get("policies"), retain_applications=options.get("retain_applications", True),
        check_document=check_document)
