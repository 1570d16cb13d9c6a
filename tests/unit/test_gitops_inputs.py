"""Inputs that bite (issue 16, part 1): the GitOps loader, placeholders, Vault references, the rendered API,
the broken repositories of tests/unit/data/gitops_bugs/ (from shared/bugs/gitops/), and a bounded fuzz test.

Each case of gitops_bugs/ is the example repository with its case.patch applied (patch -p1), validated as the
stoa-gitops CLI does: never a traceback, well under a second, and the problem the bug's README asks for.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import stoa_tools  # noqa: F401
from ansible_collections.stoa.platform.plugins.module_utils.gitops_resolver import (
    Renderer,
    ResolveError,
    parse_placeholders,
    referenced_aliases,
    render_api,
)
from ansible_collections.stoa.platform.plugins.module_utils.gitops_schemas import SCHEMAS, VAULT_REF
from ansible_collections.stoa.platform.plugins.module_utils.gitops_validate import validate_checkout
from ansible_collections.stoa.platform.plugins.module_utils.gitops_yaml import (
    MAX_VALUES,
    OutsideCheckoutError,
    YamlFileError,
    checkout_path,
    load_with_lines,
)
from ansible_collections.stoa.platform.plugins.module_utils.vault_refs import VaultRefError, parse_reference

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "gitops"
BUGS = Path(__file__).parent / "data" / "gitops_bugs"
CLI = Path(sys.executable).parent / "stoa-gitops"
PETSTORE = "tenants/tenant-demo/apis/petstore-api"


@pytest.fixture
def copy(tmp_path):
    target = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, target)
    return target


def apply_case(name: str, target: Path) -> None:
    if name == "16-symlink-outside":  # the patch only says so: openapi.yaml becomes a link to a file outside
        outside = target.parent / "outside-openapi.yaml"
        shutil.copy(target / PETSTORE / "openapi.yaml", outside)
        (target / PETSTORE / "openapi.yaml").unlink()
        (target / PETSTORE / "openapi.yaml").symlink_to(outside)
        return
    subprocess.run(["patch", "-p1", "-s", "-i", str(BUGS / name / "case.patch")], cwd=target, check=True)


def cli_validate(root: Path) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run([str(CLI), "validate", str(root)], capture_output=True, text=True, timeout=60, check=False)
    return result, time.monotonic() - started


# case -> (exit status, the lines of stdout, as regular expressions; [] = nothing to report)
CASES = {
    # YAML 1.2: ON is the key "ON", as written; nothing to report.
    "01-bool-key-on": (0, []),
    # "no" is the text "no": an environment that does not exist, at its line and field.
    "02-norway-value": (1, [r"iam/tenants\.yaml:17: tenants\.0\.environments\.3: 'no' is not one of "]),
    "05-duplicate-key": (1, [r"petstore-api/environments/dev\.yaml:8: variables\.BACKEND_URL: duplicate key "
                             r"'BACKEND_URL': line 7 and line 8"]),
    "12-billion-laughs": (1, [r"petstore-api/environments/dev\.yaml:\d+: [^:]+: more than %d values once aliases "
                              r"are expanded" % MAX_VALUES]),
    "16-symlink-outside": (1, [r"petstore-api/api\.yaml:10: spec\.openapi: the OpenAPI document openapi\.yaml: "
                               r"tenants/tenant-demo/apis/petstore-api/openapi\.yaml resolves outside the checkout"]),
    "21-placeholder-unclosed": (1, [r"petstore-api/api\.yaml:13: spec\.backend\.url: unterminated placeholder "
                                    r"\$\{BACKEND_URL: it has no closing \}"]),
    "27-scalar-document": (1, [r"petstore-api/api\.yaml:1: \(document\): the document is a single value; "
                               r"it must be a mapping"]),
    # YAML 1.2: yes and off are the texts "yes" and "off"; the rendered API is valid (see the test below).
    "29-bool-value-in-string": (0, []),
}


def test_every_case_of_the_bug_folder_has_an_expected_result():
    assert sorted(p.name for p in BUGS.iterdir() if p.is_dir()) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bug_cases_give_the_right_result(name, copy):
    apply_case(name, copy)
    result, elapsed = cli_validate(copy)
    status, expected = CASES[name]
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == status, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(expected), lines
    for pattern, line in zip(expected, lines):
        assert re.search(pattern, line), (pattern, line)
    assert elapsed < 5, elapsed  # the CLI's start-up included; the billion laughs hung before
    assert len(result.stdout) < 2000  # no expanded value is ever printed


def test_the_values_that_yaml_1_1_would_have_changed_stay_text(copy):
    apply_case("01-bool-key-on", copy)
    apply_case("29-bool-value-in-string", copy)
    rendered, variables, _origin = render_api(str(copy), "tenant-demo", "petstore-api", "dev")
    assert variables["ON"] == "x" and variables["LOG_LEVEL"] == "off"
    assert rendered["spec"]["policies"][1]["cors"]["allowedOrigins"] == ["yes"]


def test_a_variable_of_the_wrong_type_is_caught_after_substitution(copy):
    config = copy / "environments/dev/config.yaml"
    config.write_text(config.read_text() + "  PORTAL_ORIGIN: true\n  RATE_LIMIT_PER_MINUTE_X: 1\n")
    problems = validate_checkout(copy)
    assert [(p["file"], p["field"]) for p in problems] == [(f"{PETSTORE}/api.yaml", "spec.policies.1.cors.allowedOrigins.0")]
    assert "environment dev: after substitution: True is not of type 'string'" in problems[0]["message"]
    assert "${PORTAL_ORIGIN}, from environments/dev/config.yaml" in problems[0]["message"]
    with pytest.raises(ResolveError, match=r"allowedOrigins/0: after substitution: True is not of type 'string'"):
        render_api(str(copy), "tenant-demo", "petstore-api", "dev")


def test_a_number_where_a_number_belongs_stays_valid_and_text_there_is_refused(copy):
    defaults = copy / PETSTORE / "environments/_defaults.yaml"
    assert "RATE_LIMIT_PER_MINUTE" in (copy / "environments/dev/config.yaml").read_text()
    defaults.write_text(defaults.read_text() + "  RATE_LIMIT_PER_MINUTE: lots\n")
    problems = validate_checkout(copy)
    fields = {(p["field"], p["message"].split(":")[0]) for p in problems}
    assert ("spec.policies.0.rateLimit.requests", "environment dev") in fields
    assert all("'lots' is not of type 'integer'" in p["message"] for p in problems)


# -- the loader ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("a: yes\nb: no\nc: on\nd: OFF\ne: y\n", {"a": "yes", "b": "no", "c": "on", "d": "OFF", "e": "y"}),
    ("t: 1:30\nu: 190:20:30\n", {"t": "1:30", "u": "190:20:30"}),                    # no sexagesimals
    ("a: 0o17\nb: '0755'\nc: 12\nd: 1.5\ne: true\nf: null\ng: ~\n",
     {"a": 15, "b": "0755", "c": 12, "d": 1.5, "e": True, "f": None, "g": None}),
    ("at: 2026-01-02T03:04:05Z\nday: 2026-01-02\n", {"at": "2026-01-02T03:04:05Z", "day": "2026-01-02"}),
    ("ON: 1\n200: ok\ntrue: t\n", {"ON": 1, "200": "ok", "true": "t"}),            # keys are text
    ("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n", {"base": {"x": 1, "y": 2}, "c": {"x": 1, "y": 3}}),
])
def test_yaml_1_2_reads_what_is_written(text, expected):
    assert load_with_lines(text)[0] == expected


@pytest.mark.parametrize("text, line, message", [
    ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a': line 1 and line 3"),
    ("x:\n  k: 1\n  k: 2\n", 3, "duplicate key 'k': line 2 and line 3"),
    ("mode: 0755\n", 1, "0755 has a leading zero: YAML 1.2 reads the number 755, YAML 1.1 tools read it as octal; "
                        "quote it"),
    ("%YAML 1.1\n---\na: yes\n", 2, "%YAML 1.1: these files are read as YAML 1.2"),
    ("a: 1\n---\nb: 2\n", 2, "a second YAML document starts here"),
    ("", 1, "the document is empty; it must be a mapping"),
    ("- a\n- b\n", 1, "the document is a list; it must be a mapping"),
    ("a: !!python/object:os.system x\n", 1, "the tag !!python/object:os.system is not supported"),
    ("a: !!binary aGk=\n", 1, "the tag !!binary is not supported"),
    ("a: !custom x\n", 1, "the tag !custom is not supported"),
    ("? [a]\n: 1\n", 1, "a key must be text, not a list"),
    ("a: [unclosed\n", 2, "not valid YAML"),
    ("a: \x07\n", 1, "not valid YAML: special characters are not allowed"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", 1, "nested more than 64 levels deep"),
    ("a: &a [*a]\n", 1, "nested more than 64 levels deep"),
])
def test_the_loader_refuses_with_a_line(text, line, message):
    with pytest.raises(YamlFileError) as caught:
        load_with_lines(text)
    assert caught.value.line == line and message in str(caught.value), (caught.value.line, str(caught.value))


def test_every_duplicate_of_a_file_is_reported_at_once():
    with pytest.raises(YamlFileError) as caught:
        load_with_lines("a: 1\na: 2\nb:\n  c: 1\n  c: 2\n")
    assert [(line, pointer) for line, pointer, _m in caught.value.problems] == [(2, "/a"), (5, "/b/c")]


def test_a_billion_laughs_fails_fast_and_never_prints_a_value():
    lines = ['a0: &a0 ["lolsecret","lolsecret"]'] + [
        "a%d: &a%d [%s]" % (i, i, ",".join(["*a%d" % (i - 1)] * 9)) for i in range(1, 12)]
    started = time.monotonic()
    with pytest.raises(YamlFileError) as caught:
        load_with_lines("\n".join(lines) + "\n")
    assert time.monotonic() - started < 1.0
    assert "aliases are expanded" in str(caught.value) and "lolsecret" not in repr(caught.value.problems)


def test_paths_must_resolve_inside_the_checkout(copy, tmp_path):
    (tmp_path / "secret.yaml").write_text("a: 1\n")
    (copy / "iam" / "link.yaml").symlink_to(tmp_path / "secret.yaml")
    (copy / "iam" / "inside.yaml").symlink_to(copy / "iam" / "tenants.yaml")
    assert checkout_path(str(copy), "iam/inside.yaml") == str((copy / "iam/tenants.yaml").resolve())
    for relpath in ("iam/link.yaml", "../secret.yaml", str(tmp_path / "secret.yaml")):
        with pytest.raises(OutsideCheckoutError, match="resolves outside the checkout"):
            checkout_path(str(copy), relpath)
    # A variables file that is a link out is refused by the validator and by the renderer.
    env = copy / PETSTORE / "environments" / "dev.yaml"
    (tmp_path / "dev.yaml").write_text(env.read_text())
    env.unlink()
    env.symlink_to(tmp_path / "dev.yaml")
    messages = [p["message"] for p in validate_checkout(copy)]
    assert any(f"{PETSTORE}/environments/dev.yaml resolves outside the checkout" in m for m in messages)
    with pytest.raises(ResolveError, match="resolves outside the checkout"):
        render_api(str(copy), "tenant-demo", "petstore-api", "dev")


def test_an_openapi_path_that_leads_out_is_refused_by_the_renderer(copy):
    api = copy / PETSTORE / "api.yaml"
    api.write_text(api.read_text().replace("openapi: openapi.yaml", "openapi: ../../../../../outside.yaml"))
    with pytest.raises(ResolveError, match="spec.openapi: .* resolves outside the checkout"):
        render_api(str(copy), "tenant-demo", "petstore-api", "dev")


def test_the_renderer_and_alias_reader_check_each_file_against_its_kind(copy):
    env = copy / PETSTORE / "environments" / "dev.yaml"
    env.write_text(env.read_text().replace("variables:\n", "variables:\n  lower_case: 1\n"))
    with pytest.raises(ResolveError, match=r"environments/dev\.yaml:\d+: variables: .*lower_case"):
        render_api(str(copy), "tenant-demo", "petstore-api", "dev")
    alias = copy / "aliases/dev/petstore-backend.yaml"
    alias.write_text(alias.read_text() + "extra: 1\n")
    with pytest.raises(ResolveError, match=r"aliases/dev/petstore-backend\.yaml:\d+: \(document\): Additional properties"):
        referenced_aliases(str(copy), "dev", {"BACKEND_ALIAS": "petstore-backend-dev"})


# -- placeholders ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, problem", [
    ("${BACKEND_URL", "unterminated placeholder ${BACKEND_URL: it has no closing }"),
    ("https://${HOST/v2", "unterminated placeholder ${HOST/v2"),
    ("${}", "malformed placeholder ${}"),
    ("${1X}", "malformed placeholder ${1X}"),
    ("${A B}", "malformed placeholder ${A B}"),
    ("${A:${B}}", "malformed placeholder ${A:${B}"),
])
def test_malformed_placeholders_are_reported(text, problem):
    assert any(problem in p for p in parse_placeholders(text)[1]), parse_placeholders(text)
    renderer = Renderer({"A": 1, "B": 2, "BACKEND_URL": "x", "HOST": "h"})
    assert renderer.text(text, "/x") == text or renderer.malformed  # never a silent substitution
    assert renderer.malformed


@pytest.mark.parametrize("text, expected", [
    ("$${A}", "${A}"), ("$$${A}", "$${A}"), ("${A}$${B}", "1${B}"), ("cost: $5 ${A}", "cost: $5 1"), ("$", "$"),
])
def test_escapes_and_dollars_stay_as_documented(text, expected):
    renderer = Renderer({"A": 1})
    assert renderer.text(text, "/x") == expected and not renderer.malformed


# -- Vault references: the validator's schema and the modules' parser accept exactly the same texts ------------------
@pytest.mark.parametrize("text, valid", [
    ("vault:secret/data/dev/payment-backend#client_secret", True),
    ("vault:kv/data/a/b/c#k", True),
    ("vault:secret/dev/x#k", False),            # KV v1 form (no data/): the lookup would read the wrong path
    ("vault:secret/data/#k", False),
    ("vault:secret/data//x#k", False),
    ("vault:secret/data/x/#k", False),
    ("vault:secret/data/x#", False),
    ("vault:secret/data/x#a#b", False),
    ("vault:/data/x#k", False),
    ("secret/data/x#k", False),
    ("vault:secret/data/x y#k", False),
])
def test_vault_references_have_one_form_everywhere(text, valid):
    schema_ok = jsonschema.Draft202012Validator(VAULT_REF).is_valid(text)
    try:
        parse_reference(text)
        parsed = True
    except VaultRefError as exc:
        assert "expected vault:<mount>/data/<path>#<key>" in str(exc)
        parsed = False
    assert schema_ok == parsed == valid


def test_the_validator_names_a_reference_without_data(copy):
    refs = copy / "environments/dev/secrets-refs.yaml"
    text = refs.read_text()
    assert "vault:secret/data/" in text
    refs.write_text(text.replace("vault:secret/data/", "vault:secret/", 1))
    problems = validate_checkout(copy)
    assert len(problems) == 1 and problems[0]["file"] == "environments/dev/secrets-refs.yaml"
    assert "does not match" in problems[0]["message"]


def test_docs_state_the_reference_form():
    assert "vault:<mount>/data/<path>#<key>" in (ROOT / "docs/gitops.md").read_text()


# -- fuzz: mutations of the example repository never give a traceback nor a long run ---------------------------------
FILES = sorted(str(p.relative_to(EXAMPLE)) for p in EXAMPLE.rglob("*.yaml"))
TOKENS = ["yes", "no", "on", "ON", "0755", "1:30", "~", "null", "&a", "*a", "*b", "<<: *a", "!!python/object:x",
          "!custom", "%YAML 1.1\n---", "---", "...", "${", "${X", "$${", "}", "{", "[", "]", "- ", ": ", "? ", "|", ">",
          "'", '"', "#", "\t", "\x00", "\ufeff", "\u2028", "\\", "vault:", "vault:secret/x#k", "&a [*a]", "a: &a [*a]"]


@st.composite
def mutation(draw):
    relpath = draw(st.sampled_from(FILES))
    lines = (EXAMPLE / relpath).read_text().split("\n")
    steps = draw(st.lists(st.tuples(st.sampled_from(["insert", "delete", "duplicate", "replace"]),
                                    st.integers(0, 200), st.integers(0, 200),
                                    st.one_of(st.sampled_from(TOKENS), st.text(max_size=12))), min_size=1, max_size=4))
    for action, where, column, token in steps:
        index = where % max(len(lines), 1)
        if action == "insert":
            line = lines[index] if lines else ""
            lines[index:index + 1] = [line[:column % (len(line) + 1)] + token + line[column % (len(line) + 1):]]
        elif action == "delete" and lines:
            del lines[index]
        elif action == "duplicate" and lines:
            lines.insert(index, lines[index])
        elif lines:
            lines[index] = re.sub(r":\s.*$", lambda _m, t=token: ": " + t, lines[index], count=1)
    return relpath, "\n".join(lines)


@pytest.fixture(scope="module")
def fuzz_copy(tmp_path_factory):
    target = tmp_path_factory.mktemp("fuzz") / "gitops"
    shutil.copytree(EXAMPLE, target)
    return target


# Bounded (about 5 s): a fixed set of 15 mutations (derandomized), no shrinking (a failure prints its example as found).
@settings(max_examples=15, deadline=None, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(change=mutation())
def test_fuzz_mutated_repository_gives_problems_never_a_traceback_nor_a_long_run(fuzz_copy, change):
    relpath, text = change
    path = fuzz_copy / relpath
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        started = time.process_time()  # CPU time: other tests sharing the machine do not count
        problems = validate_checkout(fuzz_copy)  # an exception here is the failure
        assert time.process_time() - started < 2.0
        for item in problems:
            assert set(item) == {"file", "line", "field", "message"} and isinstance(item["line"], int)
            assert len(item["message"]) < 2000
    finally:
        shutil.copy(EXAMPLE / relpath, path)


# -- the loader's C fast path (ruamel.yaml.clib) gives what the pure reader gives, or leaves the text to it ----------
LIBYAML_READS_OTHERWISE = [
    "a:\tb\n", "a: b\tc\n", "a: b\x85c: d\n", "a: b\u2028c\n", "a: !\n", 'a: ["b":c]\n', "&ac: !!str\n",
    "a: |#+\n  x\n", "a: |-\n \n  .x\n", "a: {?\n : b}\n", "{a:1}\n", "a: [b:c, d]\n", ": a\n", "--- |\nfoo\n",
    "%YAML 1.3\n---\na: 1\n", 'a: "\\U99999999"\n', "a: !!int\n", "a: !foo#bar 1\n", "a: b\n...\nc: d\n",
    "\n\ufeff.a: b\n",
]


def _both_readers(text, monkeypatch):
    from ansible_collections.stoa.platform.plugins.module_utils import gitops_yaml
    results = []
    for fast in (True, False):
        monkeypatch.setattr(gitops_yaml, "HAS_CLIB", fast)
        try:
            results.append(("ok",) + load_with_lines(text))
        except YamlFileError as exc:
            results.append(("error", str(exc), exc.line, exc.problems))
    return results


@pytest.mark.parametrize("text", LIBYAML_READS_OTHERWISE + [
    "a: 0755\n", "a: !!int 0755\n", "a: 1\na: 2\n", "a: &x {c: 1}\nb:\n  <<: *x\n  d: 2\n", "a:\n-\n- x\n",
    "a: |\n  x\nb: >-\n  y\n\n  z\n", "a: 'it''s'\nb: \"\\x41\\/\"\n", "a: [1, {b: c}]\n", "a: b\n---\nc: d\n",
])
def test_the_c_reader_reads_every_text_as_the_pure_reader_does(text, monkeypatch):
    from ansible_collections.stoa.platform.plugins.module_utils.gitops_yaml import HAS_CLIB
    if not HAS_CLIB:
        pytest.skip("ruamel.yaml.clib is not installed")
    fast, pure = _both_readers(text, monkeypatch)
    assert fast == pure


def test_the_c_reader_reads_the_repository_as_the_pure_reader_does(monkeypatch):
    from ansible_collections.stoa.platform.plugins.module_utils.gitops_yaml import HAS_CLIB, PURE_ONLY
    if not HAS_CLIB:
        pytest.skip("ruamel.yaml.clib is not installed")
    files = sorted(EXAMPLE.rglob("*.yaml")) + sorted(BUGS.rglob("*.yaml"))
    assert len(files) > 20
    for path in files:
        text = path.read_text()
        fast, pure = _both_readers(text, monkeypatch)
        assert fast == pure, path
    assert not any(PURE_ONLY.search(p.read_text()) for p in EXAMPLE.rglob("*.yaml"))  # the fast path is taken
