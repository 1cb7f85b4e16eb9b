-- Queries of the web panel (app/panel_*.py). Same conventions as queries.sql.

------------------------------------------------------------------ live updates (/jobs/updates)

-- name: panel_jobs_active
-- Jobs that may still change on their own (a worker moves them along). The queue index
-- (status_file, id) serves it; the cap keeps one poll cheap whatever the backlog.
SELECT r.*, u.username AS owner_name
FROM wp_records r JOIN users u ON u.id = r.owner_id
WHERE r.status_file IN ('PENDING', 'IN PROCESS')
  AND (:owner_id IS NULL OR r.owner_id = :owner_id)
ORDER BY r.id DESC
LIMIT 200

-- name: panel_jobs_finished_since
-- Jobs that ended (PROCESS OK or ERROR) at or after :since, a database time the previous
-- poll returned; served by the wp_records_finished index (migration 002).
SELECT r.*, u.username AS owner_name
FROM wp_records r JOIN users u ON u.id = r.owner_id
WHERE r.date_result >= :since
  AND r.status_file IN ('PROCESS OK', 'ERROR')
  AND (:owner_id IS NULL OR r.owner_id = :owner_id)
ORDER BY r.id DESC
LIMIT 200

-- name: panel_jobs_newest_id
SELECT MAX(id) AS id FROM wp_records WHERE (:owner_id IS NULL OR owner_id = :owner_id)
