-- Beyond schema version 11, SQLite: the audit log and result retention. Same tables and
-- columns as sql/mysql/011_audit_retention.sql.
--
-- audit_log: append-only. The application only ever INSERTs into it (app/core/events/audit.py has
-- no update or delete, and no query in sql/ updates or deletes its rows): who (actor, the
-- user name; 'system' for the sweep), what (action, e.g. result.download), which object
-- (object_type + object_id), from which address, when (at, UTC, the database clock).
CREATE TABLE IF NOT EXISTS audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    object_type TEXT    NOT NULL DEFAULT '',
    object_id   TEXT    NULL,
    address     TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NULL
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log (actor, at);
CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log (action, at);

-- RESULT_RETENTION_DAYS: a finished job whose files the sweep removed keeps its row, marked
-- with the time it expired (NULL: its files are kept).
ALTER TABLE wp_records ADD COLUMN expired_at TEXT NULL;

-- The retention sweep runs at most hourly per host: each host's last run (app/core/jobs/retention.py).
CREATE TABLE IF NOT EXISTS sweep_runs (
    host   TEXT PRIMARY KEY,
    ran_at TEXT NOT NULL
);
