-- Steps may run many times in one instance (loops, rework, retries): one row per visit.
ALTER TABLE node_visits ADD COLUMN visit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE node_visits DROP CONSTRAINT node_visits_pkey;
ALTER TABLE node_visits ADD PRIMARY KEY (instance_id, node, visit);
-- The rework heat: second visits by when they began (few rows: only steps that ran again).
CREATE INDEX node_visits_rework ON node_visits (flow_id, started_at, node) WHERE visit = 1;

-- Whether a step ran more than once: the list filters on it.
ALTER TABLE instances ADD COLUMN reworked INTEGER NOT NULL DEFAULT 0;
CREATE INDEX instances_reworked_recent ON instances (updated_at DESC, id DESC) WHERE reworked = 1;
