"""Bring several services up or down together and publish their endpoints.

``up`` starts what is not running (all at once: Keycloak's boot dominates),
waits for each to be healthy and rewrites ``.stoa/services.env``; a running
service is left alone. ``down`` stops them and checks their ports are free.
"""
from __future__ import annotations

import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from . import paths
from .gateway import GatewaySimulator, ProdGatewaySimulator, StagingGatewaySimulator
from .kafka import Kafka
from .keycloak import Keycloak
from .postgres import Postgres
from .process import Service, ServiceError, port_is_bound
from .vault import Vault

SERVICES: dict[str, type[Service]] = {
    "vault": Vault,
    "keycloak": Keycloak,
    "kafka": Kafka,
    "postgres": Postgres,  # the webhook receiver's multi-replica store
    # The webMethods API Gateway simulator, one per environment as the design deploys gateways.
    "gateway": GatewaySimulator,
    "gateway-staging": StagingGatewaySimulator,
    "gateway-prod": ProdGatewaySimulator,
}


@dataclass
class Outcome:
    name: str
    started: bool  # False: it was already running and left alone
    seconds: float


def get(name: str) -> Service:
    try:
        return SERVICES[name]()
    except KeyError:
        raise ServiceError(f"unknown service {name!r}; known: {', '.join(SERVICES)}") from None


def _bring_up(service: Service) -> Outcome:
    began = time.monotonic()
    started = service.start()
    service.wait_healthy()
    if started:
        service.after_start()
    return Outcome(service.name, started, time.monotonic() - began)


def up(names: list[str] | None = None) -> list[Outcome]:
    services = [get(n) for n in (names or list(SERVICES))]
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        futures = [pool.submit(_bring_up, s) for s in services]
        errors, outcomes = [], []
        for future in futures:
            try:
                outcomes.append(future.result())
            except ServiceError as exc:
                errors.append(str(exc))
    write_env_file()
    if errors:
        raise ServiceError("\n\n".join(errors))
    return outcomes


def down(names: list[str] | None = None) -> list[str]:
    services = [get(n) for n in (names or list(SERVICES))]
    stopped = [s.name for s in services if s.stop()]
    write_env_file()
    still_bound = [f"{s.name}:{p}" for s in services for p in s.ports if port_is_bound(p)]
    if still_bound:
        raise ServiceError(f"ports still bound after stop: {', '.join(still_bound)}")
    return stopped


def status() -> dict[str, str]:
    return {name: get(name).status() for name in SERVICES}


def endpoints() -> dict[str, str]:
    """Endpoints of the services that are running now."""
    result: dict[str, str] = {}
    for name in SERVICES:
        service = get(name)
        if service.running():
            result.update(service.endpoints())
    return result


def write_env_file() -> None:
    values = endpoints()
    lines = ["# Written by `make services-up`; endpoints and credentials of the local services."]
    lines += [f"{key}={shlex.quote(value)}" for key, value in sorted(values.items())]
    target = paths.state("services.env")
    target.touch(mode=0o600)
    target.chmod(0o600)
    target.write_text("\n".join(lines) + "\n")


def read_env_file() -> dict[str, str]:
    values: dict[str, str] = {}
    if paths.ENV_FILE.exists():
        for line in paths.ENV_FILE.read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, raw = line.split("=", 1)
                values[key] = shlex.split(raw)[0] if raw else ""
    return values
