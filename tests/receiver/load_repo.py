"""A GitOps remote with many APIs and one commit per API change, built fast with ``git fast-import``.

Used by the crash test and the ingest benchmark: commit 0 creates ``count`` APIs of
``tenant-load``; commit ``i`` (1..count) changes API ``i - 1`` only. Returns the SHAs, so
that push payloads ``before = shas[i-1], after = shas[i]`` can be posted.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

TENANT = "tenant-load"


def api_name(n: int) -> str:
    return f"api-{n:04d}"


def _blob(text: str) -> bytes:
    data = text.encode()
    return b"data %d\n" % len(data) + data + b"\n"


def build(path: Path, count: int, apis: int | None = None) -> tuple[Path, list[str]]:
    """``path/load.git`` (bare) with ``count + 1`` commits on main; returns (remote, [sha0, sha1, ...]).

    Commit ``i`` changes API ``(i - 1) % apis`` (``apis`` defaults to ``count``: one API per commit)."""
    apis = apis or count
    remote = path / "load.git"
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(remote)], check=True)
    stream = bytearray()
    stamp = 1_795_000_000

    def commit(n: int, message: str, files: dict[str, str]) -> None:
        stream.extend(b"commit refs/heads/main\nmark :%d\n" % (n + 1))
        stream.extend(b"committer Load <load@stoa.local> %d +0000\n" % (stamp + n))
        stream.extend(_blob(message)[:-1])
        if n:
            stream.extend(b"from :%d\n" % n)
        for file_path, text in files.items():
            stream.extend(b"M 100644 inline " + file_path.encode() + b"\n" + _blob(text))
        stream.extend(b"\n")

    first = {}
    for n in range(apis):
        root = f"tenants/{TENANT}/apis/{api_name(n)}"
        first[f"{root}/api.yaml"] = f"apiVersion: stoa.cab-i.com/v1\nkind: API\nmetadata: {{name: {api_name(n)}}}\n"
        first[f"{root}/openapi.yaml"] = "openapi: 3.0.3\ninfo: {title: load, version: 1.0.0}\npaths: {}\n"
        first[f"{root}/environments/dev.yaml"] = "variables: {}\n"
    commit(0, "load: every API", first)
    for n in range(count):
        commit(n + 1, f"load: change {api_name(n % apis)}",
               {f"tenants/{TENANT}/apis/{api_name(n % apis)}/openapi.yaml":
                f"openapi: 3.0.3\ninfo: {{title: load {n}, version: 1.0.1}}\npaths: {{}}\n"})
    marks = path / "marks"
    subprocess.run(["git", "fast-import", "--quiet", f"--export-marks={marks}"], cwd=remote, input=bytes(stream),
                   check=True)
    shas = {}
    for line in marks.read_text().splitlines():
        mark, sha = line.split()
        shas[int(mark[1:]) - 1] = sha
    return remote, [shas[n] for n in range(count + 1)]
