"""The simulator's state: plain dicts keyed by id, optionally saved to a JSON file.

One lock serialises every request (the real gateway is not that strict, but
tests want reproducible results more than throughput). With a state file,
every write request saves the whole state atomically, so a restarted
simulator carries on where it stopped.
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

COLLECTIONS = ("apis", "documents", "policies", "policy_actions", "aliases", "applications", "strategies", "scopes")

# Aliases every 10.15 gateway ships with (CONTRACT §0, Postman use case APIAliasDeleteAll).
BUILTIN_ALIASES = [
    {"id": "local", "name": "local", "type": "authServerAlias", "authServerType": "LOCAL_IS",
     "description": "API Gateway as the authorization server", "owner": "Administrator", "stage": "",
     "scopes": [], "localIntrospectionConfig": {}},
    {"id": "OKTA", "name": "OKTA", "type": "authServerAlias", "authServerType": "EXTERNAL",
     "description": "Okta template", "owner": "Administrator", "stage": "", "scopes": []},
    {"id": "PingFederate", "name": "PingFederate", "type": "authServerAlias", "authServerType": "EXTERNAL",
     "description": "PingFederate template", "owner": "Administrator", "stage": "", "scopes": []},
    {"id": "ServiceConsulDefault", "name": "ServiceConsulDefault", "type": "serviceRegistryAlias",
     "description": "Consul service registry", "owner": "Administrator", "stage": ""},
    {"id": "EurekaDefault", "name": "EurekaDefault", "type": "serviceRegistryAlias",
     "description": "Eureka service registry", "owner": "Administrator", "stage": ""},
]
BUILTIN_ALIAS_IDS = frozenset(a["id"] for a in BUILTIN_ALIASES)

GLOBAL_LOG_POLICY = {
    "id": "GlobalLogInvocationPolicy",
    "names": [{"value": "Transaction logging", "locale": "English"}],
    "descriptions": [],
    "scope": {"applicableAPITypes": ["REST", "SOAP", "ODATA", "GRAPHQL"], "logicalConnector": "AND", "scopeConditions": []},
    "policyEnforcements": [],
    "policyScope": "GLOBAL",
    "global": True,
    "active": True,
    "systemPolicy": True,
}


def new_id() -> str:
    return str(uuid.uuid4())


def gateway_time() -> str:
    """The gateway's timestamp format, ``yyyy-MM-dd HH:mm:ss GMT``."""
    return time.strftime("%Y-%m-%d %H:%M:%S GMT", time.gmtime())


class Store:
    def __init__(self, state_file: str | os.PathLike | None = None):
        self.lock = threading.RLock()
        self.state_file = Path(state_file) if state_file else None
        self.data: dict[str, dict] = {}
        self.reset()
        if self.state_file and self.state_file.exists():
            loaded = json.loads(self.state_file.read_text())
            for name in COLLECTIONS:
                self.data[name] = loaded.get(name, {})

    def reset(self) -> None:
        self.data = {name: {} for name in COLLECTIONS}
        for alias in BUILTIN_ALIASES:
            self.data["aliases"][alias["id"]] = json.loads(json.dumps(alias))
        self.data["policies"][GLOBAL_LOG_POLICY["id"]] = json.loads(json.dumps(GLOBAL_LOG_POLICY))

    def __getattr__(self, name: str) -> dict:
        if name in COLLECTIONS:
            return self.data[name]
        raise AttributeError(name)

    def save(self) -> None:
        if not self.state_file:
            return
        tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
        tmp.write_text(json.dumps(self.data, sort_keys=True))
        os.replace(tmp, self.state_file)
