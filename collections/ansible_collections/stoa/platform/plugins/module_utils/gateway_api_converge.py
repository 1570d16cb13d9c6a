# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make one API on a webMethods 10.15 gateway match its description.

Reads first (list, API, policy, actions: four GETs), compares a normalised
view, and writes only what differs, in an order that a failure half-way
leaves repairable by the next run:

1. identity is (name, version), found in the list: ``POST /apis`` always mints
   a new id, and an existing name answers 409, so a new version is minted from
   the latest one with ``retainApplications``;
2. the document and metadata (description, maturity, tags) go in by ``PUT``,
   which 10.15 refuses on an active API: the API is deactivated for the
   update and re-activated after it, or on failure (its previous state);
3. policy actions are created first, then the policy is rewritten whole
   (read-modify-write), then removed actions are deleted (never leave a
   policy pointing at a deleted action: 10.15 answers NPEs);
4. activation last.

What the API was imported from is recorded as the API tag
``stoa-spec:<sha256 prefix>``; the owning tenant as ``tenant:<id>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json

from ansible_collections.stoa.platform.plugins.module_utils.gateway_policies import (
    BY_TEMPLATE,
    POLICY_KINDS,
    canonical,
    describe,
    normalise_options,
)

TENANT_TAG = "tenant:"
SPEC_TAG = "stoa-spec:"


class ConvergeError(Exception):
    """The desired state cannot be reached without an operator's decision."""


def spec_fingerprint(document):
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def split_tags(tags):
    """(user tags, tenant, spec fingerprint) from an API's tag list."""
    user, tenant, spec = [], None, None
    for tag in tags or []:
        if tag.startswith(TENANT_TAG):
            tenant = tag[len(TENANT_TAG):]
        elif tag.startswith(SPEC_TAG):
            spec = tag[len(SPEC_TAG):]
        else:
            user.append(tag)
    return sorted(set(user)), tenant, spec


def api_tags(api):
    return list((api.get("apiDefinition") or {}).get("apiTags") or [])


class DesiredApi(object):
    """What the module was asked for. ``None`` means: leave as it is."""

    def __init__(self, name, version, document=None, document_type=None, description=None,
                 maturity_state=None, tags=None, tenant=None, active=True, policies=None,
                 retain_applications=True, check_document=None):
        self.name, self.version = name, version
        self.document, self.document_type = document, document_type
        self.fingerprint = spec_fingerprint(document) if document is not None else None
        self.description, self.maturity_state = description, maturity_state
        self.tags = sorted(set(tags)) if tags is not None else None
        self.tenant, self.active, self.policies = tenant, active, policies
        self.retain_applications = retain_applications
        # Called before the document is first sent (also in check mode). Validating costs more than
        # a rerun's four GETs, so an unchanged document is never validated again.
        self.check_document = check_document or (lambda: None)


def policy_view(actions_by_template):
    view = {}
    for kind in POLICY_KINDS:
        found = actions_by_template.get(kind.template) or []
        if len(found) == 1:
            view[kind.option] = describe(kind, found[0]["parameters"])
        elif found:
            view[kind.option] = [describe(kind, a["parameters"]) for a in found]
    return view


def api_view(api, policies=None):
    """The comparable, operator-facing state of one API."""
    user_tags, tenant, spec = split_tags(api_tags(api))
    view = {
        "api_id": api.get("id"),
        "name": api.get("apiName"),
        "version": api.get("apiVersion"),
        "description": api.get("apiDescription") or "",
        "maturity_state": api.get("maturityState"),
        "active": bool(api.get("isActive")),
        "tags": user_tags,
        "tenant": tenant,
        "spec_sha256": spec,
        "system_version": api.get("systemVersion"),
        "gateway_endpoints": list(api.get("gatewayEndPoints") or []),
    }
    if policies is not None:
        view["policies"] = policies
    return view


def unlisted_apis(apis, tenants):
    """(extra, untagged): of full APIs that Git does not (or no longer) name, those to report.

    ``extra`` are the APIs tagged ``tenant:<t>`` for one of ``tenants``: ours, candidates for pruning;
    ``untagged`` have no tenant tag and are never touched. APIs of other tenants are left out.
    Each entry is ``{name, version, tenant, api_id, active}``.
    """
    extra, untagged = [], []
    for api in apis:
        view = api_view(api)
        entry = dict((k, view[k]) for k in ("name", "version", "tenant", "api_id", "active"))
        if view["tenant"] is None:
            untagged.append(entry)
        elif view["tenant"] in tenants:
            extra.append(entry)
    return extra, untagged


class ApiConverger(object):
    def __init__(self, client, check_mode=False):
        self.client = client
        self.check_mode = check_mode
        self.operations = []  # what was (or, in check mode, would be) done, in order
        self._stages = None

    # -- reading -----------------------------------------------------------------
    def find(self, name, version):
        """(the API with this name and version or None, all versions of the name)."""
        same_name = self.client.apis_named(name)
        matches = [a for a in same_name if a.get("apiVersion") == version]
        if len(matches) > 1:
            raise ConvergeError("%d APIs on the gateway are named %s version %s (ids %s); remove the extra ones"
                                % (len(matches), name, version, ", ".join(a["id"] for a in matches)))
        return (matches[0] if matches else None), same_name

    def read_policy(self, api):
        """(policy, {template: [actions]}) of the API's service-level policy."""
        if not api.get("policies"):
            return None, {}
        policy = self.client.get_policy(api["policies"][0])
        ids = [e["enforcementObjectId"] for stage in policy.get("policyEnforcements") or []
               for e in stage.get("enforcements") or []]
        by_template = {}
        for action in self.client.get_policy_actions(ids):
            by_template.setdefault(action.get("templateKey"), []).append(action)
        return policy, by_template

    # -- planning -------------------------------------------------------------------
    def desired_tags(self, desired, current):
        user, tenant, spec = split_tags(current)
        tags = list(desired.tags if desired.tags is not None else user)
        tenant = desired.tenant if desired.tenant is not None else tenant
        spec = desired.fingerprint or spec
        if tenant:
            tags.append(TENANT_TAG + tenant)
        if spec:
            tags.append(SPEC_TAG + spec)
        return sorted(set(tags))

    def desired_view(self, desired, before):
        after = dict(before or {})
        after.update(name=desired.name, version=desired.version, active=bool(desired.active))
        if desired.description is not None:
            after["description"] = desired.description
        elif not before:
            after["description"] = (desired.document or {}).get("info", {}).get("description", "")
        if desired.maturity_state is not None:
            after["maturity_state"] = desired.maturity_state
        elif not before:
            after["maturity_state"] = "Beta"  # what a new 10.15 API starts with
        if desired.tags is not None:
            after["tags"] = list(desired.tags)
        else:
            after.setdefault("tags", [])
        if desired.tenant is not None:
            after["tenant"] = desired.tenant
        else:
            after.setdefault("tenant", None)
        if desired.fingerprint:
            after["spec_sha256"] = desired.fingerprint
        if desired.policies is not None:
            after["policies"] = dict(
                (kind.option, normalise_options(kind, desired.policies[kind.option]))
                for kind in POLICY_KINDS if desired.policies.get(kind.option) is not None)
        for volatile in ("api_id", "system_version", "gateway_endpoints"):
            after.pop(volatile, None)
        return after

    @staticmethod
    def comparable(view):
        return dict((k, v) for k, v in (view or {}).items() if k not in ("api_id", "system_version", "gateway_endpoints"))

    # -- converging -----------------------------------------------------------------------
    def present(self, desired, owned_only=False):
        summary, same_name = self.find(desired.name, desired.version)
        if summary is None:
            return self._create(desired, same_name, owned_only)
        api = self.client.get_api(summary["id"])
        self._check_owner(desired.tenant, api, owned_only)
        policy, actions = self.read_policy(api)
        before = api_view(api, policy_view(actions))
        after = self.desired_view(desired, before)
        if self.comparable(before) == self.comparable(after):
            return False, before, before
        self._update(desired, api, policy, actions, before)
        if self.check_mode:
            return True, before, dict(after, api_id=api["id"])
        return True, before, self.read_view(api["id"])

    def absent(self, name, version, tenant=None, owned_only=False):
        summary, _same_name = self.find(name, version)
        if summary is None:
            return False, None, None
        api = self.client.get_api(summary["id"])
        self._check_owner(tenant, api, owned_only)
        _policy, actions = self.read_policy(api)
        before = api_view(api, policy_view(actions))
        if api.get("isActive"):
            self._do("deactivate", self.client.deactivate_api, api["id"])
        self._do("delete", self.client.delete_api, api["id"])
        return True, before, None

    def read_view(self, api_id):
        api = self.client.get_api(api_id)
        _policy, actions = self.read_policy(api)
        return api_view(api, policy_view(actions))

    @staticmethod
    def _check_owner(tenant, api, owned_only=False):
        """Refuse an API of another tenant; with ``owned_only``, also one that carries no tenant tag."""
        owner = split_tags(api_tags(api))[1]
        if tenant is not None and owner and owner != tenant:
            raise ConvergeError("API %s %s on the gateway belongs to tenant %s, not %s; refusing to change it"
                                % (api.get("apiName"), api.get("apiVersion"), owner, tenant))
        if owned_only and not owner:
            raise ConvergeError("API %s %s on the gateway (id %s) has no %s tag: it was not deployed by this "
                                "automation, refusing to change it" % (api.get("apiName"), api.get("apiVersion"),
                                                                       api.get("id"), TENANT_TAG + "<tenant>"))

    def _do(self, operation, function, *args):
        """Record an operation; send it unless in check mode (then return None)."""
        self.operations.append(operation)
        if self.check_mode:
            return None
        return function(*args)

    def _needs_put(self, desired, api):
        tags = self.desired_tags(desired, api_tags(api))
        return (tags != sorted(set(api_tags(api)))
                or (desired.description is not None and desired.description != (api.get("apiDescription") or ""))
                or (desired.maturity_state is not None and desired.maturity_state != api.get("maturityState")))

    def _create(self, desired, same_name, owned_only=False):
        if desired.document is None:
            raise ConvergeError("API %s version %s does not exist on the gateway: give its spec to create it"
                                % (desired.name, desired.version))
        after = self.desired_view(desired, None)
        desired.check_document()
        if same_name:
            # A new version of a known API: minted from the latest one so that it keeps its subscriptions.
            latest = self.client.get_api(max(same_name, key=lambda a: a.get("systemVersion") or 0)["id"])
            self._check_owner(desired.tenant, latest, owned_only)
            api = self._do("create_version", self.client.create_api_version, latest["id"], desired.version,
                           desired.retain_applications)
        else:
            api = self._do("create", self.client.import_api, desired.name, desired.version,
                           json.dumps(desired.document), desired.document_type, desired.description)
        if self.check_mode and same_name:
            # The minted version is a copy of the latest one (document, tags, policy and its actions), not yet
            # active: predicted as an update of that copy, which is what the real run does next.
            policy, actions = self.read_policy(latest)
            minted = dict(latest, isActive=False)
            self._update(desired, minted, policy, actions, api_view(minted))
            return True, None, after
        if self.check_mode:
            self.operations.append("update_metadata")
            if desired.policies is not None:
                self.operations.extend(self._policy_plan(desired.policies, {})[0])
            if desired.active:
                self.operations.append("activate")
            return True, None, after
        policy, actions = self.read_policy(api)
        before = api_view(api)
        if not same_name:
            before["spec_sha256"] = desired.fingerprint  # the import just sent this very document
        self._update(desired, api, policy, actions, before)
        return True, None, self.read_view(api["id"])

    def _update(self, desired, api, policy, actions, before):
        api_id = api["id"]
        spec_changed = desired.fingerprint is not None and desired.fingerprint != before.get("spec_sha256")
        needs_put = spec_changed or self._needs_put(desired, api)
        was_active = bool(api.get("isActive"))
        # Everything that can refuse the input runs before the first write (the deactivation below opens an
        # outage window): the document is validated, the policy plan made and its stages read.
        if spec_changed:
            desired.check_document()
        if desired.policies is not None:
            self._check_policy_plan(desired.policies, policy, actions)
        deactivated = False
        try:
            if needs_put and was_active:
                # 10.15 refuses PUT /apis/{id} on an active API: this opens the outage window.
                self._do("deactivate", self.client.deactivate_api, api_id)
                deactivated = True
            if spec_changed:
                api = self._do("update_spec", self.client.update_api_document, api_id, desired.name,
                               desired.version, json.dumps(desired.document), desired.document_type,
                               desired.description) or api
            if needs_put:
                api = self._do("update_metadata", self.client.update_api, api_id, self._metadata(desired, api)) or api
            if desired.policies is not None:
                self._converge_policies(desired.policies, policy, actions)
        except Exception:
            if deactivated and not self.check_mode:
                try:
                    self.client.activate_api(api_id)  # restore the previous state, then report
                    self.operations.append("reactivate_after_failure")
                # The first error is the one to report.
                except Exception:  # pylint: disable=broad-except
                    pass
            raise
        active_now = was_active and not deactivated
        if desired.active and not active_now:
            self._do("activate", self.client.activate_api, api_id)
        elif not desired.active and active_now:
            self._do("deactivate", self.client.deactivate_api, api_id)

    def _metadata(self, desired, api):
        """The whole read-back API with the managed fields changed, as PUT /apis/{id} wants it."""
        body = copy.deepcopy(api)
        for readonly in ("gatewayEndPoints", "versions", "teams"):
            body.pop(readonly, None)
        body.setdefault("apiDefinition", {})["apiTags"] = self.desired_tags(desired, api_tags(api))
        if desired.description is not None:
            body["apiDescription"] = desired.description
        if desired.maturity_state is not None:
            body["maturityState"] = desired.maturity_state
        return body

    # -- policies ----------------------------------------------------------------------------
    def _policy_plan(self, wanted, actions):
        """(operation names, creates [(kind, parameters)], updates [(action, parameters)], removals [action])."""
        operations, creates, updates, removals = [], [], [], []
        for kind in POLICY_KINDS:
            existing = list(actions.get(kind.template) or [])
            options = wanted.get(kind.option)
            if options is None:
                removals.extend(existing)
                operations.extend(["remove_%s" % kind.option] * len(existing))
                continue
            parameters = kind.encode(options)
            same = [a for a in existing if canonical(a.get("parameters")) == canonical(parameters)]
            if same:
                keep = same[0]
            elif existing:
                keep = existing[0]
                updates.append((keep, parameters))
                operations.append("update_%s" % kind.option)
            else:
                keep = None
                creates.append((kind, parameters))
                operations.append("add_%s" % kind.option)
            extra = [a for a in existing if a is not keep]
            removals.extend(extra)
            operations.extend(["remove_%s" % kind.option] * len(extra))
        return operations, creates, updates, removals

    def _check_policy_plan(self, wanted, policy, actions):
        """Refuse, before any write, a policy change that cannot be made.

        Raises :class:`ConvergeError` when actions would change but the API has no policy, or when the
        gateway has no stage for an action to add (read once with ``GET /policyStages``, cached).
        """
        operations, creates, _updates, _removals = self._policy_plan(wanted, actions)
        if operations and policy is None:
            raise ConvergeError("the API has no policy to attach actions to; nothing was changed")
        for kind, _parameters in creates:
            self._stage_of(kind.template)

    def _stage_of(self, template):
        if self._stages is None:
            self._stages = self.client.policy_stages()
        for stage in self._stages:
            if template in (stage.get("policyActionTemplates") or []):
                return stage["stageKey"]
        raise ConvergeError("the gateway has no policy stage for the %s template" % template)

    def _converge_policies(self, wanted, policy, actions):
        operations, creates, updates, removals = self._policy_plan(wanted, actions)
        if not operations:
            return
        if policy is None:
            raise ConvergeError("the API has no policy to attach actions to")
        self.operations.extend(operations)
        if self.check_mode:
            return
        created = []
        try:
            for kind, parameters in creates:
                stage_key = self._stage_of(kind.template)
                action = self.client.create_policy_action({
                    "names": [{"value": kind.display_name, "locale": "en"}], "descriptions": [],
                    "templateKey": kind.template, "parameters": parameters, "active": False})
                created.append((stage_key, action))
            if created or removals:
                self.client.update_policy(policy["id"], self._rewired(policy, created, removals))
        except Exception:
            for _stage, action in created:  # do not leave orphans behind
                try:
                    self.client.delete_policy_action(action["id"])
                except Exception:  # pylint: disable=broad-except
                    pass
            raise
        for action, parameters in updates:
            self.client.update_policy_action(action["id"], dict(action, parameters=parameters))
        for action in removals:
            self.client.delete_policy_action(action["id"])

    @staticmethod
    def _rewired(policy, created, removals):
        policy = copy.deepcopy(policy)
        gone = set(a["id"] for a in removals)
        stages = policy.setdefault("policyEnforcements", [])
        for stage in stages:
            stage["enforcements"] = [e for e in stage.get("enforcements") or [] if e.get("enforcementObjectId") not in gone]
        for stage_key, action in created:
            stage = next((s for s in stages if s.get("stageKey") == stage_key), None)
            if stage is None:
                stage = {"stageKey": stage_key, "enforcements": []}
                stages.append(stage)
            stage["enforcements"].append({"enforcementObjectId": action["id"], "order": str(len(stage["enforcements"]))})
        policy["policyEnforcements"] = [s for s in stages if s.get("enforcements")]
        return policy


__all__ = ["ApiConverger", "ConvergeError", "DesiredApi", "api_view", "spec_fingerprint", "unlisted_apis", "BY_TEMPLATE"]
