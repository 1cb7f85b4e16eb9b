-- Beyond schema version 10, MySQL / MariaDB: the job list's accent-free search, and user
-- management. Same tables and columns as sql/sqlite/010_joblist_users.sql. Every statement can
-- be repeated (app/core/db.py skips "already exists").
--
-- file_key: the file name folded for search (app/core/jobs/listing.py fold: NFKD, accents dropped,
-- case-folded), written with the row. Compared in binary so both engines match the same rows
-- (the folding is Python's, not a collation's). Rows from before this migration start NULL
-- and are filled when the web server starts (JobList.fill_file_keys).
ALTER TABLE wp_records ADD COLUMN file_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

-- An account an administrator created with a password must choose its own at first sign-in.
ALTER TABLE users ADD COLUMN must_change_password TINYINT(1) NOT NULL DEFAULT 0;

-- Invitation links: only the sha256 of the token is stored (the link is shown once); it is
-- valid until expires_at (48 h) and once (used_at). The account is created when it is used.
CREATE TABLE IF NOT EXISTS invitations (
    id          INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    token_hash  CHAR(64)     NOT NULL,
    username    VARCHAR(64)  NOT NULL,
    is_admin    TINYINT(1)   NOT NULL DEFAULT 0,
    email       VARCHAR(255) NULL,
    created_by  VARCHAR(64)  NULL,
    created_at  DATETIME(6)  NOT NULL,
    expires_at  DATETIME(6)  NOT NULL,
    used_at     DATETIME(6)  NULL,
    UNIQUE KEY invitations_token (token_hash),
    KEY invitations_open (used_at, expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
