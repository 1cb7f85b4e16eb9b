-- Beyond schema version 7, SQLite: every job's data-quality report (model/quality.py). Same
-- table and columns as sql/mysql/007_job_quality.sql.
--
-- job_quality: one row per finished job (a re-run replaces it; deleting the job deletes it,
-- app/core/jobs/queue.py). status is ok / warning / alert / unknown (no training profile);
-- drifted_features a JSON list of names; report_json the whole report (GET
-- /api/jobs/{id}/quality). model_name and model_version: what scored the job, for the model's
-- page over time (/models/{name}/quality).
CREATE TABLE IF NOT EXISTS job_quality (
    job_id           INTEGER PRIMARY KEY,
    model_name       TEXT    NULL,
    model_version    TEXT    NULL,
    status           TEXT    NOT NULL,
    rows_total       INTEGER NOT NULL,
    rows_flagged     INTEGER NOT NULL,
    rows_not_scored  INTEGER NOT NULL,
    drifted_features TEXT    NOT NULL,
    reason           TEXT    NOT NULL,
    report_json      TEXT    NOT NULL,
    created_at       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS job_quality_model ON job_quality (model_name, job_id);
