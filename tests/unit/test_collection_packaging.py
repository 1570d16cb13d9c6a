"""The collection is found from the repository root and builds as a Galaxy tarball."""
from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "collections" / "ansible_collections" / "stoa" / "platform"
BIN = Path(sys.executable).parent


def run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)


def test_collection_is_found_from_the_repository_root():
    listed = run(str(BIN / "ansible-galaxy"), "collection", "list", "stoa.platform")
    assert listed.returncode == 0, listed.stderr
    assert str(ROOT / "collections" / "ansible_collections") in listed.stdout
    assert "stoa.platform" in listed.stdout

    docs = run(str(BIN / "ansible-doc"), "-l", "stoa.platform")
    assert docs.returncode == 0, docs.stderr
    assert "ERROR" not in docs.stderr


def test_galaxy_build_produces_a_tarball_with_the_metadata(tmp_path):
    built = run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), cwd=COLLECTION)
    assert built.returncode == 0, built.stderr
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    tarball = tmp_path / f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"
    assert tarball.exists(), built.stdout
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {"MANIFEST.json", "FILES.json", "meta/runtime.yml", "README.md"} <= names
    assert not any(n.startswith("tests/output") for n in names)


def test_module_documentation_renders():
    listed = run(str(BIN / "ansible-doc"), "-l", "stoa.platform")
    assert "stoa.platform.openapi_downgrade" in listed.stdout
    rendered = run(str(BIN / "ansible-doc"), "stoa.platform.openapi_downgrade")
    assert rendered.returncode == 0, rendered.stderr
    for section in ("OPTIONS", "EXAMPLES", "RETURN VALUES", "conversion_warnings", "webmethods_fixes"):
        assert section in rendered.stdout


def test_gateway_modules_render_with_the_connection_fragment():
    listed = run(str(BIN / "ansible-doc"), "-l", "stoa.platform")
    for module in ("stoa.platform.gateway_api", "stoa.platform.gateway_api_info", "stoa.platform.gateway_alias",
                   "stoa.platform.gateway_strategy", "stoa.platform.gateway_application",
                   "stoa.platform.gateway_scope_mapping"):
        assert module in listed.stdout
        rendered = run(str(BIN / "ansible-doc"), module)
        assert rendered.returncode == 0, rendered.stderr
        # The doc fragment's options and the module's own both render.
        for section in ("OPTIONS", "EXAMPLES", "RETURN VALUES", "gateway_url", "STOA_GATEWAY_PASSWORD"):
            assert section in rendered.stdout, (module, section)
    assert "rate_limit" in run(str(BIN / "ansible-doc"), "stoa.platform.gateway_api").stdout


def test_gateway_action_group_lists_the_gateway_modules():
    runtime = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())
    modules = {p.stem for p in (COLLECTION / "plugins" / "modules").glob("gateway_*.py")}
    assert set(runtime["action_groups"]["gateway"]) == modules


def test_vault_fragment_and_lookup_render():
    alias = run(str(BIN / "ansible-doc"), "stoa.platform.gateway_alias").stdout
    assert "VAULT_ADDR" in alias and "stoa-secrets" in alias
    lookup = run(str(BIN / "ansible-doc"), "-t", "lookup", "stoa.platform.vault_ref")
    assert lookup.returncode == 0, lookup.stderr
    assert "VAULT_TOKEN" in lookup.stdout and "_raw" in lookup.stdout


def test_roles_have_argument_specs():
    roles = sorted(p.name for p in (COLLECTION / "roles").iterdir() if p.is_dir())
    assert roles
    for role in roles:
        specs = yaml.safe_load((COLLECTION / "roles" / role / "meta" / "argument_specs.yml").read_text())
        assert specs["argument_specs"]["main"]["options"], role


def test_vault_and_keycloak_modules_render():
    for module, words in (("stoa.platform.vault_secret_rotate", ("VAULT_ADDR", "check-and-set", "pending")),
                          ("stoa.platform.keycloak_client_secret", ("KEYCLOAK_URL", "VAULT_TOKEN"))):
        rendered = run(str(BIN / "ansible-doc"), module)
        assert rendered.returncode == 0, rendered.stderr
        for word in words:
            assert word in rendered.stdout, (module, word)


def test_gitops_modules_render():
    for module in ("stoa.platform.gitops_validate", "stoa.platform.gitops_api_config", "stoa.platform.gitops_request",
                   "stoa.platform.keycloak_tenant", "stoa.platform.keycloak_platform_realm"):
        rendered = run(str(BIN / "ansible-doc"), module)
        assert rendered.returncode == 0, rendered.stderr
        assert "EXAMPLES" in rendered.stdout and "RETURN VALUES" in rendered.stdout


def test_every_plugin_renders():
    """Every module, lookup, callback and filter of the collection has documentation ansible-doc can render."""
    plugins = COLLECTION / "plugins"
    kinds = {"module": sorted(p.stem for p in (plugins / "modules").glob("*.py")),
             "lookup": sorted(p.stem for p in (plugins / "lookup").glob("*.py")),
             "callback": sorted(p.stem for p in (plugins / "callback").glob("*.py")),
             "filter": sorted(p.stem for p in (plugins / "filter").glob("*.yml"))}
    for kind, names in kinds.items():
        assert names, kind
        rendered = run(str(BIN / "ansible-doc"), "-t", kind, *["stoa.platform." + n for n in names])
        assert rendered.returncode == 0, (kind, rendered.stderr)
        for name in names:
            assert "stoa.platform." + name in rendered.stdout, (kind, name)
