"""The docs match the behaviour (issue #18, point 5): the env file as the README sources it, the collection
installed for a GitOps repository's CI, every repository file a doc cites, the ansible-playbook examples' -e."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ansible.parsing.splitter import parse_kv

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COLLECTION = ROOT / "collections" / "ansible_collections" / "stoa" / "platform"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), COLLECTION / "README.md"]
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))


def test_the_env_file_sourced_as_the_readme_says_is_exported(tmp_path):
    line = next(x for x in (ROOT / "README.md").read_text().splitlines() if ".stoa/services.env" in x
                and x.lstrip().startswith(("set -a", "source", ". ")))
    command = line.split("#")[0].strip()
    # The file as local_services writes it, with a value that needs quoting.
    writer = ("import sys; from local_services import registry; registry.endpoints = lambda: "
              "{'STOA_GATEWAY_DEV_URL': 'http://127.0.0.1:25555', 'STOA_X': 'two words $HOME'}; "
              "registry.write_env_file()")
    subprocess.run([sys.executable, "-c", writer], cwd=ROOT, check=True,
                   env={**os.environ, "STOA_STATE_DIR": str(tmp_path / ".stoa")})
    shown = subprocess.run(["bash", "-c", f"{command}\n{sys.executable} -c 'import os, json; print(json.dumps("
                            "{k: os.environ.get(k) for k in (\"STOA_GATEWAY_DEV_URL\", \"STOA_X\")}))'"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    assert json.loads(shown.stdout) == {"STOA_GATEWAY_DEV_URL": "http://127.0.0.1:25555", "STOA_X": "two words $HOME"}


def test_the_collection_installs_from_its_tarball_and_validates_a_repository(tmp_path):
    """docs/gitops.md, "In the GitOps repository's CI": build, install into a directory, validate from outside."""
    dist, installed = tmp_path / "dist", tmp_path / "collections"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(COLLECTION), "--output-path", str(dist)],
                   cwd=tmp_path, check=True, capture_output=True)
    tarball = next(dist.glob("stoa-platform-*.tar.gz"))
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(installed)],
                   cwd=tmp_path, check=True, capture_output=True)
    repo = tmp_path / "gitops"
    shutil.copytree(ROOT / "examples" / "gitops", repo)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", PATH=f"{BIN}:{env.get('PATH', '')}")
    validate = [str(BIN / "ansible"), "localhost", "-m", "stoa.platform.gitops_validate", "-a", "path=."]
    valid = subprocess.run(validate, cwd=repo, env=env, capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    tenants = repo / "iam" / "tenants.yaml"
    tenants.write_text(tenants.read_text().replace("status: active", "status: enabled", 1))
    broken = subprocess.run(validate, cwd=repo, env=env, capture_output=True, text=True)
    assert broken.returncode != 0
    assert "'enabled' is not one of ['active', 'suspended', 'archived']" in broken.stdout
    assert "[WARNING]" not in broken.stdout + broken.stderr


PATHLIKE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)+[\w.-]+\.(?:md|py|yml|yaml|json|cfg|toml|txt|sh|sql|j2))\b")
LINK = re.compile(r"\]\(([^)#\s]+)")
BACKTICKED = re.compile(r"`([\w.-]+(?:/[\w.-]+)+/?)`")
TOP = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}


def cited_paths(text: str):
    for number, line in enumerate(text.splitlines(), 1):
        found = [m.group(1) for m in PATHLIKE.finditer(line)] + [m.group(1) for m in LINK.finditer(line)]
        found += [m.group(1) for m in BACKTICKED.finditer(line) if m.group(1).split("/")[0] in TOP]
        for path in found:
            # .stoa/ and tests/output/ are written when things run (git-ignored), not files of the repository.
            if path.startswith(("http:", "https:", ".stoa/", "tests/output/", "/")) \
                    or re.search(r"[<>*{}$]|YYYY|\.\.\.", path):
                continue
            yield number, path


def exists(doc: Path, path: str) -> bool:
    """The path relative to the repository, the doc, the collection (and its plugins), a top-level package
    (docs/receiver.md's module table), or a file of the example GitOps repository (its own layout)."""
    bases = [ROOT, doc.parent, COLLECTION, COLLECTION / "plugins"] + [ROOT / top for top in TOP]
    if any((base / path).exists() for base in bases):
        return True
    return any(str(p).endswith("/" + path.rstrip("/")) for p in (ROOT / "examples" / "gitops").rglob("*"))


def test_every_file_a_doc_cites_is_in_the_repository():
    missing = [f"{doc.relative_to(ROOT)}:{line}: {path}" for doc in DOCS
               for line, path in cited_paths(doc.read_text()) if not exists(doc, path)]
    assert missing == []


def examples():
    """Each ansible-playbook command of the docs' code blocks and the playbooks' header comments, joined."""
    for source in DOCS + PLAYBOOKS:
        text = source.read_text()
        if source.suffix == ".yml":
            text = "\n".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
        joined = re.sub(r"\\\n\s*", " ", text)
        for line in joined.splitlines():
            if "ansible-playbook " in line:
                yield source, line[line.index("ansible-playbook "):].split("  #")[0].rstrip("`")


def test_every_extra_var_of_the_examples_is_one_variable_as_written():
    """-e justification="New search" reaches ansible-playbook as `justification=New search`: two words, one
    of them no k=v. Every -e of an example must parse to exactly the variable it names."""
    checked, wrong = 0, []
    for source, command in examples():
        try:
            words = shlex.split(command.replace("<", "'<").replace(">", ">'"))
        except ValueError as exc:
            wrong.append(f"{source.name}: {command}: {exc}")
            continue
        for flag, value in zip(words, words[1:]):
            if flag not in ("-e", "--extra-vars") or value.startswith(("@", "{", "[")):
                continue
            checked += 1
            parsed = parse_kv(value)
            if len(parsed) != 1 or "_raw_params" in parsed:
                wrong.append(f"{source.name}: -e {value!r} gives {sorted(parsed)}")
    assert checked > 20 and wrong == []
