"""The molecule scenarios of the collection's roles (extensions/molecule), against a gateway simulator."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTENSIONS = ROOT / "collections" / "ansible_collections" / "stoa" / "platform" / "extensions"
SCENARIOS = sorted(p.name for p in (EXTENSIONS / "molecule").iterdir() if (p / "molecule.yml").exists())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_converges_is_idempotent_and_verifies(scenario, gateway_sim, tmp_path):
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, **gateway_sim.env, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"), "ANSIBLE_FORCE_COLOR": "0",
           "STOA_EXAMPLE_GITOPS": str(ROOT / "examples" / "gitops"), "MOLECULE_NO_LOG": "false",
           "STOA_WORK_DIR": str(tmp_path / "work")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    result = subprocess.run([str(bin_dir / "molecule"), "test", "-s", scenario], cwd=EXTENSIONS, env=env,
                            capture_output=True, text=True, timeout=900, check=False)
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    assert result.returncode == 0, output[-6000:]
    for action in ("converge", "idempotence", "verify"):
        # "scenario ➜ action" on a terminal, "scenario > action" otherwise
        assert re.search(rf"{scenario} (?:➜|>) {action}: Executed: Successful", output), action
