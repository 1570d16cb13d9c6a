"""The launcher's mechanics, on throw-away processes (no platform server needed)."""
from __future__ import annotations

import socket
import sys
from dataclasses import dataclass

import pytest
import requests

from local_services import java, paths, postgres, registry
from local_services.process import Service, ServiceError, pid_alive, port_is_bound


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "STATE_DIR", tmp_path / ".stoa")
    monkeypatch.setattr(paths, "ENV_FILE", tmp_path / ".stoa" / "services.env")
    return tmp_path / ".stoa"


@dataclass
class TreeOfProcesses(Service):
    """A shell that leaves a child behind and serves HTTP: what kc.sh + java look like."""

    name: str = "tree"
    port: int = 0
    start_timeout: float = 20.0

    def __post_init__(self):
        self.ports = (self.port,)

    def command(self):
        return [
            "bash", "-c",
            f"sleep 300 & echo child=$! > child.pid; exec {sys.executable} -m http.server "
            f"--bind 127.0.0.1 {self.port}",
        ]

    def healthy(self):
        return requests.get(f"http://127.0.0.1:{self.port}/", timeout=1).status_code == 200


def test_start_wait_stop_leaves_no_process_and_no_port(state_dir):
    service = TreeOfProcesses(port=free_port())
    assert service.start() is True
    service.wait_healthy()
    assert service.status() == "healthy"
    assert service.start() is False, "a running service must be left alone"

    leader = service.pid()
    child = int((state_dir / "tree" / "child.pid").read_text().split("=")[1])
    assert pid_alive(child)

    assert service.stop() is True
    assert not pid_alive(leader)
    assert not pid_alive(child), "the whole process group must be stopped"
    assert not port_is_bound(service.port)
    assert service.status() == "stopped"
    assert service.stop() is False


def test_start_refuses_a_port_taken_by_someone_else(state_dir):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        service = TreeOfProcesses(port=squatter.getsockname()[1])
        with pytest.raises(ServiceError, match="did not start"):
            service.start()
    assert service.pid() is None


def test_wait_healthy_reports_the_log_tail_of_a_crashed_service(state_dir):
    @dataclass
    class Crashing(TreeOfProcesses):
        name: str = "crashing"

        def command(self):
            return ["bash", "-c", "echo 'fatal: config key foo.bar is wrong'; exit 3"]

    service = Crashing(port=free_port())
    service.start()
    with pytest.raises(ServiceError) as error:
        service.wait_healthy()
    assert "exited during start-up" in str(error.value)
    assert "config key foo.bar is wrong" in str(error.value)


def test_env_file_round_trips_values_that_need_quoting(state_dir, monkeypatch):
    tricky = {"KEYCLOAK_ADMIN_PASSWORD": "a b'c\"$d", "VAULT_ADDR": "http://127.0.0.1:1"}
    monkeypatch.setattr(registry, "endpoints", lambda: tricky)
    registry.write_env_file()
    assert registry.read_env_file() == tricky
    assert (state_dir / "services.env").stat().st_mode & 0o077 == 0, "credentials file must be private"


def test_java_home_selection_by_major_version(monkeypatch, tmp_path):
    for name, version in (("old", '1.8.0_402'), ("mid", "17.0.15"), ("new", "25.0.1")):
        home = tmp_path / name / "bin"
        home.mkdir(parents=True)
        java_bin = home / "java"
        java_bin.write_text(f'#!/bin/sh\necho \'openjdk version "{version}" 2025-01-01\' >&2\n')
        java_bin.chmod(0o755)
    java.java_major.cache_clear()
    assert java.java_major(str(tmp_path / "old")) == 8
    assert java.java_major(str(tmp_path / "new")) == 25
    monkeypatch.setattr(java, "candidate_homes", lambda: [str(tmp_path / n) for n in ("old", "mid", "new")])
    assert java.find_java_home(21, "Keycloak") == str(tmp_path / "new")
    assert java.find_java_home(17, "Kafka") == str(tmp_path / "mid")
    with pytest.raises(ServiceError, match=r"needs Java 26 or newer; found: .*Java 25"):
        java.find_java_home(26, "Something")


def test_status_of_unknown_service_names_the_known_ones():
    with pytest.raises(ServiceError, match="known: vault, keycloak, kafka"):
        registry.get("redis")


def test_stale_pid_file_is_not_taken_for_a_running_service(state_dir):
    service = TreeOfProcesses(port=free_port())
    service.pid_file.write_text("999999")
    assert service.running() is False
    assert service.start() is True
    service.wait_healthy()
    service.stop()


def _fake_server(bindir):
    bindir.mkdir(parents=True)
    for program in ("postgres", "initdb"):
        (bindir / program).write_text("#!/bin/sh\n")
        (bindir / program).chmod(0o755)


def test_postgres_binaries_prefer_the_version_that_made_the_data(tmp_path, monkeypatch):
    monkeypatch.delenv("STOA_POSTGRES_BINDIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert postgres.find_bindir(root=tmp_path) is None
    for version in ("9.6", "15", "17"):
        _fake_server(tmp_path / version / "bin")
    (tmp_path / "18" / "bin").mkdir(parents=True)  # a client-only install: no server
    assert postgres.find_bindir(root=tmp_path) == tmp_path / "17" / "bin"
    assert postgres.find_bindir("15", root=tmp_path) == tmp_path / "15" / "bin"
    monkeypatch.setenv("STOA_POSTGRES_BINDIR", str(tmp_path / "9.6" / "bin"))
    assert postgres.find_bindir("15", root=tmp_path) == tmp_path / "9.6" / "bin"


def test_postgres_server_is_installed_with_apt_only_when_missing(tmp_path, monkeypatch):
    """The fresh-machine path: apt-get update, then a quiet install of Debian's package, once."""
    root, stubs, calls = tmp_path / "usr-lib-postgresql", tmp_path / "bin", tmp_path / "apt-calls"
    stubs.mkdir()
    (stubs / "apt-get").write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\n'
        f'case "$*" in *install*postgresql*) /bin/mkdir -p {root}/15/bin && '
        f'/usr/bin/touch {root}/15/bin/postgres {root}/15/bin/initdb;; esac\n'
    )
    (stubs / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", str(stubs))
    monkeypatch.delenv("STOA_POSTGRES_BINDIR", raising=False)
    monkeypatch.setattr(postgres, "DEBIAN_ROOT", root)
    monkeypatch.setattr(postgres.os, "geteuid", lambda: 0)

    assert postgres.install_server() == root / "15" / "bin"
    assert calls.read_text().splitlines() == [
        "update -qq", "install -y -qq --no-install-recommends postgresql"]
    assert postgres.install_server() == root / "15" / "bin"
    assert len(calls.read_text().splitlines()) == 2, "binaries present: apt-get must not run again"


def test_postgres_install_failure_is_reported_not_retried_silently(tmp_path, monkeypatch):
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "apt-get").write_text("#!/bin/sh\necho 'E: Unable to locate package postgresql' >&2\nexit 100\n")
    (stubs / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", str(stubs))
    monkeypatch.delenv("STOA_POSTGRES_BINDIR", raising=False)
    monkeypatch.setattr(postgres, "DEBIAN_ROOT", tmp_path / "none")
    monkeypatch.setattr(postgres.os, "geteuid", lambda: 0)
    with pytest.raises(ServiceError, match="(?s)apt-get update -qq failed.*Unable to locate package"):
        postgres.install_server()
    monkeypatch.setattr(postgres.os, "geteuid", lambda: 1000)
    with pytest.raises(ServiceError, match="apt-get install postgresql"):
        postgres.install_server()
