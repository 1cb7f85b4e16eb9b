-- Beyond schema version 5, MySQL / MariaDB: the model registry. Same tables and columns as
-- sql/sqlite/005_model_registry.sql. Every statement can be repeated (MySQL DDL commits at
-- once, so a half-applied run must be safe to re-run: app/core/db.py skips "already exists").
--
-- models: every deployed version of every model (its files are in MODELS_DIR/NAME/VERSION/,
-- read-only). artifact_sha256 is the hash of those files (app/core/registry/models.py artifact_sha256),
-- schema_json the model's schema.json, deployed_by the panel user's name (NULL: the CLI).
-- At most one version per name is active: app/core/registry/models.py switches it in one transaction.
-- Names and versions compare exactly (binary collation), as on SQLite.
CREATE TABLE IF NOT EXISTS models (
    id              INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name            VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    version         VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    artifact_sha256 CHAR(64)     NOT NULL,
    schema_json     MEDIUMTEXT   NOT NULL,
    deployed_by     VARCHAR(64)  NULL,
    deployed_at     DATETIME(6)  NOT NULL,
    active          TINYINT(1)   NOT NULL DEFAULT 0,
    UNIQUE KEY models_name_version (name, version),
    KEY models_active (active, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The model a job was accepted for (with model_version, set at upload from now on): a later
-- activation changes no accepted job. Jobs from before keep NULL and run with DEFAULT_MODEL.
ALTER TABLE wp_records ADD COLUMN model_name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;
ALTER TABLE wp_records ADD COLUMN model_sha256 CHAR(64) NULL;
