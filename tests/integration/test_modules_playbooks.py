"""Run the collection's modules the way operators do: ansible-playbook from the repository root."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "tests" / "playbooks"


def run_playbook(name: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(PLAYBOOKS / name)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "TEST_WORK_DIR": str(tmp_path), "ANSIBLE_FORCE_COLOR": "0", **env},
    )


@pytest.mark.parametrize("playbook", ["openapi_downgrade.yml"])
def test_module_playbook(playbook, tmp_path):
    result = run_playbook(playbook, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "failed=0" in result.stdout


@pytest.mark.parametrize("playbook", ["gateway_api.yml"])
def test_gateway_module_playbook(playbook, tmp_path, gateway_sim):
    """Against a fresh gateway simulator; the playbook reads its request log."""
    result = run_playbook(playbook, tmp_path, **gateway_sim.env)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "failed=0" in result.stdout
