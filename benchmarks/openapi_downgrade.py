"""Our OpenAPI 3.1 -> 3.0 converter against the best existing one, in the same run.

    make bench-openapi        (or: .venv/bin/python benchmarks/openapi_downgrade.py)

The peer is @apiture/openapi-down-convert 0.14.2 (npm), installed by this
script into .cache/bench/. Both tools run as command-line programs on every
document of shared/openapi31/corpus and hardcases, each output is validated
as OpenAPI 3.0 with openapi-spec-validator, and the wall times (best of
--repeat runs, process start-up included for both) are printed with their
ratio. A second table converts growing copies of the largest document to show
how each tool scales. This is a measurement, not a test: it asserts nothing.
"""
from __future__ import annotations

import argparse
import copy
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import stoa_tools  # noqa: E402,F401  (puts the collection on sys.path)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import (  # noqa: E402
    load_document,
    openapi30_errors,
)

SHARED = ROOT.parent / "shared" / "openapi31"
ANCHOR_PACKAGE = "@apiture/openapi-down-convert@0.14.2"
ANCHOR_DIR = ROOT / ".cache" / "bench" / "openapi-down-convert"
OURS = Path(sys.executable).parent / "stoa-openapi-downgrade"


def install_anchor() -> Path:
    cli = ANCHOR_DIR / "node_modules" / ".bin" / "openapi-down-convert"
    if not cli.exists():
        if not shutil.which("npm"):
            sys.exit("npm is needed to install the peer converter")
        ANCHOR_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(ANCHOR_DIR),
                        ANCHOR_PACKAGE], check=True)
    return cli


def timed(argv: list[str], repeat: int) -> tuple[float, int]:
    best, code = float("inf"), 0
    for _ in range(repeat):
        began = time.perf_counter()
        code = subprocess.run(argv, capture_output=True, check=False).returncode
        best = min(best, time.perf_counter() - began)
    return best, code


def valid_30(path: Path, exit_code: int) -> bool:
    if exit_code != 0 or not path.exists() or path.stat().st_size == 0:
        return False
    try:
        document, _ = load_document(path.read_text(encoding="utf-8"), str(path))
        return str(document.get("openapi", "")).startswith("3.0") and not openapi30_errors(document, limit=1)
    except Exception:  # noqa: BLE001 - unreadable output is an invalid output
        return False


def run_pair(source: Path, anchor: Path, workdir: Path, repeat: int) -> dict:
    anchor_out = workdir / ("anchor-" + source.name)
    our_out = workdir / ("ours-" + source.name)
    anchor_seconds, anchor_code = timed([str(anchor), "--input", str(source), "--output", str(anchor_out)], repeat)
    our_seconds, our_code = timed([str(OURS), "--quiet", str(source), str(our_out)], repeat)
    return {
        "file": source.name,
        "bytes": source.stat().st_size,
        "anchor_valid": valid_30(anchor_out, anchor_code),
        "ours_valid": valid_30(our_out, our_code),
        "anchor_s": anchor_seconds,
        "ours_s": our_seconds,
    }


def scaled_document(base: dict, factor: int) -> dict:
    """``factor`` copies of every component schema and path, renamed, references kept consistent."""
    text = json.dumps(base)
    result = copy.deepcopy(base)
    result["paths"], result["components"]["schemas"] = {}, {}
    for n in range(factor):
        suffix = f"_{n}"
        copy_n = json.loads(text.replace("#/components/schemas/", "#/components/schemas/S" + suffix + "_"))
        for name, schema in copy_n.get("components", {}).get("schemas", {}).items():
            result["components"]["schemas"][f"S{suffix}_{name}"] = schema
        for path, item in copy_n.get("paths", {}).items():
            result["paths"][f"/c{n}{path}"] = item
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and file; the best counts")
    parser.add_argument("--scale", default="1,2,4,8", help="copies of the largest document for the scaling table")
    args = parser.parse_args()

    anchor = install_anchor()
    files = sorted(p for p in (SHARED / "corpus").glob("*") if p.suffix in (".json", ".yaml", ".yml"))
    files += sorted((SHARED / "hardcases").glob("*.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows = [run_pair(f, anchor, workdir, args.repeat) for f in files]

        print(f"{'file':<44} {'KiB':>8} {'anchor ok':>9} {'ours ok':>7} {'anchor s':>9} {'ours s':>8} {'ratio':>6}")
        for r in rows:
            print(f"{r['file']:<44} {r['bytes'] / 1024:8.1f} {'yes' if r['anchor_valid'] else 'NO':>9} "
                  f"{'yes' if r['ours_valid'] else 'NO':>7} {r['anchor_s']:9.3f} {r['ours_s']:8.3f} "
                  f"{r['ours_s'] / r['anchor_s']:6.2f}")
        anchor_total = sum(r["anchor_s"] for r in rows)
        ours_total = sum(r["ours_s"] for r in rows)
        print(f"\nvalid 3.0 outputs: anchor {sum(r['anchor_valid'] for r in rows)}/{len(rows)}, "
              f"ours {sum(r['ours_valid'] for r in rows)}/{len(rows)}")
        print(f"total seconds: anchor {anchor_total:.3f}, ours {ours_total:.3f}; "
              f"ours/anchor = {ours_total / anchor_total:.3f}")

        largest = max(files, key=lambda p: p.stat().st_size)
        base, _ = load_document(largest.read_text(encoding="utf-8"))
        print(f"\nscaling: copies of {largest.name}")
        print(f"{'copies':>6} {'MiB':>7} {'anchor s':>9} {'ours s':>8} {'ratio':>6}")
        for factor in (int(x) for x in args.scale.split(",")):
            source = workdir / f"scaled-{factor}.json"
            source.write_text(json.dumps(scaled_document(base, factor)))
            anchor_s, _ = timed([str(anchor), "--input", str(source), "--output", str(workdir / "a.json")], 1)
            ours_s, _ = timed([str(OURS), "--quiet", str(source), str(workdir / "o.json")], 1)
            print(f"{factor:6d} {source.stat().st_size / 2**20:7.2f} {anchor_s:9.3f} {ours_s:8.3f} "
                  f"{ours_s / anchor_s:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
