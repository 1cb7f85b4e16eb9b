-- Beyond schema version 10, SQLite: the job list's accent-free search, and user management.
-- Same tables and columns as sql/mysql/010_joblist_users.sql.
--
-- file_key: the file name folded for search (app/core/jobs/listing.py fold: NFKD, accents dropped,
-- case-folded), written with the row, so 'exportacion' finds 'exportación' with one LIKE on
-- both engines. SQLite cannot fold accents in SQL, so rows from before this migration start
-- NULL and are filled by JobList.fill_file_keys() when the web server starts; until
-- then the list compares them with LOWER(file_name).
ALTER TABLE wp_records ADD COLUMN file_key TEXT NULL;

-- An account an administrator created with a password must choose its own at first sign-in.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;

-- Invitation links: only the sha256 of the token is stored (the link is shown once); it is
-- valid until expires_at (48 h) and once (used_at). The account is created when it is used.
CREATE TABLE IF NOT EXISTS invitations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  TEXT    NOT NULL UNIQUE,
    username    TEXT    NOT NULL,
    is_admin    INTEGER NOT NULL DEFAULT 0,
    email       TEXT    NULL,
    created_by  TEXT    NULL,
    created_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    used_at     TEXT    NULL
);
CREATE INDEX IF NOT EXISTS invitations_open ON invitations (used_at, expires_at);
