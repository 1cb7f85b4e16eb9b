-- The job list of the API and the panel (app/core/jobs/listing.py): filters, sorting, bulk
-- selections and the live insertion of new jobs. Loaded with sql/queries.sql (app/core/db.py
-- reads sql/queries*.sql).
--
-- Every filter is a parameter that is NULL when not used. :search is a LIKE pattern on the
-- folded name (file_key, migration 010; LOWER(file_name) for a row not filled yet), already
-- folded and escaped with '!' in Python. The sort is chosen by :sort and :dir, whose values
-- Python checks against listing.SORTS: the SQL text never changes with the request, and
-- each CASE keeps one column's type. The last key, r.id, makes every order total (stable pages).

-- fragment: joblist_filter
-- The filter of every query below, written once (app/core/db.py load_queries fills it in).
(:owner_id IS NULL OR r.owner_id = :owner_id)
  AND (:status IS NULL OR r.status_file = :status)
  AND (:archived IS NULL OR r.archived = :archived)
  AND (:model IS NULL OR r.model_name = :model)
  AND (:from_time IS NULL OR r.date_up >= :from_time)
  AND (:to_time IS NULL OR r.date_up < :to_time)
  AND (:search IS NULL OR COALESCE(r.file_key, LOWER(r.file_name)) LIKE :search ESCAPE '!')

-- name: joblist_page
SELECT r.*, u.username AS owner_name
FROM wp_records r JOIN users u ON u.id = r.owner_id
WHERE {joblist_filter}
ORDER BY
  CASE WHEN :sort = 'file' AND :dir = 'asc' THEN COALESCE(r.file_key, LOWER(r.file_name)) END ASC,
  CASE WHEN :sort = 'file' AND :dir = 'desc' THEN COALESCE(r.file_key, LOWER(r.file_name)) END DESC,
  CASE WHEN :sort = 'owner' AND :dir = 'asc' THEN u.username_key END ASC,
  CASE WHEN :sort = 'owner' AND :dir = 'desc' THEN u.username_key END DESC,
  CASE WHEN :sort = 'status' AND :dir = 'asc' THEN r.status_file END ASC,
  CASE WHEN :sort = 'status' AND :dir = 'desc' THEN r.status_file END DESC,
  CASE WHEN :sort = 'model' AND :dir = 'asc' THEN r.model_name END ASC,
  CASE WHEN :sort = 'model' AND :dir = 'desc' THEN r.model_name END DESC,
  CASE WHEN :sort = 'started' AND :dir = 'asc' THEN r.date_init END ASC,
  CASE WHEN :sort = 'started' AND :dir = 'desc' THEN r.date_init END DESC,
  CASE WHEN :sort = 'finished' AND :dir = 'asc' THEN r.date_result END ASC,
  CASE WHEN :sort = 'finished' AND :dir = 'desc' THEN r.date_result END DESC,
  CASE WHEN :sort = 'rows' AND :dir = 'asc' THEN r.rows_total END ASC,
  CASE WHEN :sort = 'rows' AND :dir = 'desc' THEN r.rows_total END DESC,
  CASE WHEN :sort = 'attempts' AND :dir = 'asc' THEN r.attempts END ASC,
  CASE WHEN :sort = 'attempts' AND :dir = 'desc' THEN r.attempts END DESC,
  CASE WHEN :sort = 'uploaded' AND :dir = 'asc' THEN r.id END ASC,
  r.id DESC
LIMIT :limit OFFSET :offset

-- name: joblist_count
SELECT COUNT(*) AS n
FROM wp_records r
WHERE {joblist_filter}

-- name: joblist_ids
-- A bulk action over "all N matching this filter": the ids, oldest first, capped by :limit.
SELECT r.id
FROM wp_records r
WHERE {joblist_filter}
ORDER BY r.id
LIMIT :limit

-- name: joblist_newer
-- The live update's new rows: jobs after the newest one the page has, matching its filter.
SELECT r.*, u.username AS owner_name
FROM wp_records r JOIN users u ON u.id = r.owner_id
WHERE r.id > :after AND {joblist_filter}
ORDER BY r.id DESC
LIMIT 50

-- name: joblist_models
-- The model filter's choices: every model name a job was accepted for.
SELECT DISTINCT model_name FROM wp_records
WHERE model_name IS NOT NULL AND (:owner_id IS NULL OR owner_id = :owner_id)
ORDER BY model_name

-- name: joblist_unkeyed
SELECT id, file_name FROM wp_records WHERE file_key IS NULL ORDER BY id LIMIT 500

-- name: joblist_set_key
UPDATE wp_records SET file_key = :file_key WHERE id = :id
