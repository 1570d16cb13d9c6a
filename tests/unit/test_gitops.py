"""The GitOps schemas, validator and resolver on the example repository and on broken copies of it."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

import stoa_tools  # noqa: F401
from ansible_collections.stoa.platform.plugins.module_utils.gitops_resolver import (
    Renderer,
    ResolveError,
    gateway_api_options,
    referenced_aliases,
    render_api,
)
from ansible_collections.stoa.platform.plugins.module_utils.gitops_schemas import SCHEMAS
from ansible_collections.stoa.platform.plugins.module_utils.gitops_validate import validate_checkout

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "gitops"


@pytest.fixture
def copy(tmp_path):
    target = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_schemas_are_valid_draft_2020_12(kind):
    jsonschema.Draft202012Validator.check_schema(SCHEMAS[kind])


def test_the_example_repository_is_clean():
    assert validate_checkout(EXAMPLE) == []


def test_validation_hands_back_the_files_it_checked_and_leaves_out_missing_or_broken_ones(copy):
    """IAM Sync validates first, then uses the registries the validation read (gitops_validate ``documents``)."""
    wanted = ["iam/tenants.yaml", "iam/global-admins.yaml", "iam/no-such-file.yaml"]
    documents = dict.fromkeys(wanted)
    assert validate_checkout(EXAMPLE, documents) == []
    assert sorted(documents) == ["iam/global-admins.yaml", "iam/tenants.yaml"]
    assert [t["id"] for t in documents["iam/tenants.yaml"]["tenants"]] == ["tenant-demo"]
    edit(copy / "iam/global-admins.yaml", "admins:", "admins: 3\nnot_admins:")
    documents = dict.fromkeys(wanted)
    assert any(p["file"] == "iam/global-admins.yaml" for p in validate_checkout(copy, documents))
    assert sorted(documents) == ["iam/tenants.yaml"]


def test_five_mistakes_in_five_files_are_all_reported_with_file_line_and_field(copy):
    edit(copy / "iam/tenants.yaml", "    status: active", "    status: enabled")
    edit(copy / "aliases/dev/petstore-backend.yaml", 'url: "https://petstore-dev.swagger.io/v2"', 'url: "ftp://petstore"')
    edit(copy / "tenants/tenant-demo/apis/petstore-api/environments/staging.yaml",
         '  BACKEND_URL: "https://petstore-staging.swagger.io/v2"\n', "")
    edit(copy / "tenants/tenant-demo/apis/weather-api/environments/dev.yaml", "weather-backend-dev", "weather-backend-qa")
    edit(copy / "environments/prod/config.yaml", "  LOG_LEVEL:", "  log_level:")
    problems = validate_checkout(copy)
    found = {(p["file"], p["line"], p["field"]) for p in problems}
    assert found == {
        ("iam/tenants.yaml", 10, "tenants.0.status"),
        ("aliases/dev/petstore-backend.yaml", 10, "spec.endpoint.url"),
        ("tenants/tenant-demo/apis/petstore-api/api.yaml", 13, "spec.backend.url"),
        ("tenants/tenant-demo/apis/weather-api/environments/dev.yaml", 7, "variables.BACKEND_ALIAS"),
        ("environments/prod/config.yaml", 6, "variables"),
    }
    messages = " ".join(p["message"] for p in problems)
    assert "'enabled' is not one of" in messages and "${BACKEND_URL} is not defined for environment staging" in messages
    assert "weather-backend-qa" in messages and "log_level" in messages


def test_cross_references_and_names(copy):
    edit(copy / "tenants/tenant-demo/apis/weather-api/api.yaml", "  tenant: tenant-demo", "  tenant: tenant-other")
    edit(copy / "tenants/tenant-demo/apis/petstore-api/openapi.yaml", "openapi: 3.1.0", "openapi: 4.0.0")
    (copy / "iam/unknown.yaml").write_text("a: 1\n")
    messages = [(p["file"], p["message"]) for p in validate_checkout(copy)]
    assert any("metadata.tenant must be tenant-demo" in m for _f, m in messages)
    assert any("openapi.yaml" in m and "unsupported OpenAPI version" in m for _f, m in messages)
    assert ("iam/unknown.yaml", "not a file of the GitOps layout (see docs/gitops.md)") in messages


def test_a_yaml_syntax_error_names_its_line(copy):
    (copy / "iam/global-admins.yaml").write_text("apiVersion: stoa.cab-i.com/v1\nkind: [unclosed\n")
    problems = [p for p in validate_checkout(copy) if p["file"] == "iam/global-admins.yaml"]
    assert len(problems) == 1 and problems[0]["line"] == 3 and "not valid YAML" in problems[0]["message"]


@pytest.mark.parametrize("environment, url, alias, requests", [
    ("dev", "https://petstore-dev.swagger.io/v2", "petstore-backend-dev", 100),
    ("staging", "https://petstore-staging.swagger.io/v2", "petstore-backend-staging", 100),
    ("prod", "https://petstore.swagger.io/v2", "petstore-backend-prod", 1000),
])
def test_petstore_renders_per_environment(environment, url, alias, requests):
    rendered, variables, origin = render_api(str(EXAMPLE), "tenant-demo", "petstore-api", environment)
    backend = rendered["spec"]["backend"]
    assert (backend["url"], backend["alias"], backend["timeout"]) == (url, alias, "30s")
    assert rendered["spec"]["policies"][0]["rateLimit"]["requests"] == requests  # a number stays a number
    assert origin["BACKEND_URL"].endswith(f"environments/{environment}.yaml")
    assert rendered["spec"]["maturityState"] == ("Production" if environment == "prod" else "Beta")
    options = gateway_api_options(rendered, str(EXAMPLE / "tenants/tenant-demo/apis/petstore-api"))
    assert options["backend_url"] == url and options["policies"]["rate_limit"]["requests"] == requests
    assert [a["metadata"]["name"] for a in referenced_aliases(str(EXAMPLE), environment, variables)] == [alias]


def test_vault_references_stay_references():
    rendered, _variables, _origin = render_api(str(EXAMPLE), "tenant-demo", "weather-api", "dev")
    assert rendered["spec"]["backend"]["apiKeyRef"] == "vault:secret/data/dev/weather-api#api_key"


def test_an_undefined_variable_fails_naming_it_and_the_environment(copy):
    edit(copy / "tenants/tenant-demo/apis/petstore-api/environments/staging.yaml",
         '  BACKEND_URL: "https://petstore-staging.swagger.io/v2"\n', "")
    with pytest.raises(ResolveError, match=r"petstore-api in staging: undefined variable BACKEND_URL \(\$\{BACKEND_URL\} "
                                           r"at /spec/backend/url\)"):
        render_api(str(copy), "tenant-demo", "petstore-api", "staging")


@pytest.mark.parametrize("template, expected", [
    ("${A}", 5),                        # whole placeholder keeps the type
    ("port ${A}", "port 5"),            # interpolated as text
    ("${B}", "x-5-y"),                  # recursive
    ("${MISSING:fallback}", "fallback"),
    ("$${A} stays", "${A} stays"),      # escape
    ("${MISSING:}", ""),
])
def test_placeholders(template, expected):
    assert Renderer({"A": 5, "B": "x-${A}-y"}).text(template, "/x") == expected


def test_cycles_are_reported():
    with pytest.raises(ResolveError, match="cycle: A -> B -> A"):
        Renderer({"A": "${B}", "B": "${A}"}).text("${A}", "/x")


def test_cli_validate_and_render(copy):
    cli = Path(sys.executable).parent / "stoa-gitops"
    ok = subprocess.run([str(cli), "validate", str(EXAMPLE)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and ok.stdout == ""
    edit(copy / "iam/tenants.yaml", "    status: active", "    status: enabled")
    bad = subprocess.run([str(cli), "validate", str(copy)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and bad.stdout.startswith("iam/tenants.yaml:10: tenants.0.status:")
    rendered = subprocess.run([str(cli), "render", str(EXAMPLE), "tenant-demo", "petstore-api", "prod"],
                              capture_output=True, text=True, check=False)
    assert yaml.safe_load(rendered.stdout)["spec"]["backend"]["url"] == "https://petstore.swagger.io/v2"
