"""``stoa-awx-sim``: run the AWX 24.6.1 API simulator (``/api/v2/...`` and ``/_sim/...``)."""
from __future__ import annotations

import argparse
import os
import signal
import sys

from .http import serve
from .seed import DEFAULT_OBJECTS_FILE, load_objects
from .simulator import Simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stoa-awx-sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8052)
    parser.add_argument("--token", default=os.environ.get("STOA_AWX_SIM_TOKEN"),
                        help="bearer token accepted (default: $STOA_AWX_SIM_TOKEN)")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default=os.environ.get("STOA_AWX_SIM_PASSWORD"),
                        help="password of --username for Basic auth and /api/login/ (default: $STOA_AWX_SIM_PASSWORD)")
    parser.add_argument("--state", help="JSON file that keeps objects, jobs and launches across restarts")
    parser.add_argument("--objects", default=str(DEFAULT_OBJECTS_FILE),
                        help="AWX objects to seed (default: the repository's awx/objects.yml; '' for a bare AWX)")
    parser.add_argument("--pending-seconds", type=float, help="time a job stays pending (default 0.05)")
    parser.add_argument("--running-seconds", type=float, help="time a job runs (default 0.1)")
    args = parser.parse_args(argv)
    if not args.token and not args.password:
        parser.error("give --token and/or --password (else nothing could authenticate)")

    sim = Simulator(token=args.token, username=args.username, password=args.password, state_file=args.state,
                    objects=load_objects(args.objects) if args.objects else {})
    durations = {k: v for k, v in (("pending_seconds", args.pending_seconds),
                                   ("running_seconds", args.running_seconds)) if v is not None}
    if durations:
        sim.configure(**durations)
    server = serve(sim, args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: (server.server_close(), sys.exit(0)))
    print(f"stoa-awx-sim listening on http://{args.host}:{server.server_address[1]}/api/v2/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
