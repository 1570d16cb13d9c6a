#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: gitops_request
short_description: Create and move production promotion requests kept in the GitOps repository
version_added: 0.1.0
description:
  - Manages PromotionRequest files, C(requests/prod/YYYY/MM/PR-YYYY-NNNN.yaml), in a clone of the GitOps repository.
    Each action is one commit, authored by the actor, pushed to the remote; the request's history is the file's
    Git history, and C(status.history) records action, time, actor and comment.
  - "States: pending, approved, deploying, then deployed or failed; pending can also become rejected. Any other
    transition fails with the allowed ones."
  - What is approved is fixed at approval. V(approve) records C(spec.target.commit), the newest commit of O(branch)
    whose C(tenants/<tenant>/apis/<name>/api.yaml) has the requested version, and refuses when there is none; when the
    branch already has another version the approval's history entry says so. A promotion deploys the repository as it
    was at that commit (role stoa.platform.promotion_gate), never a version pushed after the approval.
  - V(check_failed) keeps an approved request approved and records why the deployment could not start (the target
    gateway or its secrets could not be reached before anything was written).
  - V(retry) sends a failed request again, back to approved with the same approved commit, without a new request.
    It has the rights of V(approve), the tenant's CPI members and the cpi-admins, never the request's creator.
  - Rights come from the repository's own C(iam/) files at the same commit. A tenant's DevOps and CPI members (and the
    global cpi-admins) create requests for it; its CPI members and the cpi-admins approve and reject, never their own
    request, and a rejection needs a reason; deployment steps are for those and for service accounts with the
    C(requests:deploy) permission.
  - Concurrency. Each attempt starts from the remote branch, checks rights and state there, commits and pushes; a
    push refused as non-fast-forward is replayed on the new tip (with a fresh id for a new request) and pushed again,
    so concurrent creators get distinct ids and no change is lost.
author:
  - STOA platform team (@stoa-platform)
requirements:
  - git
  - PyYAML
  - ruamel.yaml
  - jsonschema
options:
  path:
    description: The clone, dedicated to automation (uncommitted changes are refused).
    type: path
    required: true
  action:
    description: What to do.
    type: str
    required: true
    choices: [create, approve, reject, start, deployed, failed, check_failed, retry]
  actor:
    description: E-mail of the person or service account acting, as in the C(iam/) files. Recorded as commit author.
    type: str
    required: true
  request_id:
    description: The request, C(PR-YYYY-NNNN). Required for every action but V(create).
    type: str
  tenant:
    description: Tenant of a new request.
    type: str
  target:
    description: What a new request promotes.
    type: dict
    suboptions:
      name:
        description: API name.
        type: str
        required: true
      version:
        description: API version.
        type: str
        required: true
      source_environment:
        description: Environment it is promoted from.
        type: str
        choices: [dev, staging]
        default: staging
  justification:
    description: Why (required to create).
    type: str
  impact:
    description: Impact assessment of a new request.
    type: str
    choices: [low, medium, high]
    default: low
  rollback_plan:
    description: Rollback plan of a new request.
    type: str
  pre_checks:
    description: Pre-checks of a new request (for example stagingTestsPassed, testEvidenceUrl).
    type: dict
  comment:
    description: Comment recorded in the history; the reason of a rejection (required to reject) and the cause of
      V(check_failed) and V(failed).
    type: str
  version:
    description: Version deployed, recorded in the history entry of V(start), V(deployed) or V(failed).
    type: str
  commit:
    description: Full id of the commit deployed, recorded in the history entry of V(start), V(deployed) or V(failed).
    type: str
  remote:
    description: Remote to push to.
    type: str
    default: origin
  branch:
    description: Branch that holds the requests.
    type: str
    default: main
  push:
    description: Push to O(remote). Without it the commit stays local (for a repository without a remote).
    type: bool
    default: true
notes:
  - Check mode fetches, checks rights and the transition and reports the change, without committing.
  - Diff mode shows the request file before and after.
  - Support for check_mode is full, for diff_mode full.
seealso:
  - module: stoa.platform.gitops_validate
"""

EXAMPLES = r"""
- name: A DevOps member asks to promote petstore-api 1.0.0 to production
  stoa.platform.gitops_request:
    path: "{{ gitops_checkout }}"
    action: create
    actor: demo-devops@cab-i.com
    tenant: tenant-demo
    target: {name: petstore-api, version: "1.0.0"}
    justification: New pet search
  register: promotion

- name: The tenant's CPI approves it
  stoa.platform.gitops_request:
    path: "{{ gitops_checkout }}"
    action: approve
    actor: demo-cpi@cab-i.com
    request_id: "{{ promotion.request_id }}"

- name: After a failed deployment, the CPI sends the same request again (back to approved)
  stoa.platform.gitops_request:
    path: "{{ gitops_checkout }}"
    action: retry
    actor: demo-cpi@cab-i.com
    request_id: PR-2026-0001
    comment: prod gateway password fixed
"""

RETURN = r"""
request_id:
  description: The request's id.
  returned: success
  type: str
  sample: PR-2026-0001
path:
  description: The request file, relative to the checkout.
  returned: success
  type: str
state:
  description: The request's state after the action.
  returned: success
  type: str
request:
  description: The request after the action.
  returned: success
  type: dict
commit:
  description: The commit that recorded the action (not in check mode).
  returned: when changed and not in check mode
  type: str
attempts:
  description: How many times the change was (re)played before the push was accepted.
  returned: success
  type: int
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.stoa.platform.plugins.module_utils.gitops_requests import (
    HAS_YAML,
    HAS_RUAMEL,
    Git,
    GitError,
    RequestError,
    perform,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            action=dict(type="str", required=True, choices=["create", "approve", "reject", "start", "deployed", "failed",
                                                            "check_failed", "retry"]),
            actor=dict(type="str", required=True),
            request_id=dict(type="str"),
            tenant=dict(type="str"),
            target=dict(type="dict", options=dict(
                name=dict(type="str", required=True),
                version=dict(type="str", required=True),
                source_environment=dict(type="str", choices=["dev", "staging"], default="staging"),
            )),
            justification=dict(type="str"),
            impact=dict(type="str", choices=["low", "medium", "high"], default="low"),
            rollback_plan=dict(type="str"),
            pre_checks=dict(type="dict"),
            comment=dict(type="str"),
            version=dict(type="str"),
            commit=dict(type="str"),
            remote=dict(type="str", default="origin"),
            branch=dict(type="str", default="main"),
            push=dict(type="bool", default=True),
        ),
        required_if=[("action", "create", ("tenant", "target", "justification")),
                     ("action", "approve", ("request_id",)), ("action", "reject", ("request_id", "comment")),
                     ("action", "start", ("request_id",)), ("action", "deployed", ("request_id",)),
                     ("action", "failed", ("request_id",)), ("action", "check_failed", ("request_id", "comment")),
                     ("action", "retry", ("request_id",))],
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    if not HAS_RUAMEL:
        module.fail_json(msg=missing_required_lib("ruamel.yaml"))
    p = module.params
    git = Git(p["path"], p["remote"], p["branch"])
    details = dict(request_id=p["request_id"], comment=p["comment"], version=p["version"], commit=p["commit"])
    if p["action"] == "create":
        details = dict(tenant=p["tenant"], target=p["target"], justification=p["justification"], impact=p["impact"],
                       rollback_plan=p["rollback_plan"], pre_checks=p["pre_checks"], comment=p["comment"])
    try:
        result = perform(git, p["action"], p["actor"], check_mode=module.check_mode, push=p["push"], **details)
    except (RequestError, GitError) as exc:
        module.fail_json(msg=str(exc))
    output = dict(changed=True, request_id=result["request_id"], path=result["path"], state=result["state"],
                  request=result["request"], attempts=result["attempts"],
                  diff=dict(before=result["before"] or "", after=result["after"],
                            before_header=result["path"], after_header=result["path"]))
    if "commit" in result:
        output["commit"] = result["commit"]
    module.exit_json(**output)


if __name__ == "__main__":
    main()
