-- Every query Beyond runs, by name. Loaded by app/core/db.py into a dict; a test checks the names.
-- Parameters are written :name (both engines; app/core/db.py rewrites them for MySQL).
-- Macros filled per engine: {now} the database's current UTC time, {cutoff} now minus
-- :lease_seconds, {skip_locked} "FOR UPDATE SKIP LOCKED" and {for_update} "FOR UPDATE" on
-- MySQL/MariaDB, nothing on SQLite (SQLite serialises writers with BEGIN IMMEDIATE instead),
-- {add_to_value_on_duplicate} the end of an INSERT that adds to the existing row's `value` when
-- the key exists (an upsert that takes the row's write lock at once, so concurrent adders queue
-- instead of deadlocking).
-- Times come from the database clock so workers on hosts with skewed clocks agree on leases.

-- name: schema_version_get
SELECT MAX(version) AS version FROM schema_version

-- name: schema_version_set
INSERT INTO schema_version (version, applied_at) VALUES (:version, {now})

-- name: ping
SELECT 1 AS ok

-- name: now
SELECT {now} AS now

------------------------------------------------------------------ jobs (wp_records)

-- name: job_insert
-- model_*: the registered model version the upload was checked against (NULL: none given).
-- file_key: the name folded for search (app/core/textfold.py, migration 010).
INSERT INTO wp_records (owner_id, file_name, path_up, file_size, rows_total, status_file, date_up,
                        model_name, model_version, model_sha256, input_sha256, file_key)
VALUES (:owner_id, :file_name, :path_up, :file_size, :rows_total, 'PENDING', {now},
        :model_name, :model_version, :model_sha256, :input_sha256, :file_key)

-- name: job_get
SELECT r.*, u.username AS owner_name
FROM wp_records r JOIN users u ON u.id = r.owner_id
WHERE r.id = :id

-- name: job_next_pending
SELECT id FROM wp_records WHERE status_file = 'PENDING' ORDER BY id LIMIT 1 {skip_locked}

-- name: job_claim
UPDATE wp_records
SET status_file = 'IN PROCESS', claimed_by = :worker, claim_token = :token,
    date_init = {now}, heartbeat_at = {now}, date_result = NULL,
    attempts = attempts + 1, rows_done = 0, error_message = NULL
WHERE id = :id AND status_file = 'PENDING'

-- name: job_claim_forced
-- seen_event: the job's last history event when the re-run was asked for (NULL: no check). A
-- change since (another request's re-run, say) refuses the claim, so a burst of forced re-runs
-- runs the job once.
UPDATE wp_records
SET status_file = 'IN PROCESS', claimed_by = :worker, claim_token = :token,
    date_init = {now}, heartbeat_at = {now}, date_result = NULL,
    attempts = attempts + 1, rows_done = 0, error_message = NULL
WHERE id = :id AND status_file IN ('PENDING', 'PROCESS OK', 'ERROR', 'CANCELLED') AND expired_at IS NULL
  AND (:seen_event IS NULL
       OR (SELECT COALESCE(MAX(e.id), 0) FROM job_events e WHERE e.job_id = :id) = :seen_event)

-- name: job_heartbeat
UPDATE wp_records
SET heartbeat_at = {now}, rows_done = :rows_done, rows_total = COALESCE(:rows_total, rows_total)
WHERE id = :id AND status_file = 'IN PROCESS' AND claim_token = :token

-- name: job_complete
UPDATE wp_records
SET status_file = 'PROCESS OK', path_result = :path_result, path_result_csv = :path_result_csv,
    date_result = {now}, heartbeat_at = {now}, rows_done = :rows_done, rows_total = :rows_total,
    model_version = :model_version, claim_token = NULL
WHERE id = :id AND status_file = 'IN PROCESS' AND claim_token = :token

-- name: job_fail
UPDATE wp_records
SET status_file = 'ERROR', error_message = :message, date_result = {now}, claim_token = NULL
WHERE id = :id AND status_file = 'IN PROCESS' AND claim_token = :token

-- name: job_claim_alive
-- The heartbeat thread's cheap check between writes: is the claim still ours (not cancelled,
-- reaped or deleted)? A running job stops at its next progress check when it is not.
SELECT 1 AS ok FROM wp_records WHERE id = :id AND status_file = 'IN PROCESS' AND claim_token = :token

-- name: job_cancel_pending
UPDATE wp_records
SET status_file = 'CANCELLED', error_message = :message, date_result = {now}
WHERE id = :id AND status_file = 'PENDING'

-- name: job_cancel_running
-- Guarded by the claim seen: the worker's next fenced write (heartbeat, complete, fail)
-- matches 0 rows, so it discards its output; exactly one of cancel and complete wins.
UPDATE wp_records
SET status_file = 'CANCELLED', error_message = :message, date_result = {now}, claim_token = NULL
WHERE id = :id AND status_file = 'IN PROCESS' AND claim_token = :token

-- name: job_release
UPDATE wp_records
SET status_file = 'PENDING', claimed_by = NULL, claim_token = NULL, date_init = NULL,
    heartbeat_at = NULL, rows_done = 0,
    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
WHERE id = :id AND status_file = 'IN PROCESS' AND claim_token = :token

-- name: job_requeue
-- A claim that failed for a reason outside the job (a full disk): back in the queue, the attempt
-- counted (the claim's attempts + 1 reach MAX_ATTEMPTS, then the worker fails it), the reason kept.
UPDATE wp_records
SET status_file = 'PENDING', claimed_by = NULL, claim_token = NULL, date_init = NULL,
    heartbeat_at = NULL, rows_done = 0, error_message = :message
WHERE id = :id AND status_file = 'IN PROCESS' AND claim_token = :token

-- name: jobs_stale
-- claim_token: the reaper removes the files the lost claim left (their names carry it).
SELECT r.id, r.attempts, r.claimed_by, r.owner_id, r.claim_token, r.date_init,
       u.username AS owner_name, {now} AS now
FROM wp_records r JOIN users u ON u.id = r.owner_id
WHERE r.status_file = 'IN PROCESS' AND r.heartbeat_at < {cutoff}
ORDER BY r.id

-- name: job_reap_requeue
UPDATE wp_records
SET status_file = 'PENDING', claim_token = NULL, heartbeat_at = NULL, rows_done = 0
WHERE id = :id AND status_file = 'IN PROCESS' AND heartbeat_at < {cutoff}
  AND claim_token = :token AND attempts < :max_attempts

-- name: job_reap_fail
UPDATE wp_records
SET status_file = 'ERROR', error_message = :message, date_result = {now}, claim_token = NULL
WHERE id = :id AND status_file = 'IN PROCESS' AND heartbeat_at < {cutoff}
  AND claim_token = :token AND attempts >= :max_attempts

-- name: job_retry
UPDATE wp_records
SET status_file = 'PENDING', attempts = 0, error_message = NULL, date_init = NULL,
    date_result = NULL, rows_done = 0, claimed_by = NULL, claim_token = NULL, heartbeat_at = NULL
WHERE id = :id AND status_file IN ('ERROR', 'CANCELLED') AND expired_at IS NULL

-- name: job_set_archived
UPDATE wp_records SET archived = :archived WHERE id = :id

-- name: job_delete
DELETE FROM wp_records WHERE id = :id AND status_file <> 'IN PROCESS'

-- name: jobs_status_counts
SELECT status_file, COUNT(*) AS n FROM wp_records
WHERE (:owner_id IS NULL OR owner_id = :owner_id) AND archived = 0
GROUP BY status_file

-- name: jobs_pending_ids
SELECT id FROM wp_records WHERE status_file = 'PENDING' ORDER BY id

------------------------------------------------------------------ jobs: the panel's live updates (/jobs/updates)

-- name: jobs_active
-- Jobs that may still change on their own (a worker moves them along). The queue index
-- (status_file, id) serves it; the cap keeps one poll cheap whatever the backlog.
SELECT r.*, u.username AS owner_name
FROM wp_records r JOIN users u ON u.id = r.owner_id
WHERE r.status_file IN ('PENDING', 'IN PROCESS')
  AND (:owner_id IS NULL OR r.owner_id = :owner_id)
ORDER BY r.id DESC
LIMIT 200

-- name: jobs_finished_since
-- Jobs that ended (PROCESS OK, ERROR or CANCELLED) at or after :since, a database time the
-- previous poll returned; served by the wp_records_finished index (migration 002).
SELECT r.*, u.username AS owner_name
FROM wp_records r JOIN users u ON u.id = r.owner_id
WHERE r.date_result >= :since
  AND r.status_file IN ('PROCESS OK', 'ERROR', 'CANCELLED')
  AND (:owner_id IS NULL OR r.owner_id = :owner_id)
ORDER BY r.id DESC
LIMIT 200

-- name: jobs_newest_id
SELECT MAX(id) AS id FROM wp_records WHERE (:owner_id IS NULL OR owner_id = :owner_id)

-- name: job_queue_position
-- A PENDING job's place in the queue (1: next to be claimed); the queue index serves it.
SELECT COUNT(*) AS n FROM wp_records WHERE status_file = 'PENDING' AND id <= :id

------------------------------------------------------------------ the queue page (administrators)

-- name: queue_status_counts
SELECT status_file, COUNT(*) AS n FROM wp_records GROUP BY status_file

-- name: queue_oldest_pending
SELECT MIN(date_up) AS oldest, {now} AS now FROM wp_records WHERE status_file = 'PENDING'

-- name: queue_rows_done_since
-- Rows of the jobs that ended PROCESS OK since {cutoff} (:lease_seconds ago: the window).
SELECT COALESCE(SUM(rows_total), 0) AS rows_done, COUNT(*) AS jobs FROM wp_records
WHERE status_file = 'PROCESS OK' AND date_result >= {cutoff}

-- name: queue_running
-- The busy workers, from their jobs' heartbeats; stale: no heartbeat within :lease_seconds.
SELECT r.id, r.file_name, r.claimed_by, r.date_init, r.heartbeat_at, r.rows_done, r.rows_total, r.attempts,
       u.username AS owner_name, {now} AS now, CASE WHEN r.heartbeat_at < {cutoff} THEN 1 ELSE 0 END AS stale
FROM wp_records r JOIN users u ON u.id = r.owner_id
WHERE r.status_file = 'IN PROCESS'
ORDER BY r.date_init, r.id

------------------------------------------------------------------ job history (job_events, migration 006)
-- One row per state change, inserted in the transaction of the change by app/core/jobs/queue.py;
-- status and attempt are read from the row after the change.

-- name: job_event_insert
INSERT INTO job_events (job_id, event, status, worker, attempt, detail, created_at)
SELECT id, :event, status_file, :worker, attempts, :detail, {now} FROM wp_records WHERE id = :id

-- name: job_last_event
SELECT COALESCE(MAX(id), 0) AS id FROM job_events WHERE job_id = :id

-- name: job_events_for_job
SELECT id, job_id, event, status, worker, attempt, detail, created_at
FROM job_events WHERE job_id = :id ORDER BY id

------------------------------------------------------------------ the model registry (models)

-- name: model_insert
INSERT INTO models (name, version, artifact_sha256, schema_json, deployed_by, deployed_at, active)
VALUES (:name, :version, :artifact_sha256, :schema_json, :deployed_by, {now}, 0)

-- name: model_get
SELECT * FROM models WHERE name = :name AND version = :version

-- name: model_active
SELECT * FROM models WHERE name = :name AND active = 1

-- name: models_active
SELECT * FROM models WHERE active = 1 ORDER BY name

-- name: models_list
SELECT * FROM models ORDER BY name, id DESC

-- name: models_named_count
SELECT COUNT(*) AS n FROM models WHERE name = :name

-- name: models_deactivate
-- With model_activate, in one transaction: at most one active version per name. On MySQL the
-- UPDATE locks every row of the name, so two activations of one name run one after the other.
UPDATE models SET active = 0 WHERE name = :name

-- name: model_activate
UPDATE models SET active = 1 WHERE name = :name AND version = :version

------------------------------------------------------------------ users

-- name: user_insert
INSERT INTO users (username, password_hash, is_admin, is_active, email, created_at)
VALUES (:username, :password_hash, :is_admin, 1, :email, {now})

-- name: user_by_name
-- username_key: the lower-case name, unique (migration 004); :username_key is lower-cased in Python.
SELECT * FROM users WHERE username_key = :username_key

-- name: user_by_id
SELECT * FROM users WHERE id = :id

-- name: users_list
SELECT * FROM users ORDER BY username_key

-- name: users_count
SELECT COUNT(*) AS n FROM users

-- name: user_set_password
-- must_change_password (migration 010): cleared by any new password; an administrator's reset
-- sets it again (app/core/accounts/admin.py).
UPDATE users SET password_hash = :password_hash, session_version = session_version + 1,
                 must_change_password = 0 WHERE id = :id

-- name: user_set_active
UPDATE users SET is_active = :is_active, session_version = session_version + 1 WHERE id = :id

-- name: user_set_email
UPDATE users SET email = :email, notify_email = :notify_email WHERE id = :id

-- name: user_bump_session
UPDATE users SET session_version = session_version + 1 WHERE id = :id

------------------------------------------------------------------ sign-in attempts (login_failures)
-- A row is written BEFORE the password is checked (app/core/accounts/throttle.py): attempts that are
-- refused or succeed remove their row again, so what stays is failures. username is the
-- lower-case name key, client the address the attempt came from.

-- name: login_attempt_insert
INSERT INTO login_failures (username, client, failed_at) VALUES (:username, :client, {now})

-- name: login_attempt_counts
-- Everything the throttle decides on, in one read after the attempt's own row is committed.
SELECT
  (SELECT COUNT(*) FROM login_failures
    WHERE username = :username AND client = :client AND failed_at >= {cutoff}) AS pair_n,
  (SELECT MAX(failed_at) FROM login_failures
    WHERE username = :username AND client = :client AND failed_at >= {cutoff} AND id <> :id) AS pair_newest,
  (SELECT COUNT(*) FROM login_failures WHERE username = :username AND failed_at >= {cutoff}) AS name_n,
  (SELECT MIN(failed_at) FROM login_failures WHERE username = :username AND failed_at >= {cutoff}) AS name_oldest,
  (SELECT MAX(failed_at) FROM login_failures
    WHERE username = :username AND failed_at >= {cutoff} AND id <> :id) AS name_newest,
  (SELECT COUNT(*) FROM login_failures WHERE client = :client AND failed_at >= {cutoff}) AS client_n,
  (SELECT MIN(failed_at) FROM login_failures WHERE client = :client AND failed_at >= {cutoff}) AS client_oldest,
  {now} AS now

-- name: login_attempt_delete
DELETE FROM login_failures WHERE id = :id

-- name: login_failures_clear_pair
DELETE FROM login_failures WHERE username = :username AND client = :client

-- name: login_failures_clear
DELETE FROM login_failures WHERE username = :username

-- name: login_failures_prune
DELETE FROM login_failures WHERE failed_at < {cutoff}

-- name: login_failures_by_name
-- The administrators' user list: recent failures per name key.
SELECT username, COUNT(*) AS n FROM login_failures WHERE failed_at >= {cutoff} GROUP BY username

------------------------------------------------------------------ API tokens

-- name: token_insert
INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at)
VALUES (:user_id, :name, :token_hash, :prefix, {now})

-- name: token_by_hash
-- now: the database clock, so "used in the last minute?" is decided without a write.
SELECT t.id AS token_id, t.name AS token_name, t.token_hash, t.last_used_at AS token_last_used_at,
       {now} AS now, u.*
FROM api_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = :token_hash AND t.revoked_at IS NULL

-- name: token_touch
UPDATE api_tokens SET last_used_at = {now} WHERE id = :id

-- name: tokens_for_user
SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_tokens
WHERE user_id = :user_id ORDER BY id DESC

-- name: token_revoke
UPDATE api_tokens SET revoked_at = {now} WHERE id = :id AND user_id = :user_id AND revoked_at IS NULL

-- name: tokens_revoke_all
UPDATE api_tokens SET revoked_at = {now} WHERE user_id = :user_id AND revoked_at IS NULL

-- name: schema_versions_applied
SELECT COUNT(*) AS n FROM schema_version

------------------------------------------------------------------ job quality reports (job_quality)

-- name: job_quality_delete
DELETE FROM job_quality WHERE job_id = :job_id

-- name: job_quality_insert
INSERT INTO job_quality (job_id, model_name, model_version, status, rows_total, rows_flagged, rows_not_scored,
                         drifted_features, reason, report_json, created_at)
VALUES (:job_id, :model_name, :model_version, :status, :rows_total, :rows_flagged, :rows_not_scored,
        :drifted_features, :reason, :report_json, {now})

-- name: job_quality_get
SELECT * FROM job_quality WHERE job_id = :job_id

-- name: job_quality_summaries
-- The badges of a page of jobs: its ids lie between :low and :high.
SELECT job_id, status, rows_total, rows_flagged, rows_not_scored, drifted_features, reason
FROM job_quality WHERE job_id BETWEEN :low AND :high

-- name: job_quality_for_model
-- A model's recent jobs with their reports, newest first (:owner_id NULL: everyone's).
SELECT q.*, r.status_file, r.file_name, r.date_result, r.owner_id
FROM job_quality q JOIN wp_records r ON r.id = q.job_id
WHERE q.model_name = :name AND (:owner_id IS NULL OR r.owner_id = :owner_id)
ORDER BY q.job_id DESC LIMIT :limit
