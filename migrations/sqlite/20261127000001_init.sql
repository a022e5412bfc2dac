-- One row per process instance: the core's facts as JSON, plus the columns lists filter and sort on.
CREATE TABLE instances (
    id           INTEGER PRIMARY KEY,
    flow_id      TEXT    NOT NULL,
    flow_version INTEGER NOT NULL,
    key          TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    waiting_at   TEXT    NOT NULL DEFAULT '',
    started_at   INTEGER,
    updated_at   INTEGER NOT NULL,
    events       INTEGER NOT NULL DEFAULT 0,
    facts        TEXT    NOT NULL,
    UNIQUE (flow_id, key)
);
CREATE INDEX instances_recent ON instances (updated_at DESC, id DESC);
CREATE INDEX instances_status_recent ON instances (status, updated_at DESC, id DESC);

-- Every event that reached an instance, once: the id is the idempotency key.
CREATE TABLE events (
    id          TEXT    PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instances (id),
    type        TEXT    NOT NULL,
    time        INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    data        TEXT    NOT NULL
);
CREATE INDEX events_by_instance ON events (instance_id, time);

-- What could not be tracked, and why. Raw bytes are kept (bounded) so nothing is lost.
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    raw         BLOB    NOT NULL
);
CREATE INDEX dead_letters_recent ON dead_letters (received_at DESC);
