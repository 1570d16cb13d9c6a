"""The durable store: events, job requests, branch heads. One interface, SQLite today.

What a store must guarantee (the rest of the receiver relies on it):

- ``add_events`` returns only once the rows are on disk (fsync'd): the 202 follows it;
- a delivery key is stored once (``duplicate=True`` for the second);
- one *waiting* request per key (coalescing) and one *launching/running* request per key
  (serialisation) are constraints of the store, not conventions of the caller;
- a routing decision (event status + requests + branch head) is written in one transaction;
- claims carry a lease; an expired lease is taken back by ``reclaim_expired``.

PostgreSQL (several replicas) is part 2; it implements the same methods.
"""
from __future__ import annotations

from .model import TERMINAL, JobRequest, NewEvent
from .sqlite import SqliteStore, StoreUnavailable

__all__ = ["TERMINAL", "JobRequest", "NewEvent", "SqliteStore", "StoreUnavailable"]
