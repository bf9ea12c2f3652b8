-- The events the pipeline writes: exactly one row per (source, id), the CloudEvents identity.
CREATE TABLE events (
    source          text        NOT NULL,
    id              text        NOT NULL,
    type            text        NOT NULL,
    time            timestamptz NOT NULL,
    subject         text,
    datacontenttype text,
    dataschema      text,
    data            jsonb,
    data_base64     text,
    extensions      jsonb       NOT NULL DEFAULT '{}',
    ingested_at     timestamptz NOT NULL,
    processed_at    timestamptz NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    PRIMARY KEY (source, id)
);

-- Records that are not valid CloudEvents, with the reason; one row per Kafka record.
CREATE TABLE dead_letters (
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    key             bytea,
    payload         bytea,
    reason          text        NOT NULL,
    ingested_at     timestamptz,
    failed_at       timestamptz NOT NULL DEFAULT now(),
    worker_id       text        NOT NULL,
    PRIMARY KEY (topic, kafka_partition, kafka_offset)
);

-- One row per micro-batch a worker wrote.
CREATE TABLE batch_metrics (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    worker_id       text        NOT NULL,
    batch_no        bigint      NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    records         integer     NOT NULL,
    rows_written    integer     NOT NULL,
    duplicates      integer     NOT NULL,
    invalid         integer     NOT NULL,
    bytes           bigint      NOT NULL,
    flush_reason    text        NOT NULL CHECK (flush_reason IN ('interval', 'max_rows', 'max_bytes', 'drain')),
    interval_ms     bigint      NOT NULL,
    max_rows        bigint      NOT NULL,
    max_bytes       bigint      NOT NULL,
    poll_ms         double precision NOT NULL,
    transform_ms    double precision NOT NULL,
    write_ms        double precision NOT NULL,
    commit_ms       double precision NOT NULL,
    write_attempts  integer     NOT NULL,
    lag             bigint,
    e2e_p50_ms      double precision,
    e2e_max_ms      double precision
);
CREATE INDEX batch_metrics_worker ON batch_metrics (worker_id, batch_no);
CREATE INDEX batch_metrics_finished ON batch_metrics (finished_at);
