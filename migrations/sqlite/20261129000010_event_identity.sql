-- How an event's data is written in `data`: NULL for JSON (every row before this), 'text' for text
-- of another content type, 'base64' for bytes (Avro, Protobuf). Events are kept whatever they carry.
ALTER TABLE events ADD COLUMN data_form TEXT;
