"""`stoa-services up|down|status [SERVICE...]`: what the make targets call."""
from __future__ import annotations

import argparse
import sys

from . import paths, registry
from .process import ServiceError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stoa-services", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("services", nargs="*", metavar="SERVICE",
                        help=f"default: all of {', '.join(registry.SERVICES)}")
    args = parser.parse_args(argv)
    names = args.services or None
    try:
        if args.action == "up":
            for outcome in registry.up(names):
                verb = "started" if outcome.started else "already running"
                print(f"{outcome.name:<9} {verb:<16} healthy after {outcome.seconds:6.1f}s")
            print(f"endpoints: {paths.ENV_FILE}")
        elif args.action == "down":
            stopped = registry.down(names)
            print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        elif args.action == "status":
            states = registry.status()
            for name, state in states.items():
                print(f"{name:<9} {state}")
            return 0 if all(s == "healthy" for s in states.values()) else 3
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
