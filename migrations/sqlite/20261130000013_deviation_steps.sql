-- The steps an instance deviates at (node ids, one per line; empty when it fits, or when its
-- deviations are not at a step), for the overview's deviation heat. Read only for deviating
-- instances, through the partial index on fits.
ALTER TABLE instances ADD COLUMN deviating_at TEXT NOT NULL DEFAULT '';
