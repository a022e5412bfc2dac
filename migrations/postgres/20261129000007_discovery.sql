-- Discovery: each flow's directly-follows graph, kept as running sums that ingest changes by the
-- difference a batch makes to its cases' traces (see core/src/discovery.rs for the definitions).
CREATE TABLE dfg_activities (
    flow_id  TEXT   NOT NULL,
    activity TEXT   NOT NULL,
    n        BIGINT NOT NULL,
    starts   BIGINT NOT NULL,
    ends     BIGINT NOT NULL,
    PRIMARY KEY (flow_id, activity)
);
CREATE TABLE dfg_edges (
    flow_id TEXT   NOT NULL,
    source  TEXT   NOT NULL,
    target  TEXT   NOT NULL,
    n       BIGINT NOT NULL,
    sum_ms  BIGINT NOT NULL,
    PRIMARY KEY (flow_id, source, target)
);
-- Histograms of edge times (log-linear buckets); source = target = '' holds case durations.
CREATE TABLE dfg_times (
    flow_id TEXT   NOT NULL,
    source  TEXT   NOT NULL,
    target  TEXT   NOT NULL,
    bucket  BIGINT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (flow_id, source, target, bucket)
);
CREATE TABLE dfg_variants (
    flow_id    TEXT   NOT NULL,
    variant_id TEXT   NOT NULL,
    activities TEXT   NOT NULL,
    n          BIGINT NOT NULL,
    sum_ms     BIGINT NOT NULL,
    PRIMARY KEY (flow_id, variant_id)
);
CREATE INDEX dfg_variants_top ON dfg_variants (flow_id, n DESC);
CREATE TABLE dfg_cases (
    flow_id TEXT   PRIMARY KEY,
    n       BIGINT NOT NULL,
    sum_ms  BIGINT NOT NULL
);
