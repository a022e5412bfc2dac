-- Step durations as histograms (core/src/histogram.rs), kept by ingest as deltas: per flow, the
-- period a visit finished in (a minute, an hour or a day: `span` ms from `start`), its step and
-- its duration's bucket, how many visits finished and their summed time. The overview reads at
-- most five stretches of periods for any range, so its step times are exact (to the bucket) and
-- cost the same at any volume. Filled from the stored visits when the store opens
-- (store/src/upgrade.rs), once.
CREATE TABLE step_durations (
    flow_id  TEXT    NOT NULL,
    span     BIGINT  NOT NULL,
    start    BIGINT  NOT NULL,
    node     TEXT    NOT NULL,
    bucket   INTEGER NOT NULL,
    n        BIGINT  NOT NULL,
    total_ms BIGINT  NOT NULL,
    PRIMARY KEY (flow_id, span, start, node, bucket)
);
-- Step times no longer read the latest visits of a step: their index goes, and with it a write
-- per finished visit.
DROP INDEX IF EXISTS node_visits_timing;
