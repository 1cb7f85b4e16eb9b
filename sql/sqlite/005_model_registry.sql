-- Beyond schema version 5, SQLite: the model registry. Same tables and columns as
-- sql/mysql/005_model_registry.sql.
--
-- models: every deployed version of every model (its files are in MODELS_DIR/NAME/VERSION/,
-- read-only). artifact_sha256 is the hash of those files (app/core/registry/models.py artifact_sha256),
-- schema_json the model's schema.json, deployed_by the panel user's name (NULL: the CLI).
-- At most one version per name is active: app/core/registry/models.py switches it in one transaction.
CREATE TABLE IF NOT EXISTS models (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL,
    version         TEXT    NOT NULL,
    artifact_sha256 TEXT    NOT NULL,
    schema_json     TEXT    NOT NULL,
    deployed_by     TEXT    NULL,
    deployed_at     TEXT    NOT NULL,
    active          INTEGER NOT NULL DEFAULT 0,
    UNIQUE (name, version)
);
CREATE INDEX IF NOT EXISTS models_active ON models (active, name);

-- The model a job was accepted for (with model_version, set at upload from now on): a later
-- activation changes no accepted job. Jobs from before keep NULL and run with DEFAULT_MODEL.
ALTER TABLE wp_records ADD COLUMN model_name TEXT NULL;
ALTER TABLE wp_records ADD COLUMN model_sha256 TEXT NULL;
