-- Routes (the pipeline file): a dead letter says which route it was for and, for a schema or conversion
-- failure, where in the event (a JSON pointer such as /data/amount) and which keyword or column refused it.
-- `pacer dead-letters replay` counts its attempts, so a letter that keeps failing is visible as such.
-- `headers` keeps the record's Kafka headers (a binary-mode CloudEvent's attributes are there), as a JSON
-- array of [name, value] pairs, values as text, so that a replay reads the record as it was.
ALTER TABLE dead_letters
    ADD COLUMN route           text,
    ADD COLUMN pointer         text,
    ADD COLUMN keyword         text,
    ADD COLUMN headers         jsonb,
    ADD COLUMN replay_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN last_replayed_at timestamptz;

CREATE INDEX dead_letters_route ON dead_letters (route, failed_at);
