# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Converging many gateway APIs in one module call: the reads they share.

The rules of one object stay where they are (``ApiConverger`` in
gateway_api_converge, ``converge_alias`` in gateway_alias_model); this module
only decides what is read once for all of them (the workers and the results are
object_set's):

- :class:`ApiSnapshot` reads, before any write, what the single-object
  converger would read API by API: the API list once, each named API
  (``GET /apis/{id}``; the list holds summaries only, CONTRACT.md §1.2), then
  their policies and policy actions in batches (``GET /policies?policyIds=``,
  ``GET /policyActions?policyActionIds=``, §6.2) and the policy stages once.
  A POST /search could read more at once, but it is not a GET, and a no-op
  sync must send GETs only;
- :class:`SnapshotClient` is the client one worker hands to the converger: its
  reads are answered from the snapshot until the worker's first write, after
  which every read goes to the gateway again (the converger reads back what it
  wrote).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import threading

from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayError
from ansible_collections.stoa.platform.plugins.module_utils.object_set import DEFAULT_PARALLELISM, run_each

EXPECTED_ERRORS = (GatewayError,)  # a gateway's refusal is a result, not a bug (run_each's expected)
# Reads the snapshot answers; anything else sent through a SnapshotClient counts as a write.
SNAPSHOT_READS = ("list_apis", "apis_named", "get_api", "get_policy", "get_policy_actions", "policy_stages", "list_aliases")


class ApiSnapshot(object):
    """What the gateway holds for a set of APIs, read once and batched (see the module docstring)."""

    def __init__(self, client):
        self.client = client
        self.summaries = client.list_apis()
        self.by_name = {}  # apiName -> its summaries: a lookup per API, not a copy of the whole list
        for summary in self.summaries:
            self.by_name.setdefault(summary.get("apiName"), []).append(summary)
        self.apis = {}  # id -> full API, or the GatewayError its GET raised
        self.policies = {}  # id -> policy
        self.actions = {}  # id -> policy action
        self._stages = None
        self._lock = threading.Lock()

    def load(self, api_ids, parallelism=DEFAULT_PARALLELISM, with_policies=True):
        """Read these APIs (concurrently), then, unless ``with_policies`` is false, their policies and
        policy actions (:meth:`load_policies`)."""
        wanted = [i for i in dict.fromkeys(api_ids) if i not in self.apis]
        for api_id, api in zip(wanted, run_each(wanted, self.client.get_api, parallelism, EXPECTED_ERRORS)):
            self.apis[api_id] = api
        if with_policies:
            self.load_policies(api_ids)

    def load_policies(self, api_ids):
        """Read the policies and policy actions of these (loaded) APIs, in batches.

        A failed batch is not fatal: what it should have read is then read API by API, so that a
        failure stays with the APIs it concerns.
        """
        apis = [self.apis.get(i) for i in api_ids]
        policy_ids = [api["policies"][0] for api in apis
                      if isinstance(api, dict) and api.get("policies") and api["policies"][0] not in self.policies]
        try:
            for policy in self.client.list_policies(policy_ids):
                self.policies[policy["id"]] = policy
        except GatewayError:
            return
        action_ids = [e["enforcementObjectId"] for pid in policy_ids if pid in self.policies
                      for stage in self.policies[pid].get("policyEnforcements") or []
                      for e in stage.get("enforcements") or [] if e.get("enforcementObjectId") not in self.actions]
        try:
            for action in self.client.get_policy_actions(action_ids):
                self.actions[action["id"]] = action
        except GatewayError:
            return

    def policy_stages(self):
        with self._lock:
            if self._stages is None:
                self._stages = self.client.policy_stages()
            return copy.deepcopy(self._stages)


class SnapshotClient(object):
    """The gateway client as one worker sees it: snapshot reads until its first write, then the gateway."""

    def __init__(self, snapshot):
        self._snapshot = snapshot
        self._client = snapshot.client
        self.wrote = False

    def list_apis(self, api_ids=None):
        if self.wrote or api_ids:
            return self._client.list_apis(api_ids)
        return copy.deepcopy(self._snapshot.summaries)

    def apis_named(self, name):
        if self.wrote:
            return self._client.apis_named(name)
        return copy.deepcopy(self._snapshot.by_name.get(name, []))

    def get_api(self, api_id):
        found = None if self.wrote else self._snapshot.apis.get(api_id)
        if found is None:
            return self._client.get_api(api_id)
        if isinstance(found, Exception):
            raise found
        return copy.deepcopy(found)

    def get_policy(self, policy_id):
        if self.wrote or policy_id not in self._snapshot.policies:
            return self._client.get_policy(policy_id)
        return copy.deepcopy(self._snapshot.policies[policy_id])

    def get_policy_actions(self, action_ids):
        known = self._snapshot.actions
        if self.wrote or not all(i in known for i in action_ids):
            return self._client.get_policy_actions(action_ids)
        return [copy.deepcopy(known[i]) for i in action_ids]

    def policy_stages(self):
        return self._snapshot.policy_stages()

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute) or name in SNAPSHOT_READS:
            return attribute

        def write(*args, **kwargs):
            self.wrote = True
            return attribute(*args, **kwargs)

        return write
