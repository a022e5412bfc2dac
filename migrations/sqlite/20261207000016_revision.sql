-- Raised by every write of an instance's facts: ingest keeps recently written instances in memory
-- and reads the facts back only of those whose revision moved (another replica, an action).
ALTER TABLE instances ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
