# -*- coding: utf-8 -*-
# Copyright: STOA platform team
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Production promotion requests as files in the GitOps repository (design phase 9).

``requests/prod/YYYY/MM/PR-YYYY-NNNN.yaml``; the history is the Git history:
one commit per action, authored by the actor. States::

    pending -> approved -> deploying -> deployed | failed
    pending -> rejected
    approved -> approved   (checks-failed: the job could not reach the target before writing)
    failed -> approved     (retry: an approver sends the same request again)

What was approved is fixed at approval: ``spec.target.commit`` is the newest commit of the branch in
which ``tenants/<tenant>/apis/<name>/api.yaml`` has the requested version (``approved_commit``). The
promotion deploys the repository as it was at that commit, never a later version; the ``deploying``
and ``deployed`` history entries record the version and commit deployed.

Concurrency: each attempt starts from the remote branch's tip, checks the
actor's rights and the transition against the files there, writes, commits
and pushes. A push refused as non-fast-forward means somebody else landed
first: the change is replayed on the new tip (a rebase of our one commit,
re-checked, with a fresh id for a new request) and pushed again. So two
creators never get the same id and no concurrent change is lost.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re
import subprocess
import time
import uuid

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False

from ansible_collections.stoa.platform.plugins.module_utils.gitops_schemas import schema_problems
from ansible_collections.stoa.platform.plugins.module_utils.gitops_yaml import (
    HAS_RUAMEL,
    YamlFileError,
    field_of,
    line_of,
    load_with_lines,
)

__all__ = ["HAS_RUAMEL", "HAS_YAML"]  # the module reports a missing library with these

API_VERSION = "stoa.cab-i.com/v1"
ACTIONS = {  # action -> (required state, new state, history action)
    "approve": ("pending", "approved", "approved"),
    "reject": ("pending", "rejected", "rejected"),
    "start": ("approved", "deploying", "deploying"),
    "deployed": ("deploying", "deployed", "deployed"),
    "failed": ("deploying", "failed", "failed"),
    "check_failed": ("approved", "approved", "checks-failed"),
    "retry": ("failed", "approved", "retried"),
}
COMMIT = re.compile(r"^[0-9a-f]{40}$")
REQUEST_ID = re.compile(r"^PR-(\d{4})-(\d{4})$")
AUTOMATION_EMAIL = "automation@stoa.local"  # committer of every change this module makes


class RequestError(Exception):
    """A request the actor may not make, or an impossible transition; nothing was written."""


class GitError(Exception):
    """A git command failed."""


class Git(object):
    def __init__(self, path, remote="origin", branch="main"):
        self.path, self.remote, self.branch = path, remote, branch

    def run(self, *args, **kwargs):
        env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
        env.update(kwargs.get("env") or {})
        process = subprocess.run(["git"] + list(args), cwd=self.path, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, check=False)
        if process.returncode != 0 and not kwargs.get("allow_failure"):
            raise GitError("git %s failed: %s" % (" ".join(args), process.stderr.decode("utf-8", "replace").strip()))
        return process

    def out(self, *args):
        return self.run(*args).stdout.decode("utf-8")

    @property
    def tip(self):
        return "%s/%s" % (self.remote, self.branch)

    def fetch(self):
        self.run("fetch", "--quiet", self.remote, self.branch)

    def show(self, rev, path):
        process = self.run("show", "%s:%s" % (rev, path), allow_failure=True)
        return process.stdout.decode("utf-8", "replace") if process.returncode == 0 else None

    def document(self, rev, path, kind):
        """The GitOps document ``path`` at ``rev`` read by the GitOps loader and checked against the schema of
        ``kind``, or None when the file does not exist; RequestError naming file, line and field otherwise
        (rights and states are never read from a file the validator would refuse)."""
        text = self.show(rev, path)
        if text is None:
            return None
        try:
            data, lines = load_with_lines(text)
        except YamlFileError as exc:
            found = list(exc.problems)
        else:
            found = [(line_of(lines, pointer), pointer, message) for pointer, message in schema_problems(kind, data)]
        if found:
            listed = ["line %s: %s: %s" % (line, field_of(pointer), message) for line, pointer, message in found]
            raise RequestError("%s: %s" % (path, "; ".join(listed)))
        return data

    def list_files(self, rev, directory):
        process = self.run("ls-tree", "-r", "--name-only", rev, "--", directory, allow_failure=True)
        return process.stdout.decode("utf-8").split() if process.returncode == 0 else []

    def dirty(self):
        return self.out("status", "--porcelain", "--untracked-files=no").strip()

    def commit_file(self, base, relpath, text, message, author_name, author_email):
        """Commit one file on top of ``base`` (the work tree is reset to it first)."""
        self.run("reset", "--quiet", "--hard", base)
        target = os.path.join(self.path, relpath)
        if not os.path.isdir(os.path.dirname(target)):
            os.makedirs(os.path.dirname(target))
        with open(target, "w") as handle:
            handle.write(text)
        self.run("add", "--", relpath)
        self.run("commit", "--quiet", "-m", message, env={
            "GIT_AUTHOR_NAME": author_name, "GIT_AUTHOR_EMAIL": author_email,
            "GIT_COMMITTER_NAME": "stoa-automation", "GIT_COMMITTER_EMAIL": AUTOMATION_EMAIL})
        return self.out("rev-parse", "HEAD").strip()

    def push(self):
        """True when pushed; False when the remote moved on (non-fast-forward)."""
        process = self.run("push", "--quiet", self.remote, "HEAD:refs/heads/%s" % self.branch, allow_failure=True)
        if process.returncode == 0:
            return True
        error = process.stderr.decode("utf-8", "replace")
        if "non-fast-forward" in error or "fetch first" in error or "rejected" in error:
            return False
        raise GitError("git push failed: %s" % error.strip())


# -- who may do what (iam/*.yaml at the same tip) ------------------------------------------------
class Directory(object):
    def __init__(self, tenants, admins, service_accounts):
        self.tenants = dict((t.get("id"), t) for t in tenants or [])
        self.admins = set(a.get("email") for a in admins or [] if a.get("role") == "cpi-admin")
        self.service_accounts = dict((s.get("email"), s) for s in service_accounts or [])

    @classmethod
    def from_git(cls, git, rev):
        def load(path, kind, key):
            return (git.document(rev, path, kind) or {}).get(key) or []
        return cls(load("iam/tenants.yaml", "TenantRegistry", "tenants"),
                   load("iam/global-admins.yaml", "GlobalAdminRegistry", "admins"),
                   load("iam/service-accounts.yaml", "ServiceAccountRegistry", "serviceAccounts"))

    def roles(self, actor, tenant):
        """The actor's roles for a tenant: cpi-admin, cpi, devops, viewer, automation."""
        roles = set()
        if actor in self.admins:
            roles.add("cpi-admin")
        members = (self.tenants.get(tenant) or {}).get("members") or {}
        for group, role in (("cpi", "cpi"), ("devops", "devops"), ("viewers", "viewer")):
            if actor in [m.get("email") for m in members.get(group) or []]:
                roles.add(role)
        account = self.service_accounts.get(actor)
        if account and ("*" in (account.get("tenants") or []) or tenant in (account.get("tenants") or [])):
            roles.update(account.get("roles") or [])
            if "requests:deploy" in (account.get("permissions") or []):
                roles.add("automation")
        return roles

    def name_of(self, actor):
        for tenant in self.tenants.values():
            for group in ((tenant.get("members") or {}).values()):
                for member in group or []:
                    if member.get("email") == actor and member.get("name"):
                        return member["name"]
        return actor.split("@")[0]


ALLOWED = {
    "create": {"cpi-admin", "cpi", "devops"},
    "approve": {"cpi-admin", "cpi"},
    "reject": {"cpi-admin", "cpi"},
    "start": {"cpi-admin", "cpi", "devops", "automation"},
    "deployed": {"cpi-admin", "cpi", "devops", "automation"},
    "failed": {"cpi-admin", "cpi", "devops", "automation"},
    "check_failed": {"cpi-admin", "cpi", "devops", "automation"},
    "retry": {"cpi-admin", "cpi"},  # as approve: sending a failed request again approves it again
}


def authorise(directory, actor, action, tenant, request=None):
    if tenant not in directory.tenants:
        raise RequestError("tenant %s is not in iam/tenants.yaml" % tenant)
    roles = directory.roles(actor, tenant)
    if not roles & ALLOWED[action]:
        raise RequestError("%s may not %s promotion requests of %s (roles: %s; needed: one of %s)"
                           % (actor, action, tenant, ", ".join(sorted(roles)) or "none", ", ".join(sorted(ALLOWED[action]))))
    if action in ("approve", "reject", "retry") and request and request["metadata"].get("createdBy") == actor:
        raise RequestError("%s created %s and cannot %s it: nobody approves their own request"
                           % (actor, request["metadata"]["id"], action))


# -- the files ---------------------------------------------------------------------------------------
def utc_now():
    return datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z"


def dump(request):
    return yaml.safe_dump(request, sort_keys=False, default_flow_style=False, allow_unicode=True)


def request_path(request_id, created_at):
    return "requests/prod/%s/%s/%s.yaml" % (request_id[3:7], created_at[5:7], request_id)


def next_id(git, rev, year):
    numbers = [int(m.group(2)) for m in (REQUEST_ID.match(os.path.splitext(os.path.basename(p))[0])
                                         for p in git.list_files(rev, "requests/prod/%s" % year)) if m]
    return "PR-%s-%04d" % (year, max(numbers or [0]) + 1)


def find_request(git, rev, request_id):
    match = REQUEST_ID.match(request_id or "")
    if not match:
        raise RequestError("%r is not a request id (PR-YYYY-NNNN)" % request_id)
    for path in git.list_files(rev, "requests/prod/%s" % match.group(1)):
        if os.path.basename(path) == request_id + ".yaml":
            return path, git.document(rev, path, "PromotionRequest")
    raise RequestError("no promotion request %s in the repository" % request_id)


def api_path(tenant, name):
    return "tenants/%s/apis/%s/api.yaml" % (tenant, name)


def approved_commit(git, rev, tenant, name, version):
    """The commit that fixes what an approval of ``tenant``/``name`` ``version`` promotes: the newest commit
    reachable from ``rev`` that changed ``tenants/<tenant>/apis/<name>/`` and whose ``api.yaml`` there has
    ``spec.version`` == ``version`` (a later push of another version does not move it).

    Returns (commit, version at ``rev`` or None). RequestError when no commit of the branch has that version,
    naming the version the branch has. Commits whose api.yaml the validator refuses are skipped."""
    path = api_path(tenant, name)
    current = None
    try:
        current = ((git.document(rev, path, "API") or {}).get("spec") or {}).get("version")
    except RequestError:
        pass
    commits = git.out("log", "--format=%H", rev, "--", os.path.dirname(path) + "/").split()
    for commit in commits:
        try:
            document = git.document(commit, path, "API")
        except RequestError:
            continue
        if document and str((document.get("spec") or {}).get("version")) == str(version):
            return commit, current
    raise RequestError("%s %s cannot be approved: no commit of %s has %s with version %s (it has %s)"
                       % (name, version, git.branch, path, version, current or "no api.yaml"))


def plan(git, rev, action, actor, now, tenant=None, request_id=None, target=None, justification=None,
         impact="low", rollback_plan=None, pre_checks=None, comment=None, version=None, commit=None):
    """(path, text before or None, text after, request) for one action on the files at ``rev``.

    ``approve`` records ``spec.target.commit`` (approved_commit); ``version`` and ``commit``, given with
    ``start``/``deployed``/``failed``, are recorded in the history entry (what was deployed)."""
    directory = Directory.from_git(git, rev)
    if action == "create":
        for key in ("name", "version"):
            if not (target or {}).get(key):
                raise RequestError("create needs target.%s" % key)
        if not justification:
            raise RequestError("create needs a justification")
        authorise(directory, actor, "create", tenant)
        request_id = next_id(git, rev, now[:4])
        request = {
            "apiVersion": API_VERSION, "kind": "PromotionRequest",
            "metadata": {"id": request_id, "createdAt": now, "createdBy": actor, "tenant": tenant},
            "spec": {"target": {"type": "api", "name": target["name"], "version": str(target["version"]),
                                "sourceEnvironment": target.get("source_environment") or "staging",
                                "targetEnvironment": "prod"},
                     "request": dict((k, v) for k, v in (("justification", justification), ("impactAssessment", impact),
                                                         ("rollbackPlan", rollback_plan)) if v),
                     "preChecks": pre_checks or {}},
            "status": {"state": "pending", "history": [dict({"action": "created", "at": now, "by": actor},
                                                            **({"comment": comment} if comment else {}))]},
        }
        return request_path(request_id, now), None, dump(request), request
    path, request = find_request(git, rev, request_id)
    before = dump(request)
    tenant = request["metadata"]["tenant"]
    authorise(directory, actor, action, tenant, request)
    required, new_state, history_action = ACTIONS[action]
    state = request["status"]["state"]
    if state != required:
        raise RequestError("%s is %s: %s needs it %s (pending -> approved -> deploying -> deployed | failed, "
                           "pending -> rejected)" % (request_id, state, action, required))
    if action == "reject" and not (comment or "").strip():
        raise RequestError("a rejection needs a reason (comment)")
    target = request["spec"]["target"]
    if action == "approve":
        target["commit"], current = approved_commit(git, rev, tenant, target["name"], target["version"])
        if current is not None and str(current) != str(target["version"]):
            note = "approved %s at %s (the branch now has %s)" % (target["version"], target["commit"][:12], current)
            comment = "%s; %s" % (comment, note) if comment else note
    if commit is not None and not COMMIT.match(commit):
        raise RequestError("commit %r is not a full commit id" % commit)
    request["status"]["state"] = new_state
    entry = {"action": history_action, "at": now, "by": actor}
    if comment:
        entry["comment"] = comment
    if version:
        entry["version"] = str(version)
    if commit:
        entry["commit"] = commit
    request["status"]["history"].append(entry)
    return path, before, dump(request), request


def commit_message(action, request, actor):
    target = request["spec"]["target"]
    subject = "promotion %s: %s by %s (%s %s %s, %s -> %s)" % (
        request["metadata"]["id"], "created" if action == "create" else request["status"]["state"], actor,
        request["metadata"]["tenant"], target["name"], target["version"], target["sourceEnvironment"],
        target["targetEnvironment"])
    # Two identical actions in the same second would make byte-identical commits, and the second push
    # would "succeed" as already up to date: a unique trailer keeps every operation its own commit.
    return "%s\n\nStoa-Operation: %s" % (subject, uuid.uuid4())


def perform(git, action, actor, check_mode=False, push=True, max_attempts=20, **details):
    """Plan, commit and push one action, replaying it on the new tip while the push is refused."""
    if git.dirty():
        raise RequestError("the checkout %s has uncommitted changes; it must be a clean clone for automation"
                           % git.path)
    if push:
        git.fetch()
        foreign = [c for c in git.out("log", "--format=%ce", "%s..HEAD" % git.tip).split() if c != AUTOMATION_EMAIL]
        if foreign:
            # Our own unpushed commits (a run that failed after committing) are replayed; others are not ours to drop.
            raise RequestError("the checkout %s has %d commit(s) that are not on %s; push or drop them first"
                               % (git.path, len(foreign), git.tip))
    attempts = 0
    while True:
        attempts += 1
        if push and attempts > 1:
            git.fetch()
        rev = git.tip if push else "HEAD"
        path, before, after, request = plan(git, rev, action, actor, utc_now(), **details)
        result = dict(path=path, before=before, after=after, request=request, attempts=attempts,
                      request_id=request["metadata"]["id"], state=request["status"]["state"])
        if check_mode:
            return result
        author = Directory.from_git(git, rev).name_of(actor)
        result["commit"] = git.commit_file(rev, path, after, commit_message(action, request, actor), author, actor)
        if not push or git.push():
            return result
        if attempts >= max_attempts:
            raise GitError("gave up after %d attempts: the branch keeps moving" % attempts)
        time.sleep(0.05 * attempts)
