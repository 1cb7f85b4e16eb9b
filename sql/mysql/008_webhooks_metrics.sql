-- Beyond schema version 8, MySQL / MariaDB: webhooks, their outbox and delivery attempts, and
-- the counters /metrics reads. Same tables and columns as sql/sqlite/008_webhooks_metrics.sql
-- (its comments explain them). Every statement can be repeated (app/core/db.py skips "already
-- exists").
CREATE TABLE IF NOT EXISTS webhooks (
    id          INT UNSIGNED  NOT NULL AUTO_INCREMENT PRIMARY KEY,
    owner_id    INT UNSIGNED  NOT NULL,
    is_global   TINYINT(1)    NOT NULL DEFAULT 0,
    url         VARCHAR(2000) NOT NULL,
    events      VARCHAR(255)  NOT NULL,
    secret      VARCHAR(100)  NOT NULL,
    created_at  DATETIME(6)   NOT NULL,
    KEY webhooks_owner (owner_id),
    CONSTRAINT webhooks_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    webhook_id      INT UNSIGNED    NOT NULL,
    job_id          BIGINT UNSIGNED NULL,
    event           VARCHAR(64)     NOT NULL,
    message_id      VARCHAR(64)     NOT NULL,
    payload         MEDIUMTEXT      NOT NULL,
    state           VARCHAR(16)     NOT NULL DEFAULT 'pending',
    attempts        INT UNSIGNED    NOT NULL DEFAULT 0,
    created_at      DATETIME(6)     NOT NULL,
    next_attempt_at DATETIME(6)     NOT NULL,
    leased_by       VARCHAR(255)    NULL,
    leased_at       DATETIME(6)     NULL,
    lease_token     CHAR(32)        NULL,
    finished_at     DATETIME(6)     NULL,
    last_status     INT             NULL,
    last_error      VARCHAR(1000)   NULL,
    UNIQUE KEY webhook_deliveries_message (message_id),
    KEY webhook_deliveries_due (state, next_attempt_at),
    KEY webhook_deliveries_hook (webhook_id, id),
    CONSTRAINT webhook_deliveries_hook_fk FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS webhook_attempts (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    delivery_id  BIGINT UNSIGNED NOT NULL,
    attempted_at DATETIME(6)     NOT NULL,
    status_code  INT             NULL,
    duration_ms  INT UNSIGNED    NOT NULL,
    error        VARCHAR(1000)   NULL,
    worker       VARCHAR(255)    NOT NULL,
    KEY webhook_attempts_delivery (delivery_id, id),
    CONSTRAINT webhook_attempts_delivery_fk FOREIGN KEY (delivery_id) REFERENCES webhook_deliveries (id)
        ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS metric_counters (
    name   VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    labels VARCHAR(500) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    value  DOUBLE NOT NULL DEFAULT 0,
    PRIMARY KEY (name, labels)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The counter rows known in advance, at 0: concurrent first increments of a new row are where
-- InnoDB can deadlock, and a scrape shows every series from the start.
INSERT IGNORE INTO metric_counters (name, labels, value) VALUES
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
