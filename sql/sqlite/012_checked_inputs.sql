-- Beyond schema version 12, SQLite: what the upload check learned about the stored file, so the
-- worker runs the job on it instead of scanning the file again (issue 15). Same columns as
-- sql/mysql/012_checked_inputs.sql. NULL for jobs accepted before: the worker checks those.
--
-- checked_sha256: SHA-256 of the file the worker reads (path_up). For a plain CSV upload that is
-- the upload itself (= sha256); for a workbook, Parquet or titled CSV it is the canonical CSV,
-- not the bytes sent. The worker trusts the report only while the file still hashes to it.
-- checked_model_sha256: the model artifact it was checked against (the registry's artifact_sha256,
-- as wp_records.model_sha256 holds it for the job).
-- checked_report: CsvReport.trusted_json() (model/inputs/report.py): format, header, feature
-- columns, rows and problem counts; no problem messages.
ALTER TABLE job_inputs ADD COLUMN checked_sha256 TEXT NULL;
ALTER TABLE job_inputs ADD COLUMN checked_model_sha256 TEXT NULL;
ALTER TABLE job_inputs ADD COLUMN checked_report TEXT NULL;
