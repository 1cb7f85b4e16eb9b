-- Beyond schema version 6, MySQL / MariaDB: a job's history, cancel, and the input's hash. Same
-- tables and columns as sql/sqlite/006_job_events.sql. Every statement can be repeated (MySQL
-- DDL commits at once; app/core/db.py skips "already exists").
--
-- job_events: one row per state change of a job, written by app/core/jobs/queue.py in the same
-- transaction as the change itself (queued, claimed, requeued, reaped, released, retried,
-- cancelled, finished_ok, finished_error). worker: the worker id (host:pid:random) for the
-- events a worker causes, "web" or the user's name for the others; attempt: the job's
-- attempts after the change; detail: a human sentence (the error, who cancelled, ...).
-- The rows go with their job (ON DELETE CASCADE).
CREATE TABLE IF NOT EXISTS job_events (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_id     BIGINT UNSIGNED NOT NULL,
    event      VARCHAR(32)  NOT NULL,
    status     VARCHAR(16)  NOT NULL,
    worker     VARCHAR(128) NULL,
    attempt    INT UNSIGNED NOT NULL DEFAULT 0,
    detail     TEXT NULL,
    created_at DATETIME(6)  NOT NULL,
    KEY job_events_job (job_id, id),
    KEY job_events_time (created_at),
    CONSTRAINT job_events_job_fk FOREIGN KEY (job_id) REFERENCES wp_records (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The uploaded file's SHA-256 (hex), computed when it is accepted; NULL for jobs from before.
ALTER TABLE wp_records ADD COLUMN input_sha256 CHAR(64) NULL;
-- The new status 'CANCELLED' (9 characters) fits status_file VARCHAR(16): no change needed.
