"""Run the collection's modules the way operators do: ansible-playbook from the repository root."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "tests" / "playbooks"


def run_playbook(name: str, tmp_path: Path, *options: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), *options, str(PLAYBOOKS / name)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "TEST_WORK_DIR": str(tmp_path), "ANSIBLE_FORCE_COLOR": "0", **env},
    )


@pytest.mark.parametrize("playbook", ["openapi_downgrade.yml"])
def test_module_playbook(playbook, tmp_path):
    result = run_playbook(playbook, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "failed=0" in result.stdout


@pytest.mark.parametrize("playbook", ["gateway_api.yml", "gateway_oidc.yml", "gitops.yml"])
def test_gateway_module_playbook(playbook, tmp_path, gateway_sim):
    """Against a fresh gateway simulator; the playbook reads its request log."""
    result = run_playbook(playbook, tmp_path, **gateway_sim.env)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "failed=0" in result.stdout


def test_gateway_alias_with_vault_never_prints_a_secret(tmp_path, gateway_sim, vault_service):
    """Real OpenBao and the simulator, at -vvv: no secret value anywhere in the output."""
    import base64
    import secrets as token

    import hvac

    initial, rotated, client_secret = (token.token_urlsafe(18) for _ in range(3))
    vault = hvac.Client(url=vault_service["VAULT_ADDR"], token=vault_service["VAULT_TOKEN"])
    vault.secrets.kv.v2.create_or_update_secret(path="dev/payment-backend", secret={"password": initial},
                                                mount_point="secret")
    vault.secrets.kv.v2.create_or_update_secret(path="dev/keycloak", secret={"client_secret": client_secret},
                                                mount_point="secret")
    result = run_playbook("gateway_alias.yml", tmp_path, "-vvv", **gateway_sim.env, **vault_service,
                          TEST_ROTATED_PASSWORD=rotated)
    output = result.stdout + result.stderr
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    for value in (initial, rotated, client_secret):
        for form in (value, base64.b64encode(value.encode()).decode()):
            assert form not in output
    # The gateway did get the rotated password (base64, as 10.15 wants it) and the client secret.
    stored = {a["name"]: a for a in gateway_sim.gateway.store.aliases.values()}
    assert "payment-backend-dev-auth" not in stored  # deleted at the end of the playbook
    assert stored["KeycloakOIDC"]["remoteIntrospectionConfig"]["clientSecret"] == client_secret
    rotations = [r for r in gateway_sim.requests() if r["method"] == "PUT" and "/alias/" in r["path"]]
    assert len(rotations) == 1


def test_gitops_request_module(tmp_path):
    """The module on a clone of a real bare remote; the remote holds both commits afterwards."""
    from gitops_remote import git, make_remote

    git("clone", "--quiet", str(make_remote(tmp_path)), str(tmp_path / "clone"), cwd=tmp_path)
    result = run_playbook("gitops_request.yml", tmp_path, TEST_GITOPS_CLONE=str(tmp_path / "clone"))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    log = git("log", "--format=%ae %s", "main", cwd=tmp_path / "remote.git").splitlines()
    assert [line.split(" ")[0] for line in log[:2]] == ["demo-cpi@cab-i.com", "demo-devops@cab-i.com"]
