-- Discovery's sums per day the cases started (days since 1970-01-01, UTC), so the discovery of
-- any window of days is the sum of its days. The sums are derived: the store computes them
-- afresh from the events when it opens and finds none.
DROP TABLE dfg_activities;
DROP TABLE dfg_edges;
DROP TABLE dfg_times;
DROP TABLE dfg_variants;
DROP TABLE dfg_cases;
CREATE TABLE dfg_activities (
    flow_id  TEXT   NOT NULL,
    day      BIGINT NOT NULL,
    activity TEXT   NOT NULL,
    n        BIGINT NOT NULL,
    starts   BIGINT NOT NULL,
    ends     BIGINT NOT NULL,
    PRIMARY KEY (flow_id, day, activity)
);
CREATE TABLE dfg_edges (
    flow_id TEXT   NOT NULL,
    day     BIGINT NOT NULL,
    source  TEXT   NOT NULL,
    target  TEXT   NOT NULL,
    n       BIGINT NOT NULL,
    sum_ms  BIGINT NOT NULL,
    PRIMARY KEY (flow_id, day, source, target)
);
-- Histograms of edge times (log-linear buckets); source = target = '' holds case durations.
CREATE TABLE dfg_times (
    flow_id TEXT   NOT NULL,
    day     BIGINT NOT NULL,
    source  TEXT   NOT NULL,
    target  TEXT   NOT NULL,
    bucket  BIGINT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (flow_id, day, source, target, bucket)
);
CREATE TABLE dfg_variants (
    flow_id    TEXT   NOT NULL,
    day        BIGINT NOT NULL,
    variant_id TEXT   NOT NULL,
    activities TEXT   NOT NULL,
    n          BIGINT NOT NULL,
    sum_ms     BIGINT NOT NULL,
    PRIMARY KEY (flow_id, day, variant_id)
);
CREATE TABLE dfg_cases (
    flow_id TEXT   NOT NULL,
    day     BIGINT NOT NULL,
    n       BIGINT NOT NULL,
    sum_ms  BIGINT NOT NULL,
    PRIMARY KEY (flow_id, day)
);
