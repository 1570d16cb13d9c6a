"""Session fixtures for the real local services.

They use the launcher behind `make services-up`: a service already running
(started by hand) is reused, one that is not is started and stopped again at
the end of the session. A service that cannot start makes the test error with
the tail of its log; nothing is skipped silently.
"""
from __future__ import annotations

import pytest

from local_services import registry
from local_services.process import ServiceError


class ServicePool:
    def __init__(self) -> None:
        self.started_here: list[str] = []
        self.failed: dict[str, str] = {}
        # What was running before the session: everything else is stopped at the end, including a service
        # that a test brought up by itself (a down/up test) before any fixture asked for it.
        self.running_before = {name for name, state in registry.status().items() if state != "stopped"}

    def require(self, name: str) -> dict[str, str]:
        if name in self.failed:
            pytest.fail(self.failed[name], pytrace=False)
        try:
            outcome = registry.up([name])[0]
        except ServiceError as exc:
            self.failed[name] = f"local service {name!r} did not start:\n{exc}"
            pytest.fail(self.failed[name], pytrace=False)
        if outcome.started:
            self.started_here.append(name)
        return registry.get(name).endpoints()

    def close(self) -> None:
        running_now = {name for name, state in registry.status().items() if state != "stopped"}
        leftover = sorted((set(self.started_here) | running_now) - self.running_before)
        if leftover:
            registry.down(leftover)


@pytest.fixture(scope="session")
def service_pool():
    pool = ServicePool()
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def vault_service(service_pool) -> dict[str, str]:
    """VAULT_ADDR / VAULT_TOKEN (root) of the running OpenBao server; its data persists (docs/local-services.md)."""
    return service_pool.require("vault")


@pytest.fixture(scope="session")
def keycloak_service(service_pool) -> dict[str, str]:
    """KEYCLOAK_URL and the bootstrap admin of a running Keycloak."""
    return service_pool.require("keycloak")


@pytest.fixture(scope="session")
def kafka_service(service_pool) -> dict[str, str]:
    """KAFKA_BOOTSTRAP_SERVERS of a running broker with the design's topics."""
    return service_pool.require("kafka")


@pytest.fixture(scope="session")
def postgres_service(service_pool) -> dict[str, str]:
    """STOA_RECEIVER_DATABASE_URL (and PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE) of a running PostgreSQL."""
    return service_pool.require("postgres")


@pytest.fixture(scope="session")
def gateway_service(service_pool) -> dict[str, str]:
    """STOA_GATEWAY_URL and credentials of the webMethods API Gateway simulator."""
    return service_pool.require("gateway")


@pytest.fixture(scope="session")
def _gateway_sim_server():
    from sim_helpers import start

    simulator, server = start()
    yield simulator
    server.shutdown()
    server.server_close()


@pytest.fixture
def gateway_sim(_gateway_sim_server):
    """A fresh in-process webMethods gateway simulator (url, credentials, request log)."""
    _gateway_sim_server.reset()
    return _gateway_sim_server
