-- When the earliest active task of a running instance is due: past it, the instance is stuck.
ALTER TABLE instances ADD COLUMN due_at INTEGER;
CREATE INDEX instances_due ON instances (due_at) WHERE due_at IS NOT NULL;
