-- When a running instance passes its SLA and its flow cancels on breach: the scheduler acts then.
ALTER TABLE instances ADD COLUMN escalate_at INTEGER;
CREATE INDEX instances_escalate ON instances (escalate_at) WHERE escalate_at IS NOT NULL;
