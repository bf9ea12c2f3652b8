-- The freshness budget before a batch closes, per batch: the median and 99th percentile of receipt →
-- fetched (from the record's timestamp, the receipt at pacer's ingest, to the consumer handing the record to
-- the worker) and of fetched → closed (the rest of the batch's collection). The write and the commit are
-- write_ms and commit_ms.
ALTER TABLE batch_metrics
    ADD COLUMN receipt_fetch_p50_ms double precision,
    ADD COLUMN receipt_fetch_p99_ms double precision,
    ADD COLUMN fetch_close_p50_ms double precision,
    ADD COLUMN fetch_close_p99_ms double precision;
