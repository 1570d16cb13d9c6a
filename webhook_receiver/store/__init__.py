"""The durable store: events, job requests, branch heads. One interface, SQLite today.

What a store must guarantee (the rest of the receiver relies on it):

- ``add_events`` returns only once the rows are on disk (fsync'd): the 202 follows it;
- a delivery key is stored once (``duplicate=True`` for the second);
- one *waiting* request per key (coalescing) and one *launching/running* request per key
  (serialisation) are constraints of the store, not conventions of the caller;
- a routing decision (event status + requests + branch head) is written in one transaction;
- claims carry a lease; an expired lease is taken back by ``reclaim_expired``.

``SqliteStore`` (default, one receiver: state_dir/receiver.db) and ``PostgresStore`` (``store.url``: several
receivers share the work; ``postgres.py``) implement the same methods; :func:`open_store` picks one from the
configuration.
"""
from __future__ import annotations

import socket

from .model import TERMINAL, JobRequest, NewEvent
from .sqlite import SqliteStore, StoreUnavailable

__all__ = ["TERMINAL", "JobRequest", "NewEvent", "SqliteStore", "StoreUnavailable", "open_store", "replica_name"]


def replica_name(config) -> str:
    """This receiver among those sharing a PostgreSQL store: host and state directory (its ingest and worker
    processes share both; two receivers on one host have different state directories)."""
    return f"{socket.gethostname()}:{config.state_dir}"


def open_store(config, outbox: bool = False, role: str = "all"):
    """The configured store: PostgreSQL when ``store.url`` is set, else SQLite in ``state_dir``.

    ``role`` is the process's (service.Service): the ingest process writes deliveries into the inbox
    (``receiver.inbox.db``) and leaves SQLite's checkpoints to its worker, which moves them into the store."""
    if config.store_url is not None:
        if not config.store_url.value:
            raise StoreUnavailable(f"store.url {config.store_url.source} is not set in the environment")
        from .postgres import PostgresStore

        return PostgresStore(config.store_url.value, outbox=outbox, schema=config.store_schema,
                             replica=replica_name(config))
    from .sqlite import INGEST_CHECKPOINT_PAGES

    return SqliteStore(config.database, outbox=outbox,
                       checkpoint_pages=INGEST_CHECKPOINT_PAGES if role == "ingest" else None,
                       inbox={"ingest": "write", "worker": "move"}.get(role))
