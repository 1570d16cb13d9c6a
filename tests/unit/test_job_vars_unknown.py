"""stoa.platform.job_vars: extra vars no job knows, with the nearest known name (issue #18, point 4)."""
from __future__ import annotations

import yaml

import stoa_tools  # noqa: F401
from pathlib import Path
from ansible_collections.stoa.platform.plugins.modules.job_vars import describe, unknown_vars

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "playbooks" / "vars" / "job_spec.yml").read_text())
KNOWN = sorted({name for spec in SPEC.values() for name in spec})


def test_typos_get_the_nearest_known_name():
    found = unknown_vars(["gitops_branch", "tenant", "api_nme", "promotion_id", "zzz", "gitops_ref"], KNOWN)
    assert {u["name"]: u["nearest"] for u in found} == {
        "gitops_branch": "gitops_ref", "tenant": "tenant_id", "api_nme": "api_name",
        "promotion_id": "promotion_request_id", "zzz": None}
    assert describe(found[0]) == "unknown extra var api_nme (did you mean api_name?)"
    assert describe({"name": "zzz", "nearest": None}) == "unknown extra var zzz"


def test_awx_and_connection_variables_and_strict_vars_are_never_reported():
    assert unknown_vars(["awx_job_id", "tower_user_name", "ansible_python_interpreter", "strict_vars"], KNOWN) == []


def test_every_playbook_spec_name_is_in_job_spec_yml():
    """The names known to some job are all in playbooks/vars/job_spec.yml (the action plugin's source)."""
    for name in ("action", "actor", "justification", "comment", "force", "fail_on", "target_ref", "prune"):
        assert name in KNOWN
