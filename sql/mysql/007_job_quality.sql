-- Beyond schema version 7, MySQL / MariaDB: every job's data-quality report (model/quality.py).
-- Same table and columns as sql/sqlite/007_job_quality.sql (see there). Every statement can be
-- repeated (app/core/db.py skips "already exists").
CREATE TABLE IF NOT EXISTS job_quality (
    job_id           BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    model_name       VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    model_version    VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    status           VARCHAR(16)  NOT NULL,
    rows_total       BIGINT       NOT NULL,
    rows_flagged     BIGINT       NOT NULL,
    rows_not_scored  BIGINT       NOT NULL,
    drifted_features TEXT         NOT NULL,
    reason           TEXT         NOT NULL,
    report_json      MEDIUMTEXT   NOT NULL,
    created_at       DATETIME(6)  NOT NULL,
    KEY job_quality_model (model_name, job_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
