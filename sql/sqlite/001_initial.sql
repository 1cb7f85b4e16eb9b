-- Beyond schema version 1, SQLite. Same tables and columns as sql/mysql/001_initial.sql.
CREATE TABLE IF NOT EXISTS users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT    NOT NULL UNIQUE,
    password_hash   TEXT    NOT NULL,
    is_admin        INTEGER NOT NULL DEFAULT 0,
    is_active       INTEGER NOT NULL DEFAULT 1,
    email           TEXT    NULL,
    notify_email    INTEGER NOT NULL DEFAULT 0,
    -- bumped on logout / password reset: every session cookie signed before is refused
    session_version INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    -- sha256 of the token: the token itself is shown once and never stored
    token_hash   TEXT    NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT    NULL,
    revoked_at   TEXT    NULL
);
CREATE INDEX IF NOT EXISTS api_tokens_user ON api_tokens (user_id);

CREATE TABLE IF NOT EXISTS wp_records (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id        INTEGER NOT NULL REFERENCES users (id),
    file_name       TEXT    NOT NULL,
    path_up         TEXT    NOT NULL,
    path_result     TEXT    NULL,
    path_result_csv TEXT    NULL,
    file_size       INTEGER NOT NULL DEFAULT 0,
    status_file     TEXT    NOT NULL DEFAULT 'PENDING',
    date_up         TEXT    NOT NULL,
    date_init       TEXT    NULL,
    date_result     TEXT    NULL,
    rows_total      INTEGER NULL,
    rows_done       INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    error_message   TEXT    NULL,
    archived        INTEGER NOT NULL DEFAULT 0,
    model_version   TEXT    NULL,
    claimed_by      TEXT    NULL,
    claim_token     TEXT    NULL,
    heartbeat_at    TEXT    NULL
);
CREATE INDEX IF NOT EXISTS wp_records_queue ON wp_records (status_file, id);
CREATE INDEX IF NOT EXISTS wp_records_owner ON wp_records (owner_id, archived, id);

CREATE TABLE IF NOT EXISTS login_failures (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    username  TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_user ON login_failures (username, failed_at);
