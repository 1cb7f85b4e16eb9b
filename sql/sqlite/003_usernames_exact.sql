-- Beyond schema version 3, SQLite: nothing to change (SQLite compares text exactly already);
-- the file exists so both engines share one version history. See sql/mysql/003_usernames_exact.sql.
SELECT 1;
