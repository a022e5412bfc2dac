-- One-off upgrades of stored data that a migration cannot do in SQL (they need the flow models),
-- done by the store when it opens, each once: a row here says it is done.
CREATE TABLE upgrades (
    name    TEXT   PRIMARY KEY,
    done_at BIGINT NOT NULL
);
