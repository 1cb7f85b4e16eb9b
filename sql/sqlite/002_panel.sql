-- Beyond schema version 2, SQLite: the panel's live updates ask "which jobs ended since the
-- last poll?" every 2 seconds; an index on the finish time answers without a table scan.
CREATE INDEX IF NOT EXISTS wp_records_finished ON wp_records (date_result);
