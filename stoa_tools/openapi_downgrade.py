"""stoa-openapi-downgrade IN [OUT]: OpenAPI 3.1 -> 3.0.3, warnings on stderr.

Relative $refs to other files are resolved against IN, converted and bundled
into components (files under --ref-root only, default IN's directory); any
other reference that cannot be resolved is an error naming its JSON pointer.

Exit status: 0 converted (or already 3.0/2.0), 1 the document cannot be read
or converted, 3 --strict and a lossy change was needed, 4 --validate failed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import _COLLECTIONS  # noqa: F401  (puts the collection on sys.path)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_document import (  # noqa: E402
    DocumentError,
    dump_document,
    load_document,
    openapi30_errors,
)
from ansible_collections.stoa.platform.plugins.module_utils.openapi_downgrade import downgrade  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stoa-openapi-downgrade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="OpenAPI document (JSON or YAML); - for standard input")
    parser.add_argument("dest", nargs="?", help="where to write the result (default: standard output)")
    parser.add_argument("--format", choices=["json", "yaml"], help="output format (default: the source's)")
    parser.add_argument("--strict", action="store_true", help="fail when a change loses meaning")
    parser.add_argument("--validate", action="store_true", help="validate the result as OpenAPI 3.0")
    parser.add_argument("--webmethods", action="store_true",
                        help="then apply the webMethods 10.15 import fixes (after --validate)")
    parser.add_argument("--quiet", action="store_true", help="do not print warnings")
    parser.add_argument("--ref-root", metavar="DIR",
                        help="relative $refs may bundle files under DIR only (default: the source's directory)")
    args = parser.parse_args(argv)

    name = "standard input" if args.source == "-" else args.source
    try:
        text = sys.stdin.read() if args.source == "-" else Path(args.source).read_text(encoding="utf-8")
        document, source_format = load_document(text, name)
        converted, warnings, version = downgrade(document, None if args.source == "-" else args.source,
                                                 args.ref_root)
    except (OSError, UnicodeDecodeError, DocumentError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        for warning in warnings:
            kind = "warning" if warning["lossy"] else "note"
            print(f"{kind}: {warning['pointer']}: {warning['message']}", file=sys.stderr)
    lossy = [w for w in warnings if w["lossy"]]
    if args.strict and lossy:
        print(f"error: --strict: {len(lossy)} lossy change(s) needed, nothing written", file=sys.stderr)
        return 3
    if args.validate:
        try:
            errors = openapi30_errors(converted)
        except DocumentError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 4
        if errors:
            print("error: the result is not valid OpenAPI 3.0:\n  " + "\n  ".join(errors), file=sys.stderr)
            return 4
    if args.webmethods:
        # Imported here: most runs do not ask for the gateway fixes (each import costs start-up time).
        from ansible_collections.stoa.platform.plugins.module_utils.openapi_webmethods import (
            apply_webmethods_fixes,
        )

        converted, fixes = apply_webmethods_fixes(converted)
        if not args.quiet:
            for fix in fixes:
                print(f"gateway fix: {fix['pointer']}: {fix['message']}", file=sys.stderr)
    output = dump_document(converted, args.format or source_format)
    if args.dest:
        Path(args.dest).write_text(output, encoding="utf-8")
    else:
        sys.stdout.write(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
