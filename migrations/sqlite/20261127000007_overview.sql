-- Each task and decision an instance reached: what the overview's heatmap counts and times.
-- status: active, done, failed, or abandoned (the instance ended while it was active).
CREATE TABLE node_visits (
    instance_id BIGINT  NOT NULL REFERENCES instances (id),
    flow_id     TEXT    NOT NULL,
    node        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    due_at      BIGINT,
    PRIMARY KEY (instance_id, node)
);
CREATE INDEX node_visits_active ON node_visits (flow_id, node) WHERE status = 'active';
CREATE INDEX node_visits_finished ON node_visits (flow_id, finished_at);

-- Events per flow and minute, kept as they arrive: the overview's throughput chart reads a few rows.
CREATE TABLE flow_minutes (
    flow_id   TEXT   NOT NULL,
    minute    BIGINT NOT NULL,
    events    BIGINT NOT NULL,
    completed BIGINT NOT NULL,
    PRIMARY KEY (flow_id, minute)
);

CREATE INDEX instances_flow_status ON instances (flow_id, status);
