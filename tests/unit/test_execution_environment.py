"""The execution environment definition: ansible-builder create succeeds and the context has what the jobs need."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EE = ROOT / "execution-environment"


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[name.lower().replace("_", "-")] = version
    return found


def test_ansible_builder_create_writes_the_context(tmp_path):
    context = tmp_path / "context"
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-builder"), "create", "-f",
                             str(EE / "execution-environment.yml"), "-c", str(context)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # "Dockerfile" unless --output-filename asks for a Containerfile.
    containerfile = (context / "Dockerfile").read_text()
    assert "quay.io/centos/centos:stream9" in containerfile and "COPY _build/stoa_platform /build/stoa_platform" in containerfile
    build = context / "_build"
    assert (build / "stoa_platform" / "galaxy.yml").exists()
    assert (build / "stoa_platform" / "plugins" / "modules" / "gateway_api.py").exists()
    requirements = (build / "requirements.txt").read_text()
    for library in ("hvac", "python-keycloak", "confluent-kafka", "jsonschema", "openapi-spec-validator",
                    "ruamel.yaml"):
        assert library in requirements, library
    assert "git" in (build / "bindep.txt").read_text()


def test_python_pins_are_the_repository_pins():
    image, repository = pins(EE / "requirements.txt"), pins(ROOT / "constraints.txt")
    assert image and all(repository.get(name) == version for name, version in image.items()), (image, repository)
