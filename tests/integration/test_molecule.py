"""The molecule scenarios of the collection's roles (extensions/molecule).

Each scenario runs on localhost with molecule's default driver: converge,
idempotence, verify. This test gives them a fresh gateway simulator, the real
OpenBao (with the secrets examples/gitops refers to) and the real Keycloak (a
realm of their own, removed afterwards).
"""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from keycloak import KeycloakAdmin
from vault_helpers import ensure_secret

ROOT = Path(__file__).resolve().parents[2]
EXTENSIONS = ROOT / "collections" / "ansible_collections" / "stoa" / "platform" / "extensions"
SCENARIOS = sorted(p.name for p in (EXTENSIONS / "molecule").iterdir() if (p / "molecule.yml").exists())


@pytest.fixture
def platform(vault_service, keycloak_service):
    for path, data in {"dev/weather-api": {"api_key": secrets.token_hex(8)},
                       "dev/iam/demo-cpi": {"password": secrets.token_urlsafe(12)},
                       "dev/iam/demo-devops": {"password": secrets.token_urlsafe(12)},
                       "platform/service-accounts/awx": {"client_secret": secrets.token_urlsafe(16)}}.items():
        ensure_secret(vault_service, path, data)  # never overwritten: the demo's users log in with them
    realm = "molecule-" + secrets.token_hex(3)
    yield {**vault_service, **keycloak_service, "TEST_REALM": realm}
    admin = KeycloakAdmin(server_url=keycloak_service["KEYCLOAK_URL"], username=keycloak_service["KEYCLOAK_ADMIN_USERNAME"],
                          password=keycloak_service["KEYCLOAK_ADMIN_PASSWORD"], realm_name="master",
                          user_realm_name="master")
    if realm in [r["realm"] for r in admin.get_realms()]:
        admin.delete_realm(realm)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_converges_is_idempotent_and_verifies(scenario, gateway_sim, platform, tmp_path):
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, **platform, **gateway_sim.env, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"), "ANSIBLE_FORCE_COLOR": "0",
           "STOA_EXAMPLE_GITOPS": str(ROOT / "examples" / "gitops"), "MOLECULE_NO_LOG": "false",
           "STOA_WORK_DIR": str(tmp_path / "work"),
           # molecule keeps per-scenario state (created, prepared...) in its ephemeral directory: start from none
           "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "molecule")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    result = subprocess.run([str(bin_dir / "molecule"), "test", "-s", scenario], cwd=EXTENSIONS, env=env,
                            capture_output=True, text=True, timeout=900, check=False)
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    assert result.returncode == 0, output[-6000:]
    for action in ("converge", "idempotence", "verify"):
        # "scenario ➜ action" on a terminal, "scenario > action" otherwise
        assert re.search(rf"{scenario} (?:➜|>) {action}: Executed: Successful", output), action
