-- Beyond schema version 6, SQLite: a job's history, cancel, and the input's hash. Same tables
-- and columns as sql/mysql/006_job_events.sql.
--
-- job_events: one row per state change of a job, written by app/core/jobs/queue.py in the same
-- transaction as the change itself (queued, claimed, requeued, reaped, released, retried,
-- cancelled, finished_ok, finished_error). worker: the worker id (host:pid:random) for the
-- events a worker causes, "web" or the user's name for the others; attempt: the job's
-- attempts after the change; detail: a human sentence (the error, who cancelled, ...).
-- The rows go with their job (ON DELETE CASCADE; SQLite: foreign_keys is on in db.py).
CREATE TABLE IF NOT EXISTS job_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     INTEGER NOT NULL REFERENCES wp_records (id) ON DELETE CASCADE,
    event      TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    worker     TEXT    NULL,
    attempt    INTEGER NOT NULL DEFAULT 0,
    detail     TEXT    NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS job_events_job ON job_events (job_id, id);
-- The queue page's "rows/s over the last hour" and "finished in the last hour" read by time.
CREATE INDEX IF NOT EXISTS job_events_time ON job_events (created_at);

-- The uploaded file's SHA-256 (hex), computed when it is accepted; NULL for jobs from before.
ALTER TABLE wp_records ADD COLUMN input_sha256 TEXT NULL;
-- The new status 'CANCELLED' needs no change: status_file is free text (checked in Python).
