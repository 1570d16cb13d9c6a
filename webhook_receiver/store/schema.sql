-- The receiver's durable state (SQLite dialect). Every row is kept until purged: the
-- record explains every launch and every non-launch.

-- One row per delivery that passed authentication. delivery_key (Idempotency-Key /
-- webhook-id) is unique, so a re-sent delivery is stored once.
CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order, routing order
    id           TEXT NOT NULL UNIQUE,               -- ev-<hex>, answered in the 202
    delivery_key TEXT UNIQUE,
    source       TEXT NOT NULL,                      -- gitlab
    kind         TEXT NOT NULL,                      -- object_kind
    project      TEXT,
    ref          TEXT,
    before_sha   TEXT,
    after_sha    TEXT,
    status       TEXT NOT NULL,                      -- accepted -> routed | ignored
    reason       TEXT,                               -- why ignored, or the routing failure
    summary      TEXT,                               -- JSON: user, commits, message...
    body         BLOB,                               -- raw body of accepted events
    trace_id     TEXT NOT NULL,
    received_at  REAL NOT NULL,
    routed_at    REAL,
    decision     TEXT,                               -- JSON: rules matched, paths, what each became
    deliveries   INTEGER NOT NULL DEFAULT 1,         -- 1 + duplicates received
    route_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_by_status ON events (status, seq);
-- The pushes that start or end at a commit: routing asks for each push that does not continue the branch's
-- chain (deliveries out of order, missed pushes). Without them each question read every stored event
-- (measured: 28 ms a push at 10,000 events).
CREATE INDEX IF NOT EXISTS push_events_by_before ON events (before_sha) WHERE kind = 'push';
CREATE INDEX IF NOT EXISTS push_events_by_after ON events (after_sha) WHERE kind = 'push';

-- Job requests: the dispatch queue. key = job|tenant|api|environment.
CREATE TABLE IF NOT EXISTS job_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL,
    job         TEXT NOT NULL,
    tenant      TEXT,
    api         TEXT,
    environment TEXT,
    ref         TEXT,                                -- the commit to work from
    vars        TEXT NOT NULL,                       -- JSON: job-specific extra vars
    state       TEXT NOT NULL,                       -- waiting | retrying | launching | running | successful | failed | dead
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  REAL NOT NULL,
    lease_until REAL,
    launch_id   TEXT UNIQUE,                         -- carried by every attempt; looked up before a retry
    external_id TEXT,                                -- AWX job id / ansible-runner ident
    trace_id    TEXT NOT NULL,
    event_id    TEXT NOT NULL,                       -- the newest event it serves
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    launched_at REAL,
    finished_at REAL,
    last_error  TEXT,
    result      TEXT                                 -- JSON: status, changed counts...
);
-- Coalescing and serialisation as constraints: one waiting and one launched request per key.
CREATE UNIQUE INDEX IF NOT EXISTS one_waiting_per_key ON job_requests (key) WHERE state = 'waiting';
CREATE UNIQUE INDEX IF NOT EXISTS one_launched_per_key ON job_requests (key) WHERE state IN ('launching', 'running');
CREATE INDEX IF NOT EXISTS requests_by_state ON job_requests (state, not_before, id);

-- Which events a request serves, and how (created it, coalesced into it).
CREATE TABLE IF NOT EXISTS request_events (
    request_id INTEGER NOT NULL,
    event_id   TEXT NOT NULL,
    how        TEXT NOT NULL,
    rule       TEXT,
    paths      TEXT,                                  -- JSON list (first paths only)
    PRIMARY KEY (request_id, event_id)
);
CREATE INDEX IF NOT EXISTS request_events_by_event ON request_events (event_id);

-- The last `after` routed per branch: a push whose `before` is not known here means missed pushes.
CREATE TABLE IF NOT EXISTS branch_heads (
    project    TEXT NOT NULL,
    ref        TEXT NOT NULL,
    sha        TEXT NOT NULL,
    reconciled TEXT,                                  -- commit of the last full reconcile: older events are covered
    base       TEXT,                                  -- `before` of the earliest push routed: where the chain starts
    event_id   TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (project, ref)
);

-- The newest commit requested per key: an older commit arriving late is superseded, never deployed over a newer one.
CREATE TABLE IF NOT EXISTS key_refs (
    key TEXT PRIMARY KEY,
    ref TEXT NOT NULL
);

-- Messages to publish (audit-log, deploy-results, notifications), written in the same transaction as the
-- state change they report: a Kafka outage delays them, never loses them. message_id lets consumers dedupe.
CREATE TABLE IF NOT EXISTS outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    topic        TEXT NOT NULL,
    message_key  TEXT NOT NULL,                       -- partitioning key: the trace id
    message_id   TEXT NOT NULL UNIQUE,
    value        TEXT NOT NULL,                       -- JSON envelope {id, type, source, time, trace_id, data}
    created_at   REAL NOT NULL,
    published_at REAL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- Between the ingest process and the worker process of one receiver: the worker's health (for /readyz) and
-- requests to act at once (an AWX notification: poll now).
CREATE TABLE IF NOT EXISTS heartbeats (
    name    TEXT PRIMARY KEY,
    at      REAL NOT NULL,
    ok      INTEGER NOT NULL,
    details TEXT
);
CREATE TABLE IF NOT EXISTS pokes (
    name TEXT PRIMARY KEY,
    at   REAL NOT NULL
);

-- How far the worker process has moved the ingest process's inbox (receiver.inbox.db: deliveries are written
-- there, so that an acknowledgement never waits for the worker's write lock) into events: the inbox's last seq
-- moved ('events') and its last redelivery counted ('redeliveries').
CREATE TABLE IF NOT EXISTS inbox_moved (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
