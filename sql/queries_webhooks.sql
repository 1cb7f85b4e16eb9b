-- Webhooks, their outbox (webhook_deliveries) and attempts, and the /metrics counters
-- (migration 008). Same conventions as sql/queries.sql.

------------------------------------------------------------------ webhooks

-- name: webhook_insert
INSERT INTO webhooks (owner_id, is_global, url, events, secret, created_at)
VALUES (:owner_id, :is_global, :url, :events, :secret, {now})

-- name: webhook_owner_lock
-- The owner's row locked for the rest of the transaction (SQLite: BEGIN IMMEDIATE already
-- serialises writers), so two creates cannot both count 19 and both insert the 20th.
SELECT id FROM users WHERE id = :owner_id {for_update}

-- name: webhooks_owned_count
SELECT COUNT(*) AS n FROM webhooks WHERE owner_id = :owner_id

-- name: webhook_get
SELECT w.*, u.username AS owner_name FROM webhooks w JOIN users u ON u.id = w.owner_id WHERE w.id = :id

-- name: webhooks_visible
-- A user's own webhooks; with :include_global=1 (administrators) the global ones too.
SELECT w.*, u.username AS owner_name FROM webhooks w JOIN users u ON u.id = w.owner_id
WHERE w.owner_id = :owner_id OR (:include_global = 1 AND w.is_global = 1)
ORDER BY w.id DESC

-- name: webhooks_for_job_owner
-- Who hears about a job: its owner's webhooks and every global one.
SELECT id, events FROM webhooks WHERE owner_id = :owner_id OR is_global = 1 ORDER BY id

-- name: webhook_delete
DELETE FROM webhooks WHERE id = :id

------------------------------------------------------------------ the outbox

-- name: delivery_insert
INSERT INTO webhook_deliveries (webhook_id, job_id, event, message_id, payload, state, attempts,
                                created_at, next_attempt_at)
VALUES (:webhook_id, :job_id, :event, :message_id, :payload, 'pending', 0, {now}, {now})

-- name: deliveries_due
-- Pending deliveries whose time has come and that no live lease holds (:lease_seconds old).
-- leased_at set here means an earlier lease was lost with its worker mid-attempt.
SELECT id, attempts, leased_at FROM webhook_deliveries
WHERE state = 'pending' AND next_attempt_at <= {now} AND (leased_at IS NULL OR leased_at < {cutoff})
ORDER BY next_attempt_at, id
LIMIT :limit {skip_locked}

-- name: delivery_lease
-- The attempt is counted here, before it is made: a worker that dies mid-attempt leaves it counted.
UPDATE webhook_deliveries SET leased_by = :worker, leased_at = {now}, lease_token = :token,
    attempts = attempts + 1
WHERE id = :id AND state = 'pending' AND next_attempt_at <= {now}
  AND (leased_at IS NULL OR leased_at < {cutoff})

-- name: delivery_for_send
SELECT d.*, w.url, w.secret, {now} AS now
FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
WHERE d.id = :id AND d.lease_token = :token

-- name: attempt_insert
INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, duration_ms, error, worker)
VALUES (:delivery_id, {now}, :status_code, :duration_ms, :error, :worker)

-- name: delivery_done
-- The outcome of an attempt, fenced by the lease: state delivered, failed or pending again.
UPDATE webhook_deliveries
SET state = :state, next_attempt_at = COALESCE(:next_attempt_at, next_attempt_at),
    finished_at = CASE WHEN :state = 'pending' THEN NULL ELSE {now} END,
    last_status = :status_code, last_error = :error,
    leased_by = NULL, leased_at = NULL, lease_token = NULL
WHERE id = :id AND lease_token = :token

-- name: delivery_give_up_lost
-- A delivery whose last allowed attempt never reported (its worker died): failed, not sent again.
UPDATE webhook_deliveries
SET state = 'failed', finished_at = {now}, last_error = :error, leased_by = NULL, leased_at = NULL,
    lease_token = NULL
WHERE id = :id AND state = 'pending' AND leased_at IS NOT NULL AND leased_at < {cutoff}

-- name: deliveries_of_webhook
SELECT * FROM webhook_deliveries WHERE webhook_id = :webhook_id ORDER BY id DESC LIMIT :limit

-- name: attempts_of_webhook
SELECT a.* FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
WHERE d.webhook_id = :webhook_id AND a.delivery_id >= :min_delivery_id
ORDER BY a.id

------------------------------------------------------------------ /metrics

-- name: counter_add
INSERT INTO metric_counters (name, labels, value) VALUES (:name, :labels, :amount)
{add_to_value_on_duplicate}

-- name: counters_all
SELECT name, labels, value FROM metric_counters ORDER BY name, labels

-- name: metrics_jobs_by_status_model
SELECT status_file, model_name, COUNT(*) AS n FROM wp_records GROUP BY status_file, model_name

-- name: metrics_oldest_pending
SELECT MIN(date_up) AS oldest, {now} AS now FROM wp_records WHERE status_file = 'PENDING'

-- name: metrics_deliveries_by_state
SELECT state, COUNT(*) AS n FROM webhook_deliveries GROUP BY state
