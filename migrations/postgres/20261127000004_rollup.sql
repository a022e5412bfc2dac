-- Instances by the minute they started and the state they are in now, kept by ingest as deltas:
-- the overview's counts read at most a row per minute and state of the range, not every instance.
CREATE TABLE flow_states (
    flow_id TEXT   NOT NULL,
    minute  BIGINT NOT NULL,
    status  TEXT   NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (flow_id, minute, status)
);
INSERT INTO flow_states (flow_id, minute, status, n)
SELECT flow_id, COALESCE(started_at, updated_at) / 60000, status, COUNT(*) FROM instances
GROUP BY flow_id, COALESCE(started_at, updated_at) / 60000, status;

-- Stuck instances: running and past due, counted from an index of running instances only.
CREATE INDEX instances_stuck ON instances (flow_id, due_at) WHERE status = 'running';
-- SLA breaches by the moment they happen (the step's due time): only late or still active visits.
CREATE INDEX node_visits_breach ON node_visits (flow_id, due_at, node, instance_id) WHERE status = 'active' OR finished_at > due_at;
-- Step timing reads a node's latest finished visits from the index alone.
DROP INDEX node_visits_finished;
CREATE INDEX node_visits_timing ON node_visits (flow_id, node, finished_at, started_at) WHERE status IN ('done', 'failed');

-- "Where is customer 42?": a key alone, without its flow, finds its instances from an index.
CREATE INDEX instances_key ON instances (key);

-- "Waiting at a step": only instances waiting anywhere, newest first. The step itself is a LIKE on
-- `waiting_at` that no planner can estimate; this small index keeps it from scanning every instance.
CREATE INDEX instances_waiting_recent ON instances (updated_at DESC, id DESC) WHERE waiting_at <> '';
