-- Beyond schema version 12, MySQL / MariaDB: what the upload check learned about the stored
-- file. Same columns as sql/sqlite/012_checked_inputs.sql (see there for what each means).
-- Every statement can be repeated (app/core/db.py skips "column exists").
-- checked_report holds the header: up to 16,000 columns (inspect_csv's max_columns) of names of
-- up to the csv module's 131,072 characters: TEXT (64 KiB), even MEDIUMTEXT (16 MiB), can be
-- too small (app/core/jobs/inputs.py does not store a report above CHECKED_REPORT_MAX).
ALTER TABLE job_inputs ADD COLUMN checked_sha256 CHAR(64) NULL;
ALTER TABLE job_inputs ADD COLUMN checked_model_sha256 CHAR(64) NULL;
ALTER TABLE job_inputs ADD COLUMN checked_report LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;
