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


def test_what_awx_the_receiver_and_the_demo_pass_is_known():
    """AWX's credential injectors (awx/objects.yml), the receiver's variables (launchers/jobs.yml and its
    identifiers) and the demo's are never reported as typos."""
    root = Path(__file__).resolve().parents[2]

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
    awx = yaml.load((root / "awx" / "objects.yml").read_text(), Loader=Loader)
    injected = {name for kind in awx["awx_credential_types"]
                for name in ((kind.get("injectors") or {}).get("extra_vars") or {})}
    scheduled = {name for schedule in awx.get("awx_schedules") or [] for name in schedule.get("extra_data") or {}}
    jobs = yaml.safe_load((root / "webhook_receiver" / "launchers" / "jobs.yml").read_text())["jobs"]
    receiver = {name for job in jobs.values() for name in job.get("vars") or []}
    receiver |= {"gitops_repo", "gitops_ref", "trace_id", "stoa_event_id", "stoa_launch_id"}
    demo = {"initial_password_temporary", "target_ref", "comment", "justification"}
    assert injected and unknown_vars(injected | scheduled | receiver | demo, KNOWN) == []
