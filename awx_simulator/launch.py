"""Launching templates as AWX 24.6.1 does: validation, prompts accepted or ignored, the 201 answer.

Follows ``JobLaunchSerializer`` and ``JobTemplate._accept_or_ignore_job_kwargs``:
a field given at launch is accepted when the template's matching
``ask_*_on_launch`` is true, counted as neither when it equals the template's
own value, and otherwise dropped and listed in ``ignored_fields`` (the launch
still succeeds). Extra variables go through the survey first: survey
variables are accepted (and validated), the rest only when
``ask_variables_on_launch`` is true.
"""
from __future__ import annotations

import json

import yaml

from . import jobs
from .errors import APIError

# JobTemplate.get_ask_mapping(): launch field -> template flag.
ASK_MAPPING = {
    "extra_vars": "ask_variables_on_launch", "inventory": "ask_inventory_on_launch",
    "scm_branch": "ask_scm_branch_on_launch", "limit": "ask_limit_on_launch", "job_tags": "ask_tags_on_launch",
    "skip_tags": "ask_skip_tags_on_launch", "job_type": "ask_job_type_on_launch",
    "verbosity": "ask_verbosity_on_launch", "diff_mode": "ask_diff_mode_on_launch",
    "credentials": "ask_credential_on_launch", "execution_environment": "ask_execution_environment_on_launch",
    "labels": "ask_labels_on_launch", "forks": "ask_forks_on_launch",
    "job_slice_count": "ask_job_slice_count_on_launch", "timeout": "ask_timeout_on_launch",
    "instance_groups": "ask_instance_groups_on_launch",
}
WORKFLOW_ASK_MAPPING = {
    "extra_vars": "ask_variables_on_launch", "inventory": "ask_inventory_on_launch",
    "scm_branch": "ask_scm_branch_on_launch", "limit": "ask_limit_on_launch", "labels": "ask_labels_on_launch",
    "skip_tags": "ask_skip_tags_on_launch", "job_tags": "ask_tags_on_launch",
}
RELATED = {"inventory": "inventories", "execution_environment": "execution_environments"}
RELATED_MANY = {"credentials": "credentials", "labels": "labels", "instance_groups": None}
STRINGS = ("scm_branch", "limit", "job_tags", "skip_tags")
INTEGERS = ("forks", "job_slice_count", "timeout")


def parse_vars(value) -> dict:
    """``parse_yaml_or_json(..., silent_failure=False)``: a dict, or a JSON/YAML string of one."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value in ('""', ""):
        return {}
    try:
        parsed = json.loads(value)
        if not isinstance(parsed, dict):
            raise AssertionError(f"Input type `{type(parsed).__name__}` is not a dictionary")
    except (ValueError, TypeError, AssertionError) as json_err:
        try:
            parsed = yaml.safe_load(value)
            if parsed is None:
                parsed = {}
            if not isinstance(parsed, dict):
                raise AssertionError(f"Input type `{type(parsed).__name__}` is not a dictionary")
        except (yaml.YAMLError, TypeError, AttributeError, AssertionError) as yaml_err:
            raise ValueError(f"Cannot parse as JSON (error: {json_err}) or YAML (error: {yaml_err}).") from None
    return parsed


def _pk(store, kind, value, field, errors):
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, str) and not value.isdigit()):
        errors[field] = [f"Incorrect type. Expected pk value, received {type(value).__name__}."]
        return None
    if kind is None or store.get(kind, value) is None:
        errors[field] = [f'Invalid pk "{value}" - object does not exist.']
        return None
    return int(value)


def validate_body(store, body, mapping: dict) -> tuple[dict, dict]:
    """The serializer's field validation: returns (attrs, errors)."""
    attrs, errors = {}, {}
    for name in mapping:
        if name not in body or body[name] is None:
            continue
        value = body[name]
        if name == "extra_vars":
            try:
                attrs[name] = parse_vars(value)
            except ValueError as exc:
                errors[name] = [str(exc)]
        elif name in RELATED:
            attrs[name] = _pk(store, RELATED[name], value, name, errors)
        elif name in RELATED_MANY:
            if not isinstance(value, list):
                errors[name] = [f'Expected a list of items but got type "{type(value).__name__}".']
                continue
            ids = [_pk(store, RELATED_MANY[name], item, name, errors) for item in value]
            attrs[name] = [i for i in ids if i is not None]
        elif name in STRINGS:
            if isinstance(value, (dict, list, bool)):
                errors[name] = ["Not a valid string."]
            else:
                attrs[name] = str(value)
        elif name in INTEGERS:
            if isinstance(value, bool) or not str(value).lstrip("-").isdigit():
                errors[name] = ["A valid integer is required."]
            elif int(value) < 0 and name != "timeout":
                errors[name] = ["Ensure this value is greater than or equal to 0."]
            else:
                attrs[name] = int(value)
        elif name == "verbosity":
            if str(value) not in ("0", "1", "2", "3", "4", "5"):
                errors[name] = [f'"{value}" is not a valid choice.']
            else:
                attrs[name] = int(value)
        elif name == "job_type":
            if value not in ("run", "check"):
                errors[name] = [f'"{value}" is not a valid choice.']
            else:
                attrs[name] = value
        elif name == "diff_mode":
            if value in (True, False, "true", "false", "True", "False", 1, 0, "1", "0"):
                attrs[name] = value in (True, "true", "True", 1, "1")
            else:
                errors[name] = ["Must be a valid boolean."]
    return attrs, errors


def _survey_errors(element: dict, data: dict) -> list[str]:
    variable, kind = element["variable"], element.get("type", "text")
    if variable not in data:
        return [f"'{variable}' value missing"] if element.get("required") else []
    value = data[variable]
    if kind in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return [f"Value {value} for '{variable}' expected to be a string."]
        if element.get("min") not in ("", None) and len(value) < int(element["min"]):
            return [f"'{variable}' value {value} is too small (length is {len(value)} must be at least {element['min']})."]
        if element.get("max") not in ("", None) and len(value) > int(element["max"]):
            return [f"'{variable}' value {value} is too large (must be no more than {element['max']})."]
    elif kind == "integer":
        if type(value) is not int:
            return [f"Value {value} for '{variable}' expected to be an integer."]
    elif kind == "float":
        if type(value) not in (int, float):
            return [f"Value {value} for '{variable}' expected to be a numeric type."]
    elif kind == "multiplechoice":
        choices = element.get("choices", [])
        choices = choices.splitlines() if isinstance(choices, str) else choices
        if value not in choices:
            return [f"Value {value} for '{variable}' expected to be one of {choices}."]
    return []


def accept_or_ignore(store, template: dict, attrs: dict, mapping: dict) -> tuple[dict, dict, dict]:
    """(accepted, ignored, errors) as ``_accept_or_ignore_job_kwargs(_exclude_errors=['prompts'])``."""
    accepted, ignored, errors = {}, {}, {}
    # The survey is validated on every launch, extra_vars given or not (a required
    # question must be answered even when it has a default).
    extra_vars = dict(attrs.get("extra_vars", {}))
    accepted_vars, rejected_vars = {}, {}
    survey = template.get("survey_spec") or {}
    if template.get("survey_enabled") and survey.get("spec"):
        survey_errors = []
        for element in survey["spec"]:
            element_errors = _survey_errors(element, extra_vars)
            key = element.get("variable")
            if element_errors:
                survey_errors += element_errors
                if key in extra_vars:
                    rejected_vars[key] = extra_vars.pop(key)
            elif key in extra_vars:
                accepted_vars[key] = extra_vars.pop(key)
        if survey_errors:
            errors["variables_needed_to_start"] = survey_errors
    if template.get("ask_variables_on_launch"):
        accepted_vars.update(extra_vars)
        extra_vars = {}
    template_vars = jobs._template_vars(template)
    for key in list(extra_vars):
        if key in template_vars and template_vars[key] == extra_vars[key]:
            extra_vars.pop(key)  # same as the template's own value: neither accepted nor ignored
    rejected_vars.update(extra_vars)
    if accepted_vars:
        accepted["extra_vars"] = accepted_vars
    if rejected_vars:
        ignored["extra_vars"] = rejected_vars

    for name, ask in mapping.items():
        if name == "extra_vars" or name not in attrs:
            continue
        new, old = attrs[name], template.get(name)
        if name == "credentials":
            new = sorted(set(new) - set(old or []))
            if not new:
                continue
        elif name in ("labels", "instance_groups"):
            old = object()  # a related manager on the model: never equal to the list given
        if new == old:
            continue
        if template.get(ask):
            if name == "scm_branch":
                project = store.get("projects", template.get("project"))
                if project is None:
                    ignored[name], errors[name] = new, "Project is missing."
                    continue
                if new != project.get("scm_branch") and not project.get("allow_override"):
                    ignored[name], errors[name] = new, "Project does not allow override of branch."
                    continue
            accepted[name] = new
        else:
            ignored[name] = new
    return accepted, ignored, errors


def _with_survey_defaults(template: dict, accepted: dict) -> dict:
    """Job extra vars: template vars, then survey defaults, then the accepted launch vars."""
    merged = dict(jobs._template_vars(template))
    if template.get("survey_enabled"):
        for element in (template.get("survey_spec") or {}).get("spec", []):
            if element.get("default") not in (None, ""):
                merged[element["variable"]] = element["default"]
    merged.update(accepted.get("extra_vars", {}))
    return {**accepted, "extra_vars": merged}


def parse_body(raw: bytes) -> dict:
    """A launch body: JSON object (empty body = ``{}``), else the DRF-style 400."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise APIError(400, {"detail": f"JSON parse error - {exc}"}) from None
    if not isinstance(body, dict):
        raise APIError(400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(body).__name__}."]})
    return body


def launch_job_template(store, jt: dict, body: dict, user: dict | None = None) -> tuple[dict, dict, dict]:
    """Validates, creates the job. Returns (job, ignored_fields, accepted); raises APIError(400)."""
    body = dict(body)
    if "inventory" not in body and "inventory_id" in body:
        body["inventory"] = body["inventory_id"]
    attrs, errors = validate_body(store, body, ASK_MAPPING)
    if errors:
        raise APIError(400, errors)
    accepted, ignored, errors = accept_or_ignore(store, jt, attrs, ASK_MAPPING)
    if jt.get("project") is None:
        errors["project"] = "A project is required to run a job."
    inventory = accepted.get("inventory", jt.get("inventory"))
    if inventory is None:
        errors.setdefault("inventory", "Job Template inventory is missing or undefined.")
    if errors:
        raise APIError(400, errors)
    job = jobs.create_job(store, jt, _with_survey_defaults(jt, accepted), user=user)
    return job, ignored, accepted


def launch_workflow(store, wfjt: dict, body: dict, user: dict | None = None) -> tuple[dict, dict, dict]:
    """As :func:`launch_job_template` for a workflow job template."""
    attrs, errors = validate_body(store, body, WORKFLOW_ASK_MAPPING)
    if errors:
        raise APIError(400, errors)
    accepted, ignored, errors = accept_or_ignore(store, wfjt, attrs, WORKFLOW_ASK_MAPPING)
    if errors:
        raise APIError(400, errors)
    wf = jobs.create_workflow_job(store, wfjt, _with_survey_defaults(wfjt, accepted), user=user)
    return wf, ignored, accepted


def launch_info(store, template: dict, workflow: bool = False) -> dict:
    """``GET .../launch/``: what the template needs and what it would use."""
    survey = template.get("survey_spec") or {}
    survey_enabled = bool(template.get("survey_enabled") and "spec" in survey)
    needed = [e["variable"] for e in survey.get("spec", []) if e.get("required")] if survey_enabled else []
    mapping = WORKFLOW_ASK_MAPPING if workflow else ASK_MAPPING
    inventory = store.get("inventories", template.get("inventory"))
    defaults = {}
    for name in mapping:
        if name == "inventory":
            defaults[name] = {"name": inventory["name"] if inventory else None, "id": inventory["id"] if inventory else None}
        elif name == "credentials":
            creds = [store.get("credentials", c) for c in template.get("credentials", [])]
            defaults[name] = [{"id": c["id"], "name": c["name"], "credential_type": c["credential_type"],
                               "passwords_needed": []} for c in creds if c]
        elif name == "labels":
            labels = [store.get("labels", label) for label in template.get("labels", [])]
            defaults[name] = [{"id": label["id"], "name": label["name"]} for label in labels if label]
        elif name == "execution_environment":
            ee = store.get("execution_environments", template.get("execution_environment"))
            defaults[name] = {"id": ee["id"], "name": ee["name"]} if ee else {}
        elif name == "instance_groups":
            defaults[name] = []
        else:
            defaults[name] = template.get(name)
    asks = {ask: bool(template.get(ask)) for ask in mapping.values()}
    info = {
        "can_start_without_user_input": not any(asks.values()) and not needed,
        "variables_needed_to_start": needed, "survey_enabled": survey_enabled, "defaults": defaults,
        **asks,
    }
    if workflow:
        info.update({"node_templates_missing": [], "node_prompts_rejected": [],
                     "workflow_job_template_data": {"name": template["name"], "id": template["id"],
                                                    "description": template.get("description", "")}})
    else:
        info.update({"passwords_needed_to_start": [], "credential_needed_to_start": False,
                     "inventory_needed_to_start": inventory is None,
                     "job_template_data": {"name": template["name"], "id": template["id"],
                                           "description": template.get("description", "")}})
    return info
