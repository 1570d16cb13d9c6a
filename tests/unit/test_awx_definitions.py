"""The AWX objects of awx/objects.yml against the code, without an AWX.

The same file that awx/apply.yml applies: each template's playbook exists and
accepts at launch every variable the playbook takes; each credential type
injects only what the modules, inventories and callback read; names are unique
and references resolve.
"""
from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "collections" / "ansible_collections" / "stoa" / "platform"
READ_BY_GIT = {"GIT_CONFIG_GLOBAL"}  # git itself reads it


class Loader(yaml.SafeLoader):
    pass


Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def objects() -> dict:
    return yaml.load((ROOT / "awx" / "objects.yml").read_text(), Loader=Loader)  # noqa: S506 - SafeLoader subclass


def playbook_variables(playbook: str) -> set[str]:
    """The extra vars a job takes: the values its first task (stoa.platform.job_vars) checks."""
    plays = yaml.safe_load((ROOT / playbook).read_text())
    first = plays[0]["tasks"][0]
    return set(first["stoa.platform.job_vars"]["values"])


def environment_read_by_code() -> set[str]:
    names = set()
    for source in COLLECTION.joinpath("plugins").rglob("*.py"):
        text = source.read_text()
        for group in re.findall(r"env_fallback, \[([^\]]*)\]", text):
            names.update(re.findall(r'"([A-Z][A-Z0-9_]*)"', group))
        names.update(re.findall(r"- name: ([A-Z][A-Z0-9_]*)", text))  # env: entries of lookup/callback docs
    for source in list((ROOT / "inventories").rglob("*.yml")) + list(COLLECTION.joinpath("roles").rglob("*.yml")):
        names.update(re.findall(r"lookup\('ansible.builtin.env', '([A-Z][A-Z0-9_]*)'\)", source.read_text()))
    return names


def variables_read_by_playbooks() -> set[str]:
    text = "".join(p.read_text() for p in (ROOT / "playbooks").rglob("*.yml"))
    text += "".join(p.read_text() for p in (ROOT / "inventories").rglob("*.yml"))
    return set(re.findall(r"\b([a-z][a-z0-9_]*)\b", text))


def problems(definitions: dict) -> list[str]:
    found = []
    for kind in ("awx_inventories", "awx_credential_types", "awx_job_templates", "awx_workflows", "awx_schedules"):
        names = [item["name"] for item in definitions[kind]]
        found += [f"{kind}: {name} is defined twice" for name in sorted(set(n for n in names if names.count(n) > 1))]
    defaults = definitions["awx_job_template_defaults"]
    types = {t["name"] for t in definitions["awx_credential_types"]}
    for template in definitions["awx_job_templates"]:
        name, playbook = template["name"], template["playbook"]
        if not (ROOT / playbook).exists():
            found.append(f"{name}: playbook {playbook} does not exist")
            continue
        asks = template.get("ask_variables_on_launch", defaults["ask_variables_on_launch"])
        survey = {q["variable"] for q in (template.get("survey") or {}).get("spec", [])}
        for variable in sorted(playbook_variables(playbook)):
            if not asks and variable not in survey:
                found.append(f"{name} ({playbook}) does not accept {variable} at launch: set "
                             f"ask_variables_on_launch or add it to the survey")
        found += [f"{name}: unknown credential type {t}" for t in template.get("credential_types", []) if t not in types]
    read_env, read_vars = environment_read_by_code() | READ_BY_GIT, variables_read_by_playbooks()
    for credential_type in definitions["awx_credential_types"]:
        injectors = credential_type["injectors"]
        fields = {f["id"] for f in credential_type["inputs"]["fields"]}
        for variable in sorted(set(injectors.get("env", {})) - read_env):
            found.append(f"credential type {credential_type['name']} injects {variable}, which nothing reads")
        for variable in sorted(set(injectors.get("extra_vars", {})) - read_vars):
            found.append(f"credential type {credential_type['name']} injects extra var {variable}, which no playbook reads")
        for template in list(injectors.get("env", {}).values()) + list(injectors.get("extra_vars", {}).values()):
            for used in re.findall(r"\{\{\s*([a-z_]+)\s*\}\}", str(template)):
                if used not in fields:
                    found.append(f"credential type {credential_type['name']}: {used} is not one of its inputs")
    templates = {t["name"] for t in definitions["awx_job_templates"]}
    inventories = {i["name"] for i in definitions["awx_inventories"]}
    for workflow in definitions["awx_workflows"]:
        identifiers = {n["identifier"] for n in workflow["nodes"]}
        for node in workflow["nodes"]:
            if node["job_template"] not in templates:
                found.append(f"workflow {workflow['name']}: unknown job template {node['job_template']}")
            found += [f"workflow {workflow['name']}: unknown node {n}" for n in node.get("success", []) if n not in identifiers]
    for schedule in definitions["awx_schedules"]:
        if schedule["job_template"] not in templates:
            found.append(f"schedule {schedule['name']}: unknown job template {schedule['job_template']}")
        if schedule.get("inventory") and schedule["inventory"] not in inventories:
            found.append(f"schedule {schedule['name']}: unknown inventory {schedule['inventory']}")
        playbook = next(t["playbook"] for t in definitions["awx_job_templates"] if t["name"] == schedule["job_template"])
        extra = set(schedule.get("extra_data", {})) - playbook_variables(playbook)
        found += [f"schedule {schedule['name']}: {playbook} takes no {v}" for v in sorted(extra)]
    return found


def test_the_definitions_agree_with_the_code():
    assert problems(objects()) == []


def test_every_playbook_has_a_job_template():
    used = {t["playbook"] for t in objects()["awx_job_templates"]}
    assert {f"playbooks/{p.name}" for p in (ROOT / "playbooks").glob("*.yml")} <= used


def test_a_variable_not_accepted_at_launch_is_reported():
    broken = copy.deepcopy(objects())
    deploy = next(t for t in broken["awx_job_templates"] if t["name"] == "Deploy API")
    deploy["ask_variables_on_launch"] = False
    deploy["survey"] = {"spec": [{"variable": v} for v in sorted(playbook_variables(deploy["playbook"])) if v != "tenant_id"]}
    assert problems(broken) == ["Deploy API (playbooks/deploy_api.yml) does not accept tenant_id at launch: set "
                                "ask_variables_on_launch or add it to the survey"]


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["awx_credential_types"][1]["injectors"]["env"].update(KEYCLOAK_SERVER="x"),
     "credential type STOA Keycloak admin injects KEYCLOAK_SERVER, which nothing reads"),
    (lambda d: d["awx_job_templates"].append(dict(d["awx_job_templates"][0])),
     "awx_job_templates: Provision Tenant is defined twice"),
    (lambda d: d["awx_job_templates"][0].update(playbook="playbooks/provision.yml"),
     "Provision Tenant: playbook playbooks/provision.yml does not exist"),
])
def test_other_mistakes_are_reported(mutate, expected):
    broken = copy.deepcopy(objects())
    mutate(broken)
    assert expected in problems(broken)


def test_the_apply_playbook_parses():
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check", "awx/apply.yml"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
