"""Secrets in the shared local OpenBao, for tests.

OpenBao keeps its data (``.stoa/vault``), and the demo and people use the same
server as the tests. The secrets the example GitOps repository refers to
(``secret/dev/iam/demo-cpi``, ``secret/dev/weather-api``...) are therefore
created when missing and never overwritten by a test: overwriting a demo user's
password in Vault would leave Keycloak's realm ``stoa`` with another one, and
the demo's users could no longer log in.
"""
from __future__ import annotations

import hvac


def ensure_secret(vault: dict[str, str], path: str, data: dict) -> dict:
    """The data of the KV v2 secret ``secret/<path>``: ``data`` written when the path has no secret (check-and-set
    with version 0, so a concurrent writer wins), else what is there, untouched. ``vault`` holds VAULT_ADDR and
    VAULT_TOKEN (the ``vault_service`` fixture)."""
    client = hvac.Client(url=vault["VAULT_ADDR"], token=vault["VAULT_TOKEN"])
    try:
        client.secrets.kv.v2.create_or_update_secret(path=path, secret=data, cas=0, mount_point="secret")
        return data
    except hvac.exceptions.InvalidRequest:  # check-and-set refused: a version exists
        read = client.secrets.kv.v2.read_secret_version(path=path, mount_point="secret",
                                                        raise_on_deleted_version=False)
        current = read["data"]["data"]
        if current is None or not set(data) <= set(current):  # deleted, or without the keys asked for
            merged = {**data, **(current or {})}
            client.secrets.kv.v2.create_or_update_secret(path=path, secret=merged, mount_point="secret")
            return merged
        return current
