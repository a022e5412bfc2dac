-- Steps may run many times in one instance (loops, rework, retries): one row per visit.
CREATE TABLE node_visits_new (
    instance_id BIGINT  NOT NULL REFERENCES instances (id),
    flow_id     TEXT    NOT NULL,
    node        TEXT    NOT NULL,
    visit       INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL,
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    due_at      BIGINT,
    PRIMARY KEY (instance_id, node, visit)
);
INSERT INTO node_visits_new (instance_id, flow_id, node, visit, status, started_at, finished_at, due_at)
SELECT instance_id, flow_id, node, 0, status, started_at, finished_at, due_at FROM node_visits;
DROP TABLE node_visits;
ALTER TABLE node_visits_new RENAME TO node_visits;
CREATE INDEX node_visits_active ON node_visits (flow_id, node) WHERE status = 'active';
CREATE INDEX node_visits_breach ON node_visits (flow_id, due_at, node, instance_id) WHERE status = 'active' OR finished_at > due_at;
CREATE INDEX node_visits_timing ON node_visits (flow_id, node, finished_at, started_at) WHERE status IN ('done', 'failed');
-- The rework heat: second visits by when they began (few rows: only steps that ran again).
CREATE INDEX node_visits_rework ON node_visits (flow_id, started_at, node) WHERE visit = 1;

-- Whether a step ran more than once: the list filters on it.
ALTER TABLE instances ADD COLUMN reworked INTEGER NOT NULL DEFAULT 0;
CREATE INDEX instances_reworked_recent ON instances (updated_at DESC, id DESC) WHERE reworked = 1;
