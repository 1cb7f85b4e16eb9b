-- The audit log (app/core/events/audit.py) and result retention (app/core/jobs/retention.py).
-- audit_log is append-only: there is deliberately no UPDATE or DELETE of it here or anywhere.

------------------------------------------------------------------ audit log
-- name: audit_insert
INSERT INTO audit_log (at, actor, action, object_type, object_id, address, detail)
VALUES ({now}, :actor, :action, :object_type, :object_id, :address, :detail)

-- name: audit_list
SELECT * FROM audit_log
WHERE (:actor IS NULL OR LOWER(actor) = LOWER(:actor))
  AND (:action IS NULL OR action = :action)
  AND (:object_type IS NULL OR object_type = :object_type)
  AND (:object_id IS NULL OR object_id = :object_id)
  AND (:since IS NULL OR at >= :since)
  AND (:until IS NULL OR at < :until)
ORDER BY id DESC
LIMIT :limit OFFSET :offset

-- name: audit_count
SELECT COUNT(*) AS n FROM audit_log
WHERE (:actor IS NULL OR LOWER(actor) = LOWER(:actor))
  AND (:action IS NULL OR action = :action)
  AND (:object_type IS NULL OR object_type = :object_type)
  AND (:object_id IS NULL OR object_id = :object_id)
  AND (:since IS NULL OR at >= :since)
  AND (:until IS NULL OR at < :until)

------------------------------------------------------------------ retention and quotas
-- name: jobs_to_expire
-- Finished jobs that ended before :cutoff and still have their files.
SELECT r.*, u.username AS owner_name
FROM wp_records r JOIN users u ON u.id = r.owner_id
WHERE r.status_file IN ('PROCESS OK', 'ERROR') AND r.expired_at IS NULL AND r.date_result < :cutoff
ORDER BY r.id
LIMIT :limit

-- name: job_expire
-- Guarded: only a finished, unexpired job; exactly one sweeper wins it.
UPDATE wp_records SET expired_at = {now}
WHERE id = :id AND status_file IN ('PROCESS OK', 'ERROR') AND expired_at IS NULL

-- name: jobs_to_archive
SELECT id FROM wp_records
WHERE status_file IN ('PROCESS OK', 'ERROR') AND archived = 0 AND date_result < :cutoff
ORDER BY id
LIMIT :limit

-- name: job_auto_archive
UPDATE wp_records SET archived = 1
WHERE id = :id AND archived = 0 AND status_file IN ('PROCESS OK', 'ERROR')

-- name: jobs_unfinished_of_owner
SELECT COUNT(*) AS n FROM wp_records
WHERE owner_id = :owner_id AND status_file IN ('PENDING', 'IN PROCESS')

-- name: user_lock_for_quota
-- Taken before a user's quotas are checked and the new job is written, in one transaction: a
-- burst of uploads by one user is checked one at a time (SQLite: the write lock already).
SELECT id FROM users WHERE id = :owner_id {for_update}

-- name: jobs_stored_of_owner
-- The jobs whose files count against the owner's storage quota (a converted upload's original too).
SELECT r.id, r.path_up, r.path_result, r.path_result_csv, r.file_size, i.path_original
FROM wp_records r LEFT JOIN job_inputs i ON i.job_id = r.id
WHERE r.owner_id = :owner_id AND r.expired_at IS NULL

-- name: sweep_run_insert
INSERT INTO sweep_runs (host, ran_at) VALUES (:host, :never)

-- name: sweep_run_claim
-- The host's turn to sweep: its last run is before :cutoff (an hour ago). One process wins.
UPDATE sweep_runs SET ran_at = {now} WHERE host = :host AND ran_at < :cutoff
