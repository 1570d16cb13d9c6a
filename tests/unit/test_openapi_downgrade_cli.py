"""stoa-openapi-downgrade, the command line over the converter."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

CLI = Path(sys.executable).parent / "stoa-openapi-downgrade"
SOURCE = """openapi: 3.1.0
info: {title: t, version: '1'}
paths: {}
components:
  schemas:
    A: {type: [string, 'null'], propertyNames: {maxLength: 3}}
"""


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)


def test_converts_and_reports_on_stderr(tmp_path):
    source = tmp_path / "in.yaml"
    source.write_text(SOURCE)
    result = run(str(source), str(tmp_path / "out.json"), "--format", "json", "--validate")
    assert result.returncode == 0, result.stderr
    assert "warning: /components/schemas/A/propertyNames" in result.stderr
    written = yaml.safe_load((tmp_path / "out.json").read_text())
    assert written["components"]["schemas"]["A"]["nullable"] is True
    assert (tmp_path / "out.json").read_text().lstrip().startswith("{")


def test_strict_refuses_lossy_changes_and_writes_nothing(tmp_path):
    result = run("-", str(tmp_path / "out.yaml"), "--strict", stdin=SOURCE)
    assert result.returncode == 3
    assert not (tmp_path / "out.yaml").exists()


def test_invalid_document_names_the_place_without_a_traceback():
    result = run("-", stdin="openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {'/a': {get: {parameters: [3]}}}\n")
    assert result.returncode == 1
    assert "/paths/~1a/get/parameters/0" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_yaml_gives_the_line():
    result = run("-", stdin="openapi: 3.1.0\ninfo: [unclosed\n")
    assert result.returncode == 1
    assert "line" in result.stderr and "Traceback" not in result.stderr
