-- Freshness: per batch, the median, 99th percentile and largest time from each valid event's receipt (its
-- Kafka record's timestamp; for an event from pacer's ingest, the receipt of its request) to the commit of
-- the transaction that wrote its row. e2e_p50_ms and e2e_max_ms keep measuring from the event's own `time`
-- to the end of the batch.
ALTER TABLE batch_metrics
    ADD COLUMN receipt_commit_p50_ms double precision,
    ADD COLUMN receipt_commit_p99_ms double precision,
    ADD COLUMN receipt_commit_max_ms double precision;
