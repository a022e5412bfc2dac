-- Step durations as histograms (core/src/histogram.rs), kept by ingest: per flow, period a visit
-- finished in (a minute, an hour or a day: `span` ms from `start`) and step, how many visits
-- finished, their summed time, and their histogram's bins (`bucket:count` pairs). The overview
-- reads at most five stretches of periods for any range, so its step times are exact (to the
-- bucket) and cost the same at any volume. Filled from the stored visits when the store opens
-- (store/src/upgrade.rs), once.
CREATE TABLE step_durations (
    flow_id  TEXT   NOT NULL,
    span     BIGINT NOT NULL,
    start    BIGINT NOT NULL,
    node     TEXT   NOT NULL,
    n        BIGINT NOT NULL,
    total_ms BIGINT NOT NULL,
    bins     TEXT   NOT NULL,
    PRIMARY KEY (flow_id, span, start, node)
);
-- Step times no longer read the latest visits of a step: their index goes, and with it a write
-- per finished visit.
DROP INDEX IF EXISTS node_visits_timing;
