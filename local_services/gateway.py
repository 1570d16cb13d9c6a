"""The webMethods API Gateway simulator (``stoa-gateway-sim``) as local services, one per environment.

The real gateway cannot run here; the simulator answers its admin REST API on
127.0.0.1. The design runs one gateway per environment, so there are three:
``gateway`` (dev, 15555), ``gateway-staging`` (15556) and ``gateway-prod``
(15557). Like a real gateway each keeps what it holds across restarts: the
simulator's ``--state`` file, ``.stoa/<name>/state.json`` (APIs with their ids,
documents, aliases, applications, policies), is saved on every write. The
admin password is random, made once with that state
(``.stoa/<name>/admin-password``, 0600) and published in ``.stoa/services.env``;
``make clean`` removes both.
"""
from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from . import paths
from .process import Service


@dataclass
class GatewaySimulator(Service):
    name: str = "gateway"
    environment: str = "dev"
    port: int = int(os.environ.get("STOA_GATEWAY_PORT", "15555"))
    start_timeout: float = 30.0
    username: str = "Administrator"

    def __post_init__(self) -> None:
        self.ports = (self.port,)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def password_file(self) -> Path:
        return paths.state(self.name, "admin-password")

    def password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def state_file(self) -> Path:
        return paths.state(self.name, "state.json")

    def prepare(self) -> None:
        # Made once, kept with the state (as a real gateway keeps its administrator's password).
        if not self.password_file.exists():
            paths.write_private(self.password_file, secrets.token_urlsafe(18))

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gateway_simulator", "--port", str(self.port),
                "--username", self.username, "--password-file", str(self.password_file),
                "--state", str(self.state_file)]

    def healthy(self) -> bool:
        return requests.get(f"{self.url}/rest/apigateway/health", timeout=2).status_code == 200

    def endpoints(self) -> dict[str, str]:
        prefix = "STOA_GATEWAY_%s_" % self.environment.upper()
        found = {prefix + "URL": self.url, prefix + "USERNAME": self.username, prefix + "PASSWORD": self.password()}
        if self.environment == "dev":  # the default gateway of tests and of operators' shells
            found.update(STOA_GATEWAY_URL=self.url, STOA_GATEWAY_USERNAME=self.username,
                         STOA_GATEWAY_PASSWORD=self.password())
        return found


@dataclass
class StagingGatewaySimulator(GatewaySimulator):
    name: str = "gateway-staging"
    environment: str = "staging"
    port: int = int(os.environ.get("STOA_GATEWAY_STAGING_PORT", "15556"))


@dataclass
class ProdGatewaySimulator(GatewaySimulator):
    name: str = "gateway-prod"
    environment: str = "prod"
    port: int = int(os.environ.get("STOA_GATEWAY_PROD_PORT", "15557"))
