-- Where a dead letter came from (a Kafka topic/partition/offset), so a redelivered message is kept once.
ALTER TABLE dead_letters ADD COLUMN origin TEXT;
CREATE UNIQUE INDEX dead_letters_origin ON dead_letters (origin);
