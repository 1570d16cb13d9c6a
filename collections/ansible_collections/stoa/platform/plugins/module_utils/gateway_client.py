# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A thin client for the webMethods API Gateway 10.15 admin REST API.

Why hand-written: there is no maintained Python client for this API, and
modules should not need more than ansible-core on the managed node, so this
sits on ``ansible.module_utils.urls`` (proxies, TLS and ``validate_certs``
as every Ansible module handles them).

What it takes care of, in one place:
- retries: connection failures and 502/503/504, with exponential backoff; a
  request that may have reached the gateway is only retried when repeating it
  is harmless (GET, PUT, DELETE; a POST only when the connection was refused);
- envelopes: each resource wraps its bodies differently (CONTRACT.md §0 and
  LIVE-NOTES.md); the methods below return plain objects and lists;
- errors: :class:`GatewayError` says method, path, status and the gateway's
  own message (``errorDetails`` or the APIs service's ``errorReason``);
- a record of every call (method, path template, status) for results and
  benchmarks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import json
import socket
import time

from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode
from ansible.module_utils.urls import Request, make_context, prepare_multipart

BASE_PATH = "/rest/apigateway"
RETRY_STATUSES = (502, 503, 504)
# Ids per batched read (``?policyIds=a,b`` / ``?policyActionIds=a,b``): 100 UUIDs keep the URL under 4 KB,
# well within the 8 KB request line Jetty and most proxies accept.
IDS_PER_REQUEST = 100

# Every (method, path template) this client calls; the contract test checks
# the simulator's answer to each against the official swagger files.
ENDPOINTS = (
    ("GET", "/apis"),
    ("POST", "/apis"),
    ("GET", "/apis/{id}"),
    ("PUT", "/apis/{id}"),
    ("DELETE", "/apis/{id}"),
    ("PUT", "/apis/{id}/activate"),
    ("PUT", "/apis/{id}/deactivate"),
    ("GET", "/apis/{id}/versions"),
    ("POST", "/apis/{id}/versions"),
    ("GET", "/apis/{id}/applications"),
    ("GET", "/policyStages"),
    ("GET", "/policies"),
    ("GET", "/policies/{id}"),
    ("PUT", "/policies/{id}"),
    ("GET", "/policyActions"),
    ("POST", "/policyActions"),
    ("PUT", "/policyActions/{id}"),
    ("DELETE", "/policyActions/{id}"),
    ("GET", "/alias"),
    ("GET", "/alias/{id}"),
    ("POST", "/alias"),
    ("PUT", "/alias/{id}"),
    ("DELETE", "/alias/{id}"),
    ("GET", "/applications"),
    ("GET", "/applications/{id}"),
    ("POST", "/applications"),
    ("PUT", "/applications/{id}"),
    ("DELETE", "/applications/{id}"),
    ("GET", "/applications/{id}/apis"),
    ("PUT", "/applications/{id}/apis"),
    ("GET", "/strategies"),
    ("GET", "/strategies/{id}"),
    ("POST", "/strategies"),
    ("PUT", "/strategies/{id}"),
    ("DELETE", "/strategies"),
    ("GET", "/scopes"),
    ("GET", "/scopes/{id}"),
    ("POST", "/scopes"),
    ("PUT", "/scopes/{id}"),
    ("DELETE", "/scopes/{id}"),
)


class GatewayError(Exception):
    """A request the gateway refused or could not answer."""

    def __init__(self, method, path, status, details, body=None):
        self.method, self.path, self.status, self.details, self.body = method, path, status, details, body
        if status is None:
            message = "%s %s failed: %s" % (method, path, details)
        else:
            message = "%s %s answered HTTP %s: %s" % (method, path, status, details or "(no error message)")
        if status == 401 and path.startswith("/apis/"):
            message += " (10.15 also answers 401 for an API id that does not exist)"
        super(GatewayError, self).__init__(message)


def error_message(body):
    """The gateway's message from either of its error shapes, or None."""
    if isinstance(body, dict):
        if isinstance(body.get("errorDetails"), str):
            reasons = body.get("reason")
            text = body["errorDetails"].strip()
            return text + (" " + json.dumps(reasons) if reasons else "")
        envelope = body.get("apiResponse")
        if isinstance(envelope, list) and envelope:
            envelope = envelope[0]
        if isinstance(envelope, dict) and envelope.get("errorReason"):
            return to_text(envelope["errorReason"]).strip()
    return None


def _unwrap(body, key):
    """``{key: value}`` -> value; a body that is already bare is returned as is."""
    if isinstance(body, dict) and key in body:
        return body[key]
    return body


def _batches(ids):
    """``ids`` without duplicates, in lists of at most :data:`IDS_PER_REQUEST`."""
    unique = list(dict.fromkeys(ids or []))
    return [unique[i:i + IDS_PER_REQUEST] for i in range(0, len(unique), IDS_PER_REQUEST)]


def _first(value):
    """Some single GETs answer a one-element list (applications)."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


class GatewayClient(object):
    def __init__(self, url, username=None, password=None, token=None, validate_certs=True,
                 timeout=30, retries=3, backoff=0.5):
        self.base_url = url.rstrip("/")
        if not self.base_url.endswith(BASE_PATH):
            self.base_url += BASE_PATH
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = "Bearer %s" % token
        elif username is not None:
            credentials = base64.b64encode(to_bytes("%s:%s" % (username, password or "")))
            headers["Authorization"] = "Basic %s" % to_text(credentials)
        # One TLS context for the whole run: building it loads the CA store (~25 ms), and
        # urls.Request would otherwise do that for every request, plain HTTP included.
        context = make_context(validate_certs=validate_certs)
        self._request = Request(headers=headers, validate_certs=validate_certs, timeout=timeout,
                                follow_redirects="safe", context=context)
        self.retries, self.backoff = retries, backoff
        self.calls = []  # [(method, template, status)]

    # -- transport ---------------------------------------------------------
    def call(self, method, template, ids=None, query=None, body=None, multipart=None, expect=(200, 201, 204)):
        """Send one request; ``template`` is a path like ``/apis/{id}``. Returns the decoded body."""
        path = template.format(**dict((k, quote(v, safe="")) for k, v in (ids or {}).items()))
        url = self.base_url + path + ("?" + urlencode(query) if query else "")
        headers, data = {}, None
        if multipart is not None:
            content_type, data = prepare_multipart(multipart)
            headers["Content-Type"] = content_type
        elif body is not None:
            data = to_bytes(json.dumps(body))
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            attempt += 1
            status, raw, failure = self._send(method, url, data, headers)
            retry = self._may_retry(method, status, failure) and attempt <= self.retries
            if not retry:
                break
            time.sleep(self.backoff * (2 ** (attempt - 1)))
        self.calls.append((method, template, status))
        if failure is not None:
            raise GatewayError(method, path, None, "%s (after %d attempts)" % (failure, attempt))
        decoded = self._decode(raw)
        if status not in expect:
            raise GatewayError(method, path, status, error_message(decoded) or to_text(raw)[:300], decoded)
        return decoded

    def _send(self, method, url, data, headers):
        try:
            response = self._request.open(method, url, data=data, headers=headers)
            return response.getcode(), response.read(), None
        except HTTPError as exc:
            try:
                raw = exc.read()
            # The body is only for the message.
            except Exception:  # pylint: disable=broad-except
                raw = b""
            return exc.code, raw, None
        except (URLError, socket.error, socket.timeout) as exc:
            return None, b"", exc

    @staticmethod
    def _may_retry(method, status, failure):
        if failure is not None:
            reason = getattr(failure, "reason", failure)
            refused = getattr(reason, "errno", None) == errno.ECONNREFUSED
            return method != "POST" or refused
        return status in RETRY_STATUSES and (method != "POST" or status == 503)

    @staticmethod
    def _decode(raw):
        if not raw:
            return None
        try:
            return json.loads(to_text(raw))
        except ValueError:
            return to_text(raw)

    # -- APIs ----------------------------------------------------------------
    def list_apis(self, api_ids=None):
        """Summaries ``{id, apiName, apiVersion, isActive, systemVersion, ...}``.

        An empty gateway answers ``[{"responseStatus": "NOT_FOUND"}]`` rather
        than ``[]``; unknown ids in ``api_ids`` come back as NOT_FOUND entries.
        """
        query = {"apiIds": ",".join(api_ids)} if api_ids else None
        entries = _unwrap(self.call("GET", "/apis", query=query), "apiResponse") or []
        return [e["api"] for e in entries
                if isinstance(e, dict) and e.get("responseStatus", "SUCCESS") == "SUCCESS" and isinstance(e.get("api"), dict)]

    def apis_named(self, name):
        """The summaries of every version of the API called ``name`` (``GET /apis``: the gateway has no
        filter by name, CONTRACT.md §1.2)."""
        return [a for a in self.list_apis() if a.get("apiName") == name]

    def get_api(self, api_id):
        """The full API plus envelope facts: ``gatewayEndPoints``, ``versions``, ``teams``."""
        envelope = _unwrap(self.call("GET", "/apis/{id}", ids={"id": api_id}), "apiResponse")
        return self._api_from_envelope(envelope)

    @staticmethod
    def _api_from_envelope(envelope):
        api = dict(envelope.get("api") or {})
        api["gatewayEndPoints"] = envelope.get("gatewayEndPoints") or []
        api["versions"] = envelope.get("versions") or []
        api["teams"] = envelope.get("teams") or api.get("teams") or []
        return api

    def export_api(self, api_id, document_format="openapi"):
        document = self.call("GET", "/apis/{id}", ids={"id": api_id}, query={"format": document_format})
        return json.loads(document) if isinstance(document, str) else document

    def import_api(self, name, version, document, document_type, description=None):
        fields = {
            "file": {"filename": "%s.json" % name, "content": to_text(document), "mime_type": "application/json"},
            "apiName": name, "apiVersion": version, "type": document_type,
        }
        if description:
            fields["apiDescription"] = description
        envelope = _unwrap(self.call("POST", "/apis", multipart=fields), "apiResponse")
        return self._api_from_envelope(envelope)

    def update_api_document(self, api_id, name, version, document, document_type, description=None):
        """Re-import the document in place (same id). 10.15 refuses this while the API is active."""
        fields = {
            "file": {"filename": "%s.json" % name, "content": to_text(document), "mime_type": "application/json"},
            "apiName": name, "apiVersion": version, "type": document_type,
        }
        if description:
            fields["apiDescription"] = description
        envelope = _unwrap(self.call("PUT", "/apis/{id}", ids={"id": api_id}, multipart=fields,
                                     query={"overwriteTags": "false"}), "apiResponse")
        return self._api_from_envelope(envelope)

    def update_api(self, api_id, api):
        """PUT the whole (read-back, modified) GatewayAPI object."""
        body = dict((k, v) for k, v in api.items() if k not in ("gatewayEndPoints", "versions"))
        envelope = _unwrap(self.call("PUT", "/apis/{id}", ids={"id": api_id}, body=body), "apiResponse")
        return self._api_from_envelope(envelope)

    def activate_api(self, api_id):
        return self.call("PUT", "/apis/{id}/activate", ids={"id": api_id}, body={})

    def deactivate_api(self, api_id):
        return self.call("PUT", "/apis/{id}/deactivate", ids={"id": api_id}, body={})

    def delete_api(self, api_id):
        return self.call("DELETE", "/apis/{id}", ids={"id": api_id}, query={"forceDelete": "true"})

    def api_versions(self, api_id):
        envelope = _unwrap(self.call("GET", "/apis/{id}/versions", ids={"id": api_id}), "apiResponse")
        if isinstance(envelope, list):  # one entry per version in some builds
            return [v for e in envelope for v in (e.get("versions") or [])]
        return envelope.get("versions") or []

    def create_api_version(self, api_id, new_version, retain_applications=True):
        # retainApplications is case-exact and must be a JSON boolean, or the subscriptions are lost.
        body = {"newApiVersion": new_version, "retainApplications": bool(retain_applications)}
        envelope = _unwrap(self.call("POST", "/apis/{id}/versions", ids={"id": api_id}, body=body), "apiResponse")
        return self._api_from_envelope(envelope)

    def api_applications(self, api_id):
        return _unwrap(self.call("GET", "/apis/{id}/applications", ids={"id": api_id}), "applications") or []

    # -- policies --------------------------------------------------------------
    def policy_stages(self):
        return _unwrap(self.call("GET", "/policyStages"), "stages") or []

    def get_policy(self, policy_id):
        return _unwrap(self.call("GET", "/policies/{id}", ids={"id": policy_id}), "policy")

    def update_policy(self, policy_id, policy):
        # Enveloped, and the whole object: the PUT replaces every stage.
        return _unwrap(self.call("PUT", "/policies/{id}", ids={"id": policy_id}, body={"policy": policy}), "policy")

    def list_policies(self, policy_ids):
        """The policies with these ids, in batches of :data:`IDS_PER_REQUEST` (``GET /policies?policyIds=``)."""
        found = []
        for batch in _batches(policy_ids):
            found.extend(_unwrap(self.call("GET", "/policies", query={"policyIds": ",".join(batch)}), "policy") or [])
        return found

    def get_policy_actions(self, action_ids):
        """The policy actions with these ids, in batches of :data:`IDS_PER_REQUEST`."""
        found = []
        for batch in _batches(action_ids):
            body = self.call("GET", "/policyActions", query={"policyActionIds": ",".join(batch)})
            found.extend(_unwrap(body, "policyAction") or [])
        return found

    def create_policy_action(self, action):
        return _unwrap(self.call("POST", "/policyActions", body={"policyAction": action}), "policyAction")

    def update_policy_action(self, action_id, action):
        # A naked body answers 200 and changes nothing: always send the envelope.
        body = {"policyAction": action}
        return _unwrap(self.call("PUT", "/policyActions/{id}", ids={"id": action_id}, body=body), "policyAction")

    def delete_policy_action(self, action_id):
        return self.call("DELETE", "/policyActions/{id}", ids={"id": action_id})

    # -- aliases ------------------------------------------------------------------
    def list_aliases(self):
        return _unwrap(self.call("GET", "/alias"), "alias") or []

    def get_alias(self, alias_id):
        return _unwrap(self.call("GET", "/alias/{id}", ids={"id": alias_id}), "alias")

    def create_alias(self, alias):
        return _unwrap(self.call("POST", "/alias", body=alias), "alias")

    def update_alias(self, alias_id, alias):
        return _unwrap(self.call("PUT", "/alias/{id}", ids={"id": alias_id}, body=alias), "alias")

    def delete_alias(self, alias_id):
        return self.call("DELETE", "/alias/{id}", ids={"id": alias_id})

    # -- applications ---------------------------------------------------------------
    def list_applications(self):
        return _unwrap(self.call("GET", "/applications"), "applications") or []

    def get_application(self, app_id):
        return _first(_unwrap(self.call("GET", "/applications/{id}", ids={"id": app_id}), "applications"))

    def create_application(self, application):
        return _first(_unwrap(self.call("POST", "/applications", body=application), "applications"))

    def update_application(self, app_id, application):
        body = self.call("PUT", "/applications/{id}", ids={"id": app_id}, body=application)
        return _first(_unwrap(body, "applications"))

    def delete_application(self, app_id):
        return self.call("DELETE", "/applications/{id}", ids={"id": app_id})

    def application_apis(self, app_id):
        return _unwrap(self.call("GET", "/applications/{id}/apis", ids={"id": app_id}), "apiIDs") or []

    def set_application_apis(self, app_id, api_ids):
        # The complete set, enveloped: a bare array is a 500 on 10.15.
        return self.call("PUT", "/applications/{id}/apis", ids={"id": app_id}, body={"apiIDs": list(api_ids)})

    # -- strategies and scope mappings -------------------------------------------------
    def list_strategies(self):
        # A bare array on a live 10.15; {"strategies": [...]} per the swagger.
        return _unwrap(self.call("GET", "/strategies"), "strategies") or []

    def get_strategy(self, strategy_id):
        return _unwrap(self.call("GET", "/strategies/{id}", ids={"id": strategy_id}), "strategy")

    def create_strategy(self, strategy):
        return _unwrap(self.call("POST", "/strategies", body=strategy), "strategy")

    def update_strategy(self, strategy_id, strategy):
        return _unwrap(self.call("PUT", "/strategies/{id}", ids={"id": strategy_id}, body=strategy), "strategy")

    def delete_strategy(self, strategy_id):
        return self.call("DELETE", "/strategies", query={"ids": strategy_id})

    def list_scopes(self):
        return _unwrap(self.call("GET", "/scopes"), "scopes") or []

    def get_scope(self, scope_id):
        return _unwrap(self.call("GET", "/scopes/{id}", ids={"id": scope_id}), "scope")

    def create_scope(self, scope):
        return _unwrap(self.call("POST", "/scopes", body=scope), "scope")

    def update_scope(self, scope_id, scope):
        return _unwrap(self.call("PUT", "/scopes/{id}", ids={"id": scope_id}, body=scope), "scope")

    def delete_scope(self, scope_id):
        return self.call("DELETE", "/scopes/{id}", ids={"id": scope_id})

    # -- bookkeeping ------------------------------------------------------------------
    def request_counts(self):
        counts = {}
        for method, _template, _status in self.calls:
            counts[method] = counts.get(method, 0) + 1
        return counts
