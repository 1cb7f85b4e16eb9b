-- Beyond schema version 2, MySQL / MariaDB: the panel's live updates ask "which jobs ended
-- since the last poll?" every 2 seconds; an index on the finish time answers without a scan.
ALTER TABLE wp_records ADD INDEX wp_records_finished (date_result);
