-- Queries of the upload inputs (job_inputs, migrations 009 and 012); loaded with sql/queries.sql.

-- name: job_input_insert
INSERT INTO job_inputs (job_id, owner_id, sha256, input_format, field_separator, decimal_mark, encoding,
                        sheet, header_row, path_original, checked_sha256, checked_model_sha256, checked_report)
VALUES (:job_id, :owner_id, :sha256, :input_format, :field_separator, :decimal_mark, :encoding,
        :sheet, :header_row, :path_original, :checked_sha256, :checked_model_sha256, :checked_report)

-- name: job_input_get
-- Not the checked report (up to megabytes for a wide header): only the worker reads it.
SELECT job_id, owner_id, sha256, input_format, field_separator, decimal_mark, encoding, sheet, header_row,
       path_original
FROM job_inputs WHERE job_id = :job_id

-- name: job_input_checked
-- What the upload check learned about the stored file (migration 012), for the worker.
SELECT checked_sha256, checked_model_sha256, checked_report FROM job_inputs WHERE job_id = :job_id

-- name: job_input_duplicate
-- The owner's newest job with the same upload content (its row still there).
SELECT i.job_id FROM job_inputs i JOIN wp_records r ON r.id = i.job_id
WHERE i.owner_id = :owner_id AND i.sha256 = :sha256 AND i.job_id <> :exclude
ORDER BY i.job_id DESC LIMIT 1
