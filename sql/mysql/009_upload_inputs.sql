-- Beyond schema version 9, MySQL / MariaDB: what each upload was. Same table and columns as
-- sql/sqlite/009_upload_inputs.sql (see there for what each column means). Every statement
-- can be repeated (app/core/db.py skips "already exists").
CREATE TABLE IF NOT EXISTS job_inputs (
    job_id        BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    owner_id      INT UNSIGNED    NOT NULL,
    sha256        CHAR(64)        NOT NULL,
    input_format  VARCHAR(16)     NOT NULL,
    field_separator VARCHAR(4)    NOT NULL,
    decimal_mark  VARCHAR(1)      NOT NULL,
    encoding      VARCHAR(16)     NOT NULL,
    sheet         VARCHAR(255)    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    header_row    INT UNSIGNED    NULL,
    path_original VARCHAR(255)    NULL,
    KEY job_inputs_owner_sha (owner_id, sha256),
    CONSTRAINT job_inputs_job_fk FOREIGN KEY (job_id) REFERENCES wp_records (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
