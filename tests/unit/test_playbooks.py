"""Every job playbook parses, with every inventory, and takes its extra vars through stoa.platform.job_vars first."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted(p.name for p in (ROOT / "playbooks").glob("*.yml"))


@pytest.mark.parametrize("inventory", ["dev", "staging", "prod"])
def test_playbooks_parse(inventory):
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check", "-i",
                             f"inventories/{inventory}", *[f"playbooks/{p}" for p in PLAYBOOKS]],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_the_first_task_checks_the_extra_vars(playbook):
    plays = yaml.safe_load((ROOT / "playbooks" / playbook).read_text())
    first = plays[0]["tasks"][0]
    assert "stoa.platform.job_vars" in first, f"{playbook}: the first task must be stoa.platform.job_vars"
