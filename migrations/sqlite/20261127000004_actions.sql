-- The audit trail of retries and cancels: who asked for what, what was published, and what came of it.
CREATE TABLE actions (
    id           INTEGER PRIMARY KEY,
    instance_id  INTEGER NOT NULL REFERENCES instances (id),
    kind         TEXT    NOT NULL, -- retry | cancel | compensation
    node         TEXT,
    command      TEXT    NOT NULL,
    topic        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    requested_at INTEGER NOT NULL,
    result       TEXT    NOT NULL, -- sent | failed | took_effect | no_effect
    detail       TEXT,
    settled_at   INTEGER,
    -- A retry that has not taken effect by then had no effect.
    deadline     INTEGER
);
CREATE INDEX actions_by_instance ON actions (instance_id, id);
CREATE INDEX actions_open ON actions (deadline) WHERE result = 'sent';
