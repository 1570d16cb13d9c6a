-- The receiver's durable state (PostgreSQL dialect): the same tables, columns and constraints as schema.sql,
-- shared by several receivers (replicas). Differences: identity columns are BIGSERIAL, times DOUBLE PRECISION
-- (epoch seconds, like SQLite's REAL), bodies BYTEA; job_requests.owner names the replica holding a claim;
-- request_events.seq keeps the order SQLite's rowid gives. The version is in schema_version (PostgresStore).

CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS events (
    seq          BIGSERIAL PRIMARY KEY,              -- arrival order, routing order
    id           TEXT NOT NULL UNIQUE,
    delivery_key TEXT UNIQUE,                        -- a re-sent delivery is stored once, whichever replica got it
    source       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    project      TEXT,
    ref          TEXT,
    before_sha   TEXT,
    after_sha    TEXT,
    status       TEXT NOT NULL,
    reason       TEXT,
    summary      TEXT,
    body         BYTEA,
    trace_id     TEXT NOT NULL,
    received_at  DOUBLE PRECISION NOT NULL,
    routed_at    DOUBLE PRECISION,
    decision     TEXT,
    deliveries   INTEGER NOT NULL DEFAULT 1,
    route_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_by_status ON events (status, seq);
-- The pushes that start or end at a commit: routing asks for each push that does not continue the branch's
-- chain (deliveries out of order, missed pushes). Without them each question read every stored event
-- (measured: 28 ms a push at 10,000 events).
CREATE INDEX IF NOT EXISTS push_events_by_before ON events (before_sha) WHERE kind = 'push';
CREATE INDEX IF NOT EXISTS push_events_by_after ON events (after_sha) WHERE kind = 'push';

CREATE TABLE IF NOT EXISTS job_requests (
    id          BIGSERIAL PRIMARY KEY,
    key         TEXT NOT NULL,
    job         TEXT NOT NULL,
    tenant      TEXT,
    api         TEXT,
    environment TEXT,
    ref         TEXT,
    vars        TEXT NOT NULL,
    state       TEXT NOT NULL,                       -- waiting | retrying | launching | running | successful | failed | dead
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION,
    owner       TEXT,                                -- the replica that claimed it (its lease holder)
    launch_id   TEXT UNIQUE,
    external_id TEXT,
    trace_id    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    launched_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    last_error  TEXT,
    result      TEXT
);
-- Coalescing and serialisation as constraints, across replicas: one waiting and one launched request per key.
CREATE UNIQUE INDEX IF NOT EXISTS one_waiting_per_key ON job_requests (key) WHERE state = 'waiting';
CREATE UNIQUE INDEX IF NOT EXISTS one_launched_per_key ON job_requests (key) WHERE state IN ('launching', 'running');
CREATE INDEX IF NOT EXISTS requests_by_state ON job_requests (state, not_before, id);

CREATE TABLE IF NOT EXISTS request_events (
    request_id BIGINT NOT NULL,
    event_id   TEXT NOT NULL,
    how        TEXT NOT NULL,
    rule       TEXT,
    paths      TEXT,
    seq        BIGSERIAL,
    PRIMARY KEY (request_id, event_id)
);
CREATE INDEX IF NOT EXISTS request_events_by_event ON request_events (event_id);

CREATE TABLE IF NOT EXISTS branch_heads (
    project    TEXT NOT NULL,
    ref        TEXT NOT NULL,
    sha        TEXT NOT NULL,
    reconciled TEXT,
    base       TEXT,
    event_id   TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project, ref)
);

CREATE TABLE IF NOT EXISTS key_refs (
    key TEXT PRIMARY KEY,
    ref TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS outbox (
    id           BIGSERIAL PRIMARY KEY,
    topic        TEXT NOT NULL,
    message_key  TEXT NOT NULL,
    message_id   TEXT NOT NULL UNIQUE,
    value        TEXT NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    published_at DOUBLE PRECISION,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- Heartbeats are per replica (PostgresStore prefixes the name with the replica); pokes are shared: an AWX
-- notification makes every replica poll the jobs it follows.
CREATE TABLE IF NOT EXISTS heartbeats (
    name    TEXT PRIMARY KEY,
    at      DOUBLE PRECISION NOT NULL,
    ok      INTEGER NOT NULL,
    details TEXT
);
CREATE TABLE IF NOT EXISTS pokes (
    name TEXT PRIMARY KEY,
    at   DOUBLE PRECISION NOT NULL
);
