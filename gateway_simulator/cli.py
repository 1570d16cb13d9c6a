"""``stoa-gateway-sim``: run the webMethods API Gateway simulator on 127.0.0.1."""
from __future__ import annotations

import argparse
import os
import signal
import sys

from .http import Gateway, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stoa-gateway-sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5555)
    parser.add_argument("--state", help="JSON file that keeps the state across restarts")
    parser.add_argument("--username", default=os.environ.get("STOA_GATEWAY_SIM_USERNAME", "Administrator"))
    parser.add_argument("--password-file", help="file holding the admin password "
                        "(default: $STOA_GATEWAY_SIM_PASSWORD, else the trial's 'manage')")
    parser.add_argument("--token-file", help="file holding a bearer token that is accepted too")
    args = parser.parse_args(argv)

    password = os.environ.get("STOA_GATEWAY_SIM_PASSWORD", "manage")
    if args.password_file:
        password = open(args.password_file, encoding="utf-8").read().strip()
    token = open(args.token_file, encoding="utf-8").read().strip() if args.token_file else None
    server = serve(Gateway(args.username, password, token, args.state), args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: (server.server_close(), sys.exit(0)))
    print(f"stoa-gateway-sim listening on http://{args.host}:{server.server_address[1]}/rest/apigateway", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
