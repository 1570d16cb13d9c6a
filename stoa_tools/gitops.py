"""stoa-gitops: check and render a GitOps checkout the way the playbooks will read it.

  stoa-gitops validate [ROOT]                 every problem, as FILE:LINE: FIELD: MESSAGE; exit 1 if any
  stoa-gitops render ROOT TENANT API ENV      the API's description for ENV, as YAML
  stoa-gitops schemas DIR                     write the JSON Schemas of every kind to DIR

The GitOps repository's own CI can run `stoa-gitops validate .` on every merge request.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from . import _COLLECTIONS  # noqa: F401  (puts the collection on sys.path)
from ansible_collections.stoa.platform.plugins.module_utils.gitops_resolver import (  # noqa: E402
    ResolveError,
    render_api,
)
from ansible_collections.stoa.platform.plugins.module_utils.gitops_schemas import SCHEMAS  # noqa: E402
from ansible_collections.stoa.platform.plugins.module_utils.gitops_validate import (  # noqa: E402
    format_problem,
    validate_checkout,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stoa-gitops", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check schemas and cross-references")
    validate.add_argument("root", nargs="?", default=".")
    validate.add_argument("--json", action="store_true", help="print the problems as a JSON list")
    render = commands.add_parser("render", help="render one API for one environment")
    for name in ("root", "tenant", "api", "environment"):
        render.add_argument(name)
    schemas = commands.add_parser("schemas", help="write the JSON Schemas")
    schemas.add_argument("directory")
    args = parser.parse_args(argv)

    if args.command == "validate":
        problems = validate_checkout(args.root)
        if args.json:
            print(json.dumps(problems, indent=2))
        else:
            for problem in problems:
                print(format_problem(problem))
            print(f"{len(problems)} problem(s) in {Path(args.root).resolve()}", file=sys.stderr)
        return 1 if problems else 0
    if args.command == "render":
        try:
            rendered, _variables, _origin = render_api(args.root, args.tenant, args.api, args.environment)
        except ResolveError as exc:
            print(f"stoa-gitops: {exc}", file=sys.stderr)
            return 1
        yaml.safe_dump(rendered, sys.stdout, sort_keys=False)
        return 0
    target = Path(args.directory)
    target.mkdir(parents=True, exist_ok=True)
    for kind, schema in SCHEMAS.items():
        (target / f"{kind}.schema.json").write_text(json.dumps(schema, indent=2) + "\n")
    print(f"{len(SCHEMAS)} schemas written to {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
