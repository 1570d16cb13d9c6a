"""The routing rules: data (``default_rules.yml`` or the operator's file), checked at load.

A rule turns one changed path into zero or more *candidate* job requests; the router
then evaluates the rule's Git condition, expands environments, and merges candidates
by key, so that one launch is requested per (job, tenant, api, environment).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CHANGE_NAMES = {"added": "A", "modified": "M", "deleted": "D"}
ENVIRONMENT_MODES = ("captured", "api_files", "api_files_before", "none")
CONDITIONS = ("api_exists_after", "request_approved", "tenant_added")
JOBS_FILE = Path(__file__).resolve().parent.parent / "launchers" / "jobs.yml"


class RulesError(ValueError):
    """A rules file problem, naming the file, the rule and the field."""


@dataclass
class Rule:
    """One compiled rule. ``pattern`` is the regex of ``match``; ``on`` holds git status letters."""

    name: str
    match: str
    pattern: re.Pattern
    job: str
    on: frozenset[str]
    environments: str
    only_if: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)

    def captures(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


def compile_pattern(match: str) -> re.Pattern:
    """``tenants/{tenant}/apis/{api}/**`` -> a regex; {x} is one segment, ``**`` any depth (at least one file)."""
    out, position = [], 0
    for token in re.finditer(r"\{([A-Za-z_][A-Za-z0-9_]*)\}|\*\*|\*", match):
        out.append(re.escape(match[position:token.start()]))
        if token.group(1):
            out.append(f"(?P<{token.group(1)}>[^/]+)")
        elif token.group(0) == "**":
            out.append(".+")
        else:
            out.append("[^/]*")
        position = token.end()
    out.append(re.escape(match[position:]))
    return re.compile("".join(out), re.DOTALL)


def load_jobs(path: Path = JOBS_FILE) -> dict[str, dict]:
    """The job catalogue: ``{job: {title, playbook, awx_template, vars}}``."""
    data = yaml.safe_load(path.read_text())
    return data["jobs"]


def load_rules(path: Path, jobs: dict[str, dict] | None = None) -> list[Rule]:
    """Reads and checks a rules file; raises :class:`RulesError` with file, rule and field."""
    jobs = jobs if jobs is not None else load_jobs()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"{path}: cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RulesError(f"{path}: must be a mapping with a list 'rules'")
    rules, names = [], set()
    for n, raw in enumerate(data["rules"]):
        where = f"{path}: rules[{n}]"
        if not isinstance(raw, dict):
            raise RulesError(f"{where}: must be a mapping")
        unknown = set(raw) - {"name", "match", "changes", "job", "environments", "only_if", "vars"}
        if any(isinstance(key, bool) for key in unknown):
            raise RulesError(f"{where}: a key was read as a boolean (YAML 1.1 reads on/off/yes/no so): "
                             "write `changes:` for the kinds of change, or quote the key")
        if unknown:
            raise RulesError(f"{where}: unknown field {sorted(map(str, unknown))[0]!r}")
        name = raw.get("name")
        if not isinstance(name, str) or not name or name in names:
            raise RulesError(f"{where}.name: must be a unique non-empty string")
        names.add(name)
        where = f"{path}: rule {name}"
        match = raw.get("match")
        if not isinstance(match, str) or not match:
            raise RulesError(f"{where}: match: must be a path pattern")
        job = raw.get("job")
        if job not in jobs:
            raise RulesError(f"{where}: job: {job!r} is not a known job ({', '.join(sorted(jobs))})")
        # 'changes', not 'on': YAML 1.1 reads an unquoted key `on` as the boolean true.
        on = raw.get("changes", list(CHANGE_NAMES))
        if not isinstance(on, list) or not on or any(o not in CHANGE_NAMES for o in on):
            raise RulesError(f"{where}: changes: must list some of {', '.join(CHANGE_NAMES)}")
        environments = raw.get("environments", "none")
        if environments not in ENVIRONMENT_MODES:
            raise RulesError(f"{where}: environments: must be one of {', '.join(ENVIRONMENT_MODES)}")
        pattern = compile_pattern(match)
        if environments == "captured" and "environment" not in pattern.groupindex:
            raise RulesError(f"{where}: environments: captured needs {{environment}} in match")
        if environments.startswith("api_files") and not {"tenant", "api"} <= set(pattern.groupindex):
            raise RulesError(f"{where}: environments: {environments} needs {{tenant}} and {{api}} in match")
        only_if = raw.get("only_if")
        if only_if is not None and only_if not in CONDITIONS:
            raise RulesError(f"{where}: only_if: must be one of {', '.join(CONDITIONS)}")
        variables = raw.get("vars") or {}
        if not isinstance(variables, dict):
            raise RulesError(f"{where}: vars: must be a mapping")
        rules.append(Rule(name=name, match=match, pattern=pattern, job=job,
                          on=frozenset(CHANGE_NAMES[o] for o in on), environments=environments, only_if=only_if,
                          vars=variables))
    return rules
