-- Beyond schema version 8, SQLite: webhooks, their outbox and delivery attempts, and the
-- counters /metrics reads. Same tables and columns as sql/mysql/008_webhooks_metrics.sql.
--
-- webhooks: owner_id is the user who made it; is_global=1 (administrators only) receives the
-- events of every user's jobs, else only the owner's. events: comma-separated event types.
-- secret: the Standard Webhooks signing key (whsec_...), kept because every delivery is signed
-- with it; shown to its maker once.
CREATE TABLE IF NOT EXISTS webhooks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    is_global   INTEGER NOT NULL DEFAULT 0,
    url         TEXT    NOT NULL,
    events      TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_owner ON webhooks (owner_id);

-- The outbox: one row per (event, webhook), written in the transaction that gives the job
-- its final state; the workers send it. message_id is the webhook-id header (the same on
-- every retry, so a receiver can drop duplicates). payload: the event's JSON data.
-- state: pending, delivered or failed (gave up). leased_by/leased_at/lease_token: the worker
-- sending it now (one host per delivery; an old lease may be taken over).
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    job_id          INTEGER NULL,
    event           TEXT    NOT NULL,
    message_id      TEXT    NOT NULL UNIQUE,
    payload         TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    next_attempt_at TEXT    NOT NULL,
    leased_by       TEXT    NULL,
    leased_at       TEXT    NULL,
    lease_token     TEXT    NULL,
    finished_at     TEXT    NULL,
    last_status     INTEGER NULL,
    last_error      TEXT    NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);

-- Every attempt: the HTTP status (NULL: no answer), how long it took, what went wrong.
CREATE TABLE IF NOT EXISTS webhook_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at TEXT    NOT NULL,
    status_code  INTEGER NULL,
    duration_ms  INTEGER NOT NULL,
    error        TEXT    NULL,
    worker       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- Counters for /metrics (app/core/events/metrics.py), kept in the database so that every host
-- reports the same numbers and they survive restarts and deleted jobs. labels: the sorted
-- label pairs as text ('model=x,status=y'); histograms keep one row per bucket, plus
-- _sum and _count.
CREATE TABLE IF NOT EXISTS metric_counters (
    name   TEXT NOT NULL,
    labels TEXT NOT NULL,
    value  REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (name, labels)
);

-- The counter rows known in advance, at 0: concurrent first increments of a new row are where
-- InnoDB can deadlock, and a scrape shows every series from the start.
INSERT OR IGNORE INTO metric_counters (name, labels, value) VALUES
    ('job_duration_seconds_bucket', 'le=1.0', 0),
    ('job_duration_seconds_bucket', 'le=5.0', 0),
    ('job_duration_seconds_bucket', 'le=15.0', 0),
    ('job_duration_seconds_bucket', 'le=60.0', 0),
    ('job_duration_seconds_bucket', 'le=300.0', 0),
    ('job_duration_seconds_bucket', 'le=900.0', 0),
    ('job_duration_seconds_bucket', 'le=3600.0', 0),
    ('job_duration_seconds_bucket', 'le=14400.0', 0),
    ('job_duration_seconds_bucket', 'le=+Inf', 0),
    ('job_duration_seconds_sum', '', 0),
    ('job_queue_wait_seconds_bucket', 'le=1.0', 0),
    ('job_queue_wait_seconds_bucket', 'le=5.0', 0),
    ('job_queue_wait_seconds_bucket', 'le=30.0', 0),
    ('job_queue_wait_seconds_bucket', 'le=60.0', 0),
    ('job_queue_wait_seconds_bucket', 'le=300.0', 0),
    ('job_queue_wait_seconds_bucket', 'le=900.0', 0),
    ('job_queue_wait_seconds_bucket', 'le=3600.0', 0),
    ('job_queue_wait_seconds_bucket', 'le=14400.0', 0),
    ('job_queue_wait_seconds_bucket', 'le=+Inf', 0),
    ('job_queue_wait_seconds_sum', '', 0),
    ('lease_takeovers', 'outcome=requeued', 0),
    ('lease_takeovers', 'outcome=failed', 0),
    ('webhook_deliveries', 'outcome=delivered', 0),
    ('webhook_deliveries', 'outcome=failed', 0),
    ('webhook_deliveries', 'outcome=gave_up', 0);
