-- One row per process instance: the core's facts as JSON, plus the columns lists filter and sort on.
-- Times are milliseconds since the Unix epoch (UTC), as everywhere in Flowlens.
CREATE TABLE instances (
    id           BIGSERIAL PRIMARY KEY,
    flow_id      TEXT   NOT NULL,
    flow_version BIGINT NOT NULL,
    key          TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    waiting_at   TEXT   NOT NULL DEFAULT '',
    started_at   BIGINT,
    updated_at   BIGINT NOT NULL,
    events       BIGINT NOT NULL DEFAULT 0,
    facts        TEXT   NOT NULL,
    -- When the earliest active task is due: past it, the instance is stuck.
    due_at       BIGINT,
    -- When a running instance passes its SLA and its flow cancels on breach: the scheduler acts then.
    escalate_at  BIGINT,
    UNIQUE (flow_id, key)
);
CREATE INDEX instances_escalate ON instances (escalate_at) WHERE escalate_at IS NOT NULL;
CREATE INDEX instances_recent ON instances (updated_at DESC, id DESC);
CREATE INDEX instances_status_recent ON instances (status, updated_at DESC, id DESC);
CREATE INDEX instances_due ON instances (due_at) WHERE due_at IS NOT NULL;

-- Every event that reached an instance, once: the id is the idempotency key.
CREATE TABLE events (
    id          TEXT   PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    type        TEXT   NOT NULL,
    time        BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    data        TEXT   NOT NULL
);
CREATE INDEX events_by_instance ON events (instance_id, time);

-- What could not be tracked, and why. Raw bytes are kept (bounded) so nothing is lost.
CREATE TABLE dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    received_at BIGINT NOT NULL,
    source      TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    raw         BYTEA  NOT NULL,
    -- Where it came from (a Kafka topic/partition/offset), so a redelivered message is kept once.
    origin      TEXT
);
CREATE INDEX dead_letters_recent ON dead_letters (received_at DESC);
CREATE UNIQUE INDEX dead_letters_origin ON dead_letters (origin);

-- The audit trail of retries and cancels: who asked for what, what was published, and what came of it.
CREATE TABLE actions (
    id           BIGSERIAL PRIMARY KEY,
    instance_id  BIGINT NOT NULL REFERENCES instances (id),
    kind         TEXT   NOT NULL, -- retry | cancel | compensation
    node         TEXT,
    command      TEXT   NOT NULL,
    topic        TEXT   NOT NULL,
    payload      TEXT   NOT NULL,
    actor        TEXT   NOT NULL,
    requested_at BIGINT NOT NULL,
    result       TEXT   NOT NULL, -- sent | failed | took_effect | no_effect
    detail       TEXT,
    settled_at   BIGINT,
    -- A retry that has not taken effect by then had no effect.
    deadline     BIGINT
);
CREATE INDEX actions_by_instance ON actions (instance_id, id);
CREATE INDEX actions_open ON actions (deadline) WHERE result = 'sent';
