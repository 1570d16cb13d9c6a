"""Typos fail or are named (issue #18, point 4): an inventory that does not parse or lacks the jobs' group fails
the job; an extra var no job knows is named with the nearest known name (an error under strict_vars); a clean job
prints no ansible-core warning about the extra-vars contract's names (environment, action)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import stoa_tools  # noqa: F401
from gitops_remote import make_remote

ROOT = Path(__file__).resolve().parents[2]


def playbook(*args: str, env: dict | None = None, tmp_path: Path | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", **(env or {})}
    environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    if tmp_path is not None:
        environ["STOA_WORK_DIR"] = str(tmp_path / "work")
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=300, check=False)


def test_an_inventory_that_does_not_exist_fails_the_job():
    done = playbook("-i", "inventories/qa", "playbooks/deploy_api.yml", "-e", "environment=qa")
    assert done.returncode != 0
    assert "Completely failed to parse inventory source" in done.stdout + done.stderr
    assert "PLAY RECAP" not in done.stdout


def test_an_inventory_without_the_jobs_group_fails_the_job(tmp_path):
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    somewhere: {ansible_connection: local}\n")
    done = playbook("-i", str(tmp_path / "hosts.yml"), "playbooks/sync_aliases.yml", "-e", "environment=dev")
    assert done.returncode != 0
    assert "Could not match supplied host pattern" in done.stdout + done.stderr and "stoa_control" in done.stderr


def test_an_unknown_extra_var_is_named_with_the_nearest_known_one(tmp_path):
    base = ["-i", "inventories/dev", "playbooks/sync_aliases.yml", "-e", "environment=dev", "-e", "gitops_branch=main"]
    warned = playbook(*base)  # fails later for the missing gitops_repo; the typo is named first
    assert "[WARNING]: unknown extra var gitops_branch (did you mean gitops_ref?)" in warned.stdout + warned.stderr
    strict = playbook(*base, "-e", "strict_vars=true")
    assert strict.returncode != 0
    assert "unknown extra var gitops_branch (did you mean gitops_ref?), and strict_vars is on" in strict.stdout
    # As AWX passes them: one YAML/JSON file.
    extra = tmp_path / "extravars"
    extra.write_text(json.dumps({"environment": "dev", "gitops_repo": "/nowhere", "tenant_idd": "x",
                                 "strict_vars": True}))
    from_file = playbook("-i", "inventories/dev", "playbooks/sync_aliases.yml", "-e", f"@{extra}")
    assert from_file.returncode != 0
    assert "unknown extra var tenant_idd (did you mean tenant_id?)" in from_file.stdout


def test_a_clean_job_prints_no_warning_about_the_contracts_names(tmp_path, gateway_sim):
    remote = make_remote(tmp_path)
    env = {"STOA_GATEWAY_DEV_URL": gateway_sim.url, "STOA_GATEWAY_DEV_PASSWORD": gateway_sim.password}
    aliases = playbook("-i", "inventories/dev", "playbooks/sync_aliases.yml", "-e", "environment=dev",
                       "-e", f"gitops_repo={remote}", env=env, tmp_path=tmp_path)
    assert aliases.returncode == 0, aliases.stdout[-3000:]
    assert "[WARNING]" not in aliases.stdout + aliases.stderr
    request = playbook("-i", "inventories/dev", "playbooks/promotion_request.yml", "-e", f"gitops_repo={remote}",
                       "-e", "action=create", "-e", "actor=demo-devops@cab-i.com", "-e", "tenant_id=tenant-demo",
                       "-e", "api_name=petstore-api", "-e", "api_version=1.0.0", "-e", "justification='New search'",
                       env=env, tmp_path=tmp_path)
    assert request.returncode == 0, request.stdout[-3000:]
    assert "[WARNING]" not in request.stdout + request.stderr
    # Another reserved name given as an extra var still warns: only the contract's two names are spared.
    tags = playbook("-i", "inventories/dev", "playbooks/sync_aliases.yml", "-e", "environment=dev", "-e", "tags=x")
    assert "Found variable using reserved name 'tags'" in tags.stdout + tags.stderr
