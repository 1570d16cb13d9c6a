"""stoa-demo (make demo): the design's phase 6 story, end to end, on the local servers.

Starts OpenBao, Keycloak, Kafka and the three gateway simulators (dev, staging,
prod), makes a GitOps remote from examples/gitops (two commits, so that a
rollback has somewhere to go), and runs the platform's own job playbooks the
way AWX would, one line per step. A second run changes nothing: every
converging step reports "no change". Logs of every step are in .stoa/demo/.
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import hvac
import requests
import yaml
from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakGetError

from . import _COLLECTIONS  # noqa: F401  (puts the collection on sys.path)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient  # noqa: E402
from local_services import paths, registry  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = paths.STATE_DIR / "demo"
REMOTE = DEMO / "gitops.git"
USERS = {"demo-cpi@cab-i.com": "dev/iam/demo-cpi", "demo-devops@cab-i.com": "dev/iam/demo-devops"}
ENVIRONMENTS = ("dev", "staging", "prod")
REALM = "stoa"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.name=STOA demo", "-c", "user.email=demo@stoa.local", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


def make_remote() -> bool:
    """The GitOps remote: examples/gitops, then a change to petstore-api. Kept between runs."""
    if REMOTE.exists():
        return False
    seed = DEMO / "seed"
    shutil.rmtree(seed, ignore_errors=True)
    shutil.copytree(ROOT / "examples" / "gitops", seed)
    git("init", "--quiet", "--initial-branch=main", cwd=seed)
    git("add", ".", cwd=seed)
    git("commit", "--quiet", "-m", "tenant-demo: petstore-api and weather-api", cwd=seed)
    spec = seed / "tenants/tenant-demo/apis/petstore-api/openapi.yaml"
    spec.write_text(spec.read_text().replace("  /pets/{petId}:", "  /pets/search:\n    get:\n      operationId: searchPets\n"
                                             "      responses:\n        \"200\": {description: Matching pets}\n"
                                             "  /pets/{petId}:"))
    git("commit", "--quiet", "-am", "petstore-api: search pets", cwd=seed)
    git("clone", "--quiet", "--bare", str(seed), str(REMOTE), cwd=DEMO)
    shutil.rmtree(seed)
    return True


def story_commits() -> tuple[str, str]:
    """The remote's first two commits on main: the seed, and the petstore change the rollback undoes."""
    commits = git("rev-list", "--reverse", "main", cwd=REMOTE).split()
    return commits[0], commits[1]


def seed_vault(env: dict) -> list[str]:
    """Secrets the repository refers to; created once, kept between runs. Returns the paths it created."""
    client = hvac.Client(url=env["VAULT_ADDR"], token=env["VAULT_TOKEN"])
    wanted = {path: {"password": secrets.token_urlsafe(12)} for path in USERS.values()}
    for environment in ENVIRONMENTS:
        wanted[f"{environment}/weather-api"] = {"api_key": secrets.token_hex(16)}
    wanted["platform/service-accounts/awx"] = {"client_secret": secrets.token_urlsafe(24)}
    created = []
    for path, data in wanted.items():
        try:
            client.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
        except hvac.exceptions.InvalidPath:
            client.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point="secret")
            created.append(path)
    return created


def keycloak_admin(env: dict) -> KeycloakAdmin:
    """The bootstrap admin of the local Keycloak, working on the platform's realm."""
    return KeycloakAdmin(server_url=env["KEYCLOAK_URL"], username=env["KEYCLOAK_ADMIN_USERNAME"],
                         password=env["KEYCLOAK_ADMIN_PASSWORD"], realm_name=REALM,
                         user_realm_name=env.get("KEYCLOAK_ADMIN_REALM", "master"))


def find_user(admin: KeycloakAdmin, email: str) -> dict | None:
    """The realm's user with this e-mail, or None (also when the realm does not exist yet)."""
    try:
        found = admin.get_users({"email": email, "exact": True})
    except KeycloakGetError as exc:
        if exc.response_code == 404:
            return None
        raise
    return next((u for u in found if (u.get("email") or "").lower() == email), None)


def repair_passwords(env: dict, new_paths: list[str]) -> None:
    """A demo user whose password was missing in Vault got a new one there (seed_vault), while Keycloak still holds
    the old one, which nobody knows any more (the former in-memory OpenBao restarted, or the secret deleted by
    hand). The jobs never change a password a user has, so the demo sets the one now in Vault (not temporary, as
    the demo provisions its users). A user Keycloak does not have yet is left to the provisioning step."""
    admin = keycloak_admin(env)
    vault = hvac.Client(url=env["VAULT_ADDR"], token=env["VAULT_TOKEN"])
    for email, path in USERS.items():
        if path not in new_paths:
            continue
        user = find_user(admin, email)
        if user is None:
            continue
        password = vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret",
                                                           raise_on_deleted_version=True)["data"]["data"]["password"]
        admin.set_user_password(user["id"], password, temporary=False)
        print(f"{email}: its password was missing in Vault: a new one is at secret/{path} and Keycloak's is set to "
              f"it", flush=True)


class Story:
    def __init__(self, env: dict):
        self.env, self.steps, self.number = env, [], 0

    def job(self, title: str, playbook: str, inventory: str = "dev", converging: bool = True, **extra) -> dict:
        self.number += 1
        log = DEMO / f"{self.number:02d}-{Path(playbook).stem}-{inventory}.log"
        args = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", f"inventories/{inventory}", playbook,
                "-e", json.dumps(dict(extra, trace_id=f"demo-{self.number:02d}"))]
        began = time.monotonic()
        done = subprocess.run(args, cwd=ROOT, env=self.env, capture_output=True, text=True, check=False)
        log.write_text(done.stdout + done.stderr)
        recap = done.stdout.split("PLAY RECAP")[-1]
        changed = sum(int(n) for n in re.findall(r"changed=(\d+)", recap))
        state = "FAILED" if done.returncode else ("changed %d" % changed if changed else "no change")
        print(f"[{self.number:2d}] {title:58} {state:12} {time.monotonic() - began:5.1f} s", flush=True)
        self.steps.append({"title": title, "changed": changed, "converging": converging, "ok": not done.returncode})
        if done.returncode:
            print(f"     see {log}", flush=True)
            tail = [line for line in done.stdout.splitlines() if "msg:" in line or "FAILED" in line][-3:]
            print("\n".join("     " + line.strip() for line in tail), flush=True)
            raise SystemExit(1)
        artifacts = re.findall(r"(PR-\d{4}-\d{4}) is (?:pending|approved)", done.stdout)
        return {"request_id": artifacts[-1] if artifacts else None, "stdout": done.stdout}


def requests_in_remote() -> list[dict]:
    show = DEMO / "inspect"
    shutil.rmtree(show, ignore_errors=True)
    git("clone", "--quiet", str(REMOTE), str(show), cwd=DEMO)
    found = [yaml.safe_load(p.read_text()) for p in sorted((show / "requests/prod").rglob("PR-*.yaml"))]
    shutil.rmtree(show)
    return found


def summary(env: dict) -> None:
    print("\nWho can log in (password grant on control-plane-ui, realm stoa), and their token claims:")
    vault = hvac.Client(url=env["VAULT_ADDR"], token=env["VAULT_TOKEN"])
    for user, path in USERS.items():
        password = vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret",
                                                           raise_on_deleted_version=True)["data"]["data"]["password"]
        token = requests.post(f"{env['KEYCLOAK_URL']}/realms/{REALM}/protocol/openid-connect/token", timeout=30,
                              data={"grant_type": "password", "client_id": "control-plane-ui", "username": user,
                                    "password": password})
        if token.status_code != 200:
            print(f"  {user:24} cannot log in: HTTP {token.status_code}: {why_login_fails(env, user, path, token)}")
            continue
        payload = token.json()["access_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        roles = sorted(set(claims.get("roles", [])) & {"cpi-admin", "tenant-admin", "devops", "viewer"})
        print(f"  {user:24} tenant_id={claims.get('tenant_id')}  roles={','.join(roles)}  (password in Vault at "
              f"secret/{path})")
    print("\nActive APIs per environment:")
    for environment in ENVIRONMENTS:
        upper = environment.upper()
        client = GatewayClient(env[f"STOA_GATEWAY_{upper}_URL"], "Administrator", env[f"STOA_GATEWAY_{upper}_PASSWORD"])
        for api in sorted(client.list_apis(), key=lambda a: a["apiName"]):
            full = client.get_api(api["id"])
            tags = (full.get("apiDefinition") or {}).get("apiTags") or []
            spec = next((t.split(":", 1)[1] for t in tags if t.startswith("stoa-spec:")), "-")
            print(f"  {environment:8} {api['apiName']:14} {api['apiVersion']:7} {'active' if api['isActive'] else 'inactive':9}"
                  f" id {api['id']}  spec {spec}")
    print("\nProduction promotion requests (history in Git):")
    for request in requests_in_remote():
        meta, target = request["metadata"], request["spec"]["target"]
        print(f"  {meta['id']} {meta['tenant']}/{target['name']} {target['version']}: {request['status']['state']}")
        for entry in request["status"]["history"]:
            print(f"     {entry['at']}  {entry['action']:10} by {entry['by']}")
    print(f"\nLogs: each step in {DEMO}/NN-<job>-<env>.log; services in {paths.STATE_DIR / 'logs'}; "
          f"GitOps remote {REMOTE}")


def why_login_fails(env: dict, email: str, path: str, answer: requests.Response) -> str:
    """Keycloak's own error, then what the admin API shows about the user, and what to do."""
    try:
        error = answer.json()
        said = f"{error.get('error')}: {error.get('error_description')}"
    except ValueError:
        said = answer.text[:200]
    user = find_user(keycloak_admin(env), email)
    if user is None:
        return f"{said}; the user does not exist in realm {REALM} (the provisioning step creates it)"
    if not user.get("enabled"):
        return f"{said}; the user is disabled in Keycloak"
    if user.get("requiredActions"):
        return (f"{said}; Keycloak wants the user to act first ({', '.join(user['requiredActions'])}): the initial "
                f"password was set as temporary")
    admin = keycloak_admin(env)
    fix = (f"`bao kv metadata delete secret/{path}` (with .stoa/services.env sourced), then `make demo`: it writes a "
           f"new password to Vault and sets it in Keycloak")
    if not any(c.get("type") == "password" for c in admin.get_credentials(user["id"])):
        return (f"{said}; the user has no password in Keycloak: run `make demo` again, its IAM sync sets the initial "
                f"password of a user that has none")
    return (f"{said}; the password in Vault at secret/{path} is not the one Keycloak holds (one of them was changed "
            f"after the user was created). To repair: {fix}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def webhook_act(env: dict) -> None:
    """GitLab -> receiver -> jobs, with no human step: stoa-receiver (ansible-runner launcher) is started, a change
    to petstore-api's OpenAPI document and to its dev alias is pushed, GitLab's push hook is posted, and the deploy
    and the alias sync that follow are shown with their trace id. Every run pushes a change (it toggles one path and
    one timeout), so this act is never "no change"."""
    print("\nWebhook act: GitLab push -> stoa-receiver -> jobs (ansible-runner launcher)", flush=True)
    token = secrets.token_urlsafe(24)
    port = _free_port()
    config = DEMO / "receiver.yml"
    config.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": port},
        "state_dir": str(DEMO / "receiver"),
        "gitlab": {"project": "platform/stoa-gitops", "secret_tokens": ["env:STOA_DEMO_GITLAB_TOKEN"]},
        "gitops": {"repository": str(REMOTE), "auto_environments": ["dev"]},
        "launcher": {"type": "runner", "runner": {"max_parallel": 2}},
    }, sort_keys=False))
    log = DEMO / "receiver.log"
    receiver_env = {**env, "STOA_DEMO_GITLAB_TOKEN": token}
    process = subprocess.Popen([str(Path(sys.executable).parent / "stoa-receiver"), "--config", str(config), "serve"],
                               cwd=ROOT, env=receiver_env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", process, log)
        work = DEMO / "webhook-work"
        shutil.rmtree(work, ignore_errors=True)
        git("clone", "--quiet", str(REMOTE), str(work), cwd=DEMO)
        before = git("rev-parse", "HEAD", cwd=work).strip()
        spec = work / "tenants/tenant-demo/apis/petstore-api/openapi.yaml"
        adopted = "  /pets/adopted:\n    get:\n      operationId: listAdopted\n      responses:\n" \
                  "        \"200\": {description: Adopted pets}\n"
        text = spec.read_text()
        added = adopted not in text
        spec.write_text(text.replace("  /pets/{petId}:", adopted + "  /pets/{petId}:") if added
                        else text.replace(adopted, ""))
        alias = work / "aliases/dev/petstore-backend.yaml"
        alias_text = alias.read_text()
        alias.write_text(alias_text.replace("readTimeout: 60000", "readTimeout: 61000") if "readTimeout: 60000"
                         in alias_text else alias_text.replace("readTimeout: 61000", "readTimeout: 60000"))
        message = f"petstore-api: {'add' if added else 'remove'} /pets/adopted; petstore backend read timeout"
        git("commit", "--quiet", "-am", message, cwd=work)
        git("push", "--quiet", "origin", "HEAD:main", cwd=work)
        after = git("rev-parse", "HEAD", cwd=work).strip()
        shutil.rmtree(work)
        print(f"  pushed {after[:12]} to main: {message}", flush=True)
        hook = {"object_kind": "push", "event_name": "push", "before": before, "after": after,
                "ref": "refs/heads/main", "checkout_sha": after, "user_username": "demo-devops",
                "project_id": 4242, "project": {"id": 4242, "path_with_namespace": "platform/stoa-gitops",
                                                "default_branch": "main"},
                "commits": [{"id": after, "title": message, "author": {"name": "STOA demo"}}],
                "total_commits_count": 1}
        answer = requests.post(f"http://127.0.0.1:{port}/hooks/gitlab", json=hook, timeout=10,
                               headers={"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": token,
                                        "Idempotency-Key": f"demo-{after}"})
        answer.raise_for_status()
        event_id, trace_id = answer.json()["event_id"], answer.json()["trace_id"]
        print(f"  GitLab push hook posted: HTTP {answer.status_code}, event {event_id}, trace {trace_id}", flush=True)
        event = _wait_event_done(config, event_id, process, log)
        for request in event["requests"]:
            print(f"  {request['job']:12} {request['key']:44} {request['state']:10} trace {request['trace_id']}"
                  f"  runner {request['external_id']}", flush=True)
            if request["state"] != "successful":
                print(f"     see {DEMO / 'receiver' / 'runner' / str(request['external_id'])}", flush=True)
                raise SystemExit(1)
        trace = requests.get(f"http://127.0.0.1:{port}/traces/{trace_id}", timeout=10).json()
        print(f"  trace {trace_id} ({trace['status']}), GitLab -> receiver -> jobs:", flush=True)
        for step in trace["steps"]:
            print(f"     {step['at']}  {step['step']:18} {step['status']:10} {step['detail']}", flush=True)
        print(f"  what the receiver recorded: stoa-receiver --config {config} events {event_id}; the pipeline "
              f"traces are served at /ui/traces while it runs", flush=True)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            print(log.read_text()[-3000:])
            raise SystemExit("stoa-receiver stopped at start-up")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"stoa-receiver not ready after {timeout} s; see {log}")


def _wait_event_done(config: Path, event_id: str, process: subprocess.Popen, log: Path, timeout: float = 600) -> dict:
    """Polls `stoa-receiver events --json EVENT_ID` until its jobs have ended."""
    command = [str(Path(sys.executable).parent / "stoa-receiver"), "--config", str(config), "events", "--json",
               event_id]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if shown.returncode == 0:
            event = json.loads(shown.stdout)
            if event["status"] != "accepted" and event["requests"] and all(
                    r["state"] in ("successful", "failed", "dead") for r in event["requests"]):
                return event
            if event["status"] == "ignored":
                raise SystemExit(f"the receiver ignored the push: {event.get('reason')}")
        if process.poll() is not None:
            raise SystemExit(f"stoa-receiver stopped; see {log}")
        time.sleep(0.5)
    raise SystemExit(f"the webhook's jobs did not end within {timeout} s; see {log}")


def main() -> int:
    DEMO.mkdir(parents=True, exist_ok=True)
    print("Starting the local services (OpenBao, Keycloak, Kafka, gateway simulators dev/staging/prod)...", flush=True)
    registry.up()
    env = {**os.environ, **registry.read_env_file(), "STOA_WORK_DIR": str(DEMO / "work"), "ANSIBLE_FORCE_COLOR": "0"}
    created = make_remote()
    repair_passwords(env, seed_vault(env))
    print(f"GitOps remote {REMOTE} ({'created' if created else 'kept from the last run'})\n", flush=True)
    repo = str(REMOTE)
    story = Story(env)
    story.job("Provision tenant-demo (Keycloak, GitOps folder)", "playbooks/provision_tenant.yml",
              tenant_id="tenant-demo", gitops_repo=repo, initial_password_temporary=False)
    story.job("IAM sync (tenants, global admins, service accounts)", "playbooks/iam_sync.yml", gitops_repo=repo,
              initial_password_temporary=False)
    story.job("Sync aliases (dev)", "playbooks/sync_aliases.yml", environment="dev", gitops_repo=repo)
    for api in ("petstore-api", "weather-api"):
        story.job(f"Deploy {api} to dev", "playbooks/deploy_api.yml", tenant_id="tenant-demo", api_name=api,
                  environment="dev", gitops_repo=repo)
    # OIDC after the APIs: scope mappings and subscriptions point at API ids.
    story.job("Configure gateway OIDC for tenant-demo (dev)", "playbooks/configure_gateway_oidc.yml",
              tenant_id="tenant-demo", environment="dev", gitops_repo=repo)
    # Staging and the prod rollback work from the story's own commits: the webhook act below pushes new commits
    # to main on every run, and those must not change what a rerun of the story does.
    seed_commit, story_commit = story_commits()
    story.job("Promote petstore-api to staging", "playbooks/promote.yml", inventory="staging",
              tenant_id="tenant-demo", api_name="petstore-api", environment="staging", gitops_repo=repo,
              gitops_ref=story_commit)
    done = [r for r in requests_in_remote() if r["spec"]["target"]["name"] == "petstore-api"
            and r["status"]["state"] == "deployed"]
    if done:
        print(f"[--] {'Prod promotion ' + done[-1]['metadata']['id'] + ' already deployed':58} no change", flush=True)
    else:
        created_request = story.job("Create a prod promotion request (demo-devops)", "playbooks/promotion_request.yml",
                                    converging=False, gitops_repo=repo, action="create", actor="demo-devops@cab-i.com",
                                    tenant_id="tenant-demo", api_name="petstore-api", api_version="1.0.0",
                                    justification="Pet search for the portal")
        request_id = created_request["request_id"]
        story.job(f"Approve {request_id} (demo-cpi, tenant admin)", "playbooks/promotion_request.yml",
                  converging=False, gitops_repo=repo, action="approve", actor="demo-cpi@cab-i.com",
                  promotion_request_id=request_id, comment="staging tests green")
        story.job(f"Deploy petstore-api to prod under {request_id}", "playbooks/promote.yml", inventory="prod",
                  converging=False, tenant_id="tenant-demo", api_name="petstore-api", environment="prod",
                  gitops_repo=repo, promotion_request_id=request_id)
    story.job("Roll petstore-api back in prod (previous commit)", "playbooks/rollback.yml", inventory="prod",
              tenant_id="tenant-demo", api_name="petstore-api", environment="prod", gitops_repo=repo,
              gitops_ref=story_commit, target_ref=seed_commit)
    webhook_act(env)
    summary(env)
    changed = [s["title"] for s in story.steps if s["converging"] and s["changed"]]
    print("\nConverging steps that changed something: %s" % (", ".join(changed) if changed else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
