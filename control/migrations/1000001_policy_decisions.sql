-- The control plane's migrations are numbered from 1,000,001 on, apart from the workers' (from 1), because
-- both are kept in the one `_sqlx_migrations` table of the pipeline's database. IF NOT EXISTS: databases
-- from before that numbering have the table already.
--
-- Every decision of the control plane: the policy's (pushed in enforce mode, only recorded in advise mode) and
-- the operators' overrides.
CREATE TABLE IF NOT EXISTS policy_decisions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL,
    worker_id       text,
    scope           text        NOT NULL CHECK (scope IN ('worker', 'all')),
    policy          text        NOT NULL,
    mode            text        NOT NULL CHECK (mode IN ('enforce', 'advise')),
    old_interval_ms bigint      NOT NULL,
    old_max_rows    bigint      NOT NULL,
    old_max_bytes   bigint      NOT NULL,
    new_interval_ms bigint      NOT NULL,
    new_max_rows    bigint      NOT NULL,
    new_max_bytes   bigint      NOT NULL,
    reason          text        NOT NULL
);
CREATE INDEX IF NOT EXISTS policy_decisions_at ON policy_decisions (at DESC);
CREATE INDEX IF NOT EXISTS policy_decisions_worker ON policy_decisions (worker_id, at DESC);
