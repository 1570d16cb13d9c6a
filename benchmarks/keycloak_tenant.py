"""One tenant provisioned by keycloak_tenant and by community.general's keycloak_* modules, same real Keycloak.

    make bench-keycloak        (or: .venv/bin/python benchmarks/keycloak_tenant.py [--members 25])

The tenant: one group with attributes, the four realm roles, 25 members (5 tenant
admins, 10 DevOps, 10 viewers), each with names, the tenant_id attribute, the
group membership and one realm role. The peer is what an operator writes with
community.general (shipped in the `ansible` package): keycloak_role x4,
keycloak_group, keycloak_user per member (attributes and group), and
keycloak_user_rolemapping per member. Each approach gets a fresh realm (with
tenant_id declared in its user profile, which keycloak_tenant does itself),
runs once, then again with nothing to change. Wall times are ansible-playbook
runs, start-up included, and the rerun's "changed" count is printed because a
no-op rerun should report none. This is a measurement, not a test.
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from keycloak import KeycloakAdmin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from local_services import registry  # noqa: E402


def members(count: int) -> list[dict]:
    roles = ["cpi"] * max(1, count // 5) + ["devops"] * (count * 2 // 5)
    roles += ["viewer"] * (count - len(roles))
    return [{"email": f"user{n:02d}@bench.example", "name": f"User {n:02d}", "role": role}
            for n, role in enumerate(roles)]


def ours(realm: str, people: list[dict]) -> list:
    return [{"name": "Provision the tenant", "hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "The whole tenant in one call",
        "stoa.platform.keycloak_tenant": {
            "realm": realm, "token_clients": [],
            "tenant": {"id": "tenant-bench", "display_name": "Bench", "environments": ["dev"]},
            "members": people}}]}]


def peer(realm: str, people: list[dict], env: dict) -> list:
    auth = {"auth_keycloak_url": env["KEYCLOAK_URL"], "auth_realm": "master",
            "auth_username": env["KEYCLOAK_ADMIN_USERNAME"], "auth_password": env["KEYCLOAK_ADMIN_PASSWORD"],
            "realm": realm}
    role_of = {"cpi": "tenant-admin", "devops": "devops", "viewer": "viewer"}
    users = [dict(p, realm_role=role_of[p["role"]], first=p["name"].split()[0], last=p["name"].split()[1])
             for p in people]
    return [{"name": "Provision the tenant", "hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/community.general.keycloak": auth}, "tasks": [
                 {"name": "Realm roles", "community.general.keycloak_role": {"name": "{{ item }}"},
                  "loop": ["cpi-admin", "tenant-admin", "devops", "viewer"]},
                 {"name": "Tenant group", "community.general.keycloak_group": {
                     "name": "tenant-bench", "attributes": {"tenant_id": ["tenant-bench"], "display_name": ["Bench"],
                                                            "status": ["active"], "environments": ["dev"]}}},
                 {"name": "Users", "community.general.keycloak_user": {
                     "username": "{{ item.email }}", "email": "{{ item.email }}", "first_name": "{{ item.first }}",
                     "last_name": "{{ item.last }}", "enabled": True, "email_verified": True,
                     "attributes": [{"name": "tenant_id", "values": ["tenant-bench"]}],
                     "groups": [{"name": "tenant-bench"}]},
                  "loop": users, "loop_control": {"label": "{{ item.email }}"}},
                 {"name": "Realm role of each user", "community.general.keycloak_user_rolemapping": {
                     "target_username": "{{ item.email }}", "roles": [{"name": "{{ item.realm_role }}"}]},
                  "loop": users, "loop_control": {"label": "{{ item.email }}"}},
             ]}]


def fresh_realm(admin: KeycloakAdmin, name: str) -> None:
    admin.change_current_realm("master")
    admin.create_realm({"realm": name, "enabled": True})
    admin.change_current_realm(name)
    profile = admin.get_realm_users_profile()
    profile["attributes"].append({"name": "tenant_id", "displayName": "Tenant",
                                  "permissions": {"view": ["admin"], "edit": ["admin"]}, "multivalued": False})
    admin.update_realm_users_profile(profile)
    admin.change_current_realm("master")


def run(playbook: list, workdir: Path, env: dict) -> tuple[float, int]:
    path = workdir / f"play-{secrets.token_hex(3)}.yml"
    path.write_text(yaml.safe_dump(playbook, sort_keys=False))
    began = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(done.stdout[-4000:] + done.stderr[-2000:])
    changed = int(re.search(r"changed=(\d+)", done.stdout.split("PLAY RECAP")[-1]).group(1))
    return seconds, changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=25)
    args = parser.parse_args()
    registry.up(["keycloak", "vault"])
    env = {**os.environ, **registry.read_env_file()}
    admin = KeycloakAdmin(server_url=env["KEYCLOAK_URL"], username=env["KEYCLOAK_ADMIN_USERNAME"],
                          password=env["KEYCLOAK_ADMIN_PASSWORD"], realm_name="master", user_realm_name="master")
    people = members(args.members)
    figures = {}
    realms = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, build in (("keycloak_tenant", lambda r: ours(r, people)),
                             ("community.general", lambda r: peer(r, people, env))):
            realm = "bench-" + secrets.token_hex(3)
            realms.append(realm)
            fresh_realm(admin, realm)
            first = run(build(realm), Path(tmp), env)
            rerun = run(build(realm), Path(tmp), env)
            figures[label] = (first, rerun)
    for realm in realms:
        admin.change_current_realm("master")
        admin.delete_realm(realm)
    print(f"\nOne tenant, one group, 4 realm roles, {len(people)} members; ansible-playbook wall time\n")
    print(f"{'tool':20} {'first s':>8} {'rerun s':>8} {'rerun changed tasks':>20}")
    for label, ((first_s, _c1), (rerun_s, rerun_changed)) in figures.items():
        print(f"{label:20} {first_s:8.2f} {rerun_s:8.2f} {rerun_changed:20}")
    (o_first, _), (o_rerun, _) = figures["keycloak_tenant"]
    (p_first, _), (p_rerun, _) = figures["community.general"]
    print(f"ratio keycloak_tenant / community.general: first {o_first / p_first:.2f}, rerun {o_rerun / p_rerun:.2f}")


if __name__ == "__main__":
    main()
