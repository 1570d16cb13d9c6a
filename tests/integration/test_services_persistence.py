"""The local platform keeps its data across restarts: OpenBao's storage and the gateway simulators' state.

Each test runs its own server through the launcher (local_services), on free ports and with its own state
directory, so the shared services of the session (and of the people using them) are never restarted.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid

import hvac
import pytest

import stoa_tools  # noqa: F401  (the collection on sys.path)
from ansible_collections.stoa.platform.plugins.module_utils.gateway_client import GatewayClient
from local_services import paths
from local_services.gateway import GatewaySimulator
from local_services.process import ServiceError, pid_alive
from local_services.vault import Vault, bao_binary

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "STATE_DIR", tmp_path / ".stoa")
    monkeypatch.setattr(paths, "ENV_FILE", tmp_path / ".stoa" / "services.env")
    return tmp_path / ".stoa"


@pytest.fixture
def vault(state_dir):
    service = Vault(port=free_port(), cluster_port=free_port())
    yield service
    service.stop()


def bring_up(service) -> bool:
    """What registry.up does for one service."""
    started = service.start()
    service.wait_healthy()
    if started:
        service.after_start()
    return started


def kv(service: Vault, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=service.address, token=token or service.token())


def test_openbao_keeps_a_kv2_secret_across_a_restart_through_the_launcher(vault, state_dir):
    assert bring_up(vault) is True
    init = state_dir / "vault" / "init.json"
    assert init.stat().st_mode & 0o777 == 0o600, "unseal key and root token must be private"
    assert set(json.loads(init.read_text())) == {"unseal_keys_b64", "root_token"}
    assert vault.endpoints()["VAULT_TOKEN"] == json.loads(init.read_text())["root_token"]

    path, value = f"tests/{uuid.uuid4().hex}", "s3cr3t-" + uuid.uuid4().hex
    kv(vault).secrets.kv.v2.create_or_update_secret(path=path, secret={"password": value}, mount_point="secret")
    pid_before = vault.pid()

    assert vault.stop() is True
    assert not pid_alive(pid_before)
    assert bring_up(vault) is True, "a stopped server is started again (and unsealed by the launcher)"
    assert vault.pid() != pid_before
    read = kv(vault).secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"password": value}
    assert read["data"]["metadata"]["version"] == 1
    mounts = kv(vault).sys.list_mounted_secrets_engines()["data"]
    assert mounts["secret/"]["options"]["version"] == "2"

    # The file audit device saw the write and the read, with the value hashed, never in clear.
    audit = (state_dir / "vault" / "audit.log").read_text()
    assert f"secret/data/{path}" in audit
    assert value not in audit
    assert "hmac-sha256:" in audit

    # Without its unseal key the storage cannot be read: a clear error, not a hang.
    vault.stop()
    init.rename(init.with_name("init.json.away"))
    with pytest.raises(ServiceError, match=r"(?s)init.json \(its unseal key and root token\) is missing.*make clean"):
        bring_up(vault)


def test_a_running_former_dev_mode_server_is_replaced_with_its_secrets_and_token(vault, state_dir):
    """The upgrade path: `.stoa` holds the pid and token of the dev server the former launcher started."""
    token = "dev-" + uuid.uuid4().hex
    legacy = paths.state("vault", "root-token")
    legacy.write_text(token)
    log = open(vault.log_file, "ab")  # noqa: SIM115 - handed to the child
    dev = subprocess.Popen([bao_binary(), "server", "-dev", f"-dev-listen-address=127.0.0.1:{vault.port}",
                            f"-dev-root-token-id={token}", "-dev-no-store-token"],
                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                           cwd=paths.state_dir("vault"))
    log.close()
    vault.pid_file.write_text(str(dev.pid))
    try:
        vault.wait_healthy()  # the dev server: unsealed from the start
        assert vault.dev_server_running()
        kv(vault, token).secrets.kv.v2.create_or_update_secret(path="dev/iam/someone", secret={"password": "kept"},
                                                               mount_point="secret")
        assert bring_up(vault) is True
        dev.wait(10)  # replaced (and reaped here, its parent)
        assert not vault.dev_server_running()
        assert not legacy.exists()
        for client in (kv(vault), kv(vault, token)):  # the new root token, and the old one still valid
            read = client.secrets.kv.v2.read_secret_version(path="dev/iam/someone", mount_point="secret",
                                                            raise_on_deleted_version=True)
            assert read["data"]["data"] == {"password": "kept"}
        assert (state_dir / "vault" / "data").is_dir()
        # Restarted once more: the real server keeps what came from the dev server.
        vault.stop()
        bring_up(vault)
        assert kv(vault, token).secrets.kv.v2.read_secret_version(
            path="dev/iam/someone", mount_point="secret", raise_on_deleted_version=True)["data"]["data"]["password"] \
            == "kept"
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, 9)
            dev.wait(10)


def test_a_stale_dev_mode_pid_and_token_do_not_stop_the_start(vault, state_dir):
    paths.state("vault", "root-token").write_text("dev-token-of-a-dead-server")
    vault.pid_file.write_text("999999")
    assert bring_up(vault) is True
    assert not paths.state("vault", "root-token").exists()
    assert vault.token() != "dev-token-of-a-dead-server"
    assert kv(vault).is_authenticated()


OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Kept", "version": "1.0.0"},
    "paths": {"/pets": {"get": {"operationId": "listPets", "responses": {"200": {"description": "Pets"}}}}},
}


def test_a_gateway_simulator_keeps_an_imported_api_across_a_restart_through_the_launcher(state_dir):
    gateway = GatewaySimulator(port=free_port())
    try:
        assert bring_up(gateway) is True
        password = gateway.password()
        client = GatewayClient(gateway.url, gateway.username, password)
        api = client.import_api("kept-api", "1.0.0", json.dumps(OPENAPI), "openapi")
        exported = client.export_api(api["id"])
        assert exported["paths"].keys() == {"/pets"}

        assert gateway.stop() is True
        assert bring_up(gateway) is True
        assert gateway.password() == password, "the admin password is kept with the state"
        client = GatewayClient(gateway.url, gateway.username, password)
        assert [(a["id"], a["apiName"]) for a in client.list_apis()] == [(api["id"], "kept-api")]
        assert client.export_api(api["id"]) == exported
        assert (state_dir / "gateway" / "state.json").exists()
    finally:
        gateway.stop()
