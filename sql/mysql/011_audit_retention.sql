-- Beyond schema version 11, MySQL / MariaDB: the audit log and result retention. Same tables
-- and columns as sql/sqlite/011_audit_retention.sql. Every statement can be repeated (MySQL
-- DDL commits at once; app/core/db.py skips "already exists").
--
-- audit_log: append-only. The application only ever INSERTs into it (app/core/events/audit.py has
-- no update or delete, and no query in sql/ updates or deletes its rows): who (actor, the
-- user name; 'system' for the sweep), what (action, e.g. result.download), which object
-- (object_type + object_id), from which address, when (at, UTC, the database clock).
CREATE TABLE IF NOT EXISTS audit_log (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at          DATETIME(6)   NOT NULL,
    actor       VARCHAR(64)   NOT NULL,
    action      VARCHAR(64)   NOT NULL,
    object_type VARCHAR(32)   NOT NULL DEFAULT '',
    object_id   VARCHAR(128)  NULL,
    address     VARCHAR(64)   NOT NULL DEFAULT '',
    detail      VARCHAR(1000) NULL,
    KEY audit_log_at (at),
    KEY audit_log_actor (actor, at),
    KEY audit_log_action (action, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- RESULT_RETENTION_DAYS: a finished job whose files the sweep removed keeps its row, marked
-- with the time it expired (NULL: its files are kept).
ALTER TABLE wp_records ADD COLUMN expired_at DATETIME(6) NULL;

-- The retention sweep runs at most hourly per host: each host's last run (app/core/jobs/retention.py).
CREATE TABLE IF NOT EXISTS sweep_runs (
    host   VARCHAR(255) NOT NULL PRIMARY KEY,
    ran_at DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
