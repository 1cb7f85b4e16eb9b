-- Beyond schema version 1, MySQL / MariaDB (InnoDB, utf8mb4). Applied once, in order, by app/core/db.py.
CREATE TABLE IF NOT EXISTS users (
    id              INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username        VARCHAR(64)  NOT NULL,
    password_hash   VARCHAR(255) NOT NULL,
    is_admin        TINYINT(1)   NOT NULL DEFAULT 0,
    is_active       TINYINT(1)   NOT NULL DEFAULT 1,
    email           VARCHAR(255) NULL,
    notify_email    TINYINT(1)   NOT NULL DEFAULT 0,
    -- bumped on logout / password reset: every session cookie signed before is refused
    session_version INT UNSIGNED NOT NULL DEFAULT 1,
    created_at      DATETIME(6)  NOT NULL,
    UNIQUE KEY users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS api_tokens (
    id           INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id      INT UNSIGNED NOT NULL,
    name         VARCHAR(100) NOT NULL,
    -- sha256 of the token: the token itself is shown once and never stored
    token_hash   CHAR(64)     NOT NULL,
    prefix       VARCHAR(16)  NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    last_used_at DATETIME(6)  NULL,
    revoked_at   DATETIME(6)  NULL,
    UNIQUE KEY api_tokens_hash (token_hash),
    KEY api_tokens_user (user_id),
    CONSTRAINT api_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS wp_records (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    owner_id        INT UNSIGNED NOT NULL,
    file_name       VARCHAR(255) NOT NULL,
    path_up         VARCHAR(255) NOT NULL,
    path_result     VARCHAR(255) NULL,
    path_result_csv VARCHAR(255) NULL,
    file_size       BIGINT UNSIGNED NOT NULL DEFAULT 0,
    status_file     VARCHAR(16)  NOT NULL DEFAULT 'PENDING',
    date_up         DATETIME(6)  NOT NULL,
    date_init       DATETIME(6)  NULL,
    date_result     DATETIME(6)  NULL,
    rows_total      BIGINT UNSIGNED NULL,
    rows_done       BIGINT UNSIGNED NOT NULL DEFAULT 0,
    attempts        INT UNSIGNED NOT NULL DEFAULT 0,
    error_message   TEXT NULL,
    archived        TINYINT(1)   NOT NULL DEFAULT 0,
    model_version   VARCHAR(64)  NULL,
    claimed_by      VARCHAR(128) NULL,
    claim_token     CHAR(32)     NULL,
    heartbeat_at    DATETIME(6)  NULL,
    KEY wp_records_queue (status_file, id),
    KEY wp_records_owner (owner_id, archived, id),
    CONSTRAINT wp_records_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS login_failures (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username   VARCHAR(64)  NOT NULL,
    failed_at  DATETIME(6)  NOT NULL,
    KEY login_failures_user (username, failed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
