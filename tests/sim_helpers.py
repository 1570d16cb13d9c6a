"""An in-process gateway simulator for tests: one server per session, reset per test.

The same code as ``stoa-gateway-sim`` (what ``make services-up`` runs), started
in a thread on a free port so each test begins from a fresh gateway.
"""
from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

import requests

from gateway_simulator.http import Gateway, serve


@dataclass
class RunningSimulator:
    url: str
    username: str
    password: str
    gateway: Gateway

    @property
    def env(self) -> dict[str, str]:
        return {"STOA_GATEWAY_URL": self.url, "STOA_GATEWAY_USERNAME": self.username,
                "STOA_GATEWAY_PASSWORD": self.password}

    def requests(self) -> list[dict]:
        return requests.get(f"{self.url}/_sim/requests", timeout=5).json()

    def clear_log(self) -> None:
        requests.delete(f"{self.url}/_sim/requests", timeout=5).raise_for_status()

    def reset(self) -> None:
        requests.post(f"{self.url}/_sim/reset", timeout=5).raise_for_status()

    def non_get_requests(self) -> list[dict]:
        return [r for r in self.requests() if r["method"] != "GET"]


def start() -> tuple[RunningSimulator, object]:
    password = secrets.token_urlsafe(12)
    gateway = Gateway("Administrator", password)
    server = serve(gateway, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return RunningSimulator(url, "Administrator", password, gateway), server
