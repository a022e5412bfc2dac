-- Whether an instance fits its flow: no deviation (a step out of order or skipped, one too many
-- start or end, an event of a type the flow does not know). Deviating instances are the few: the
-- partial indexes hold only them.
ALTER TABLE instances ADD COLUMN fits INTEGER NOT NULL DEFAULT 1;
CREATE INDEX instances_deviating ON instances (flow_id, started_at) WHERE fits = 0;
CREATE INDEX instances_deviating_recent ON instances (updated_at DESC, id DESC) WHERE fits = 0;
