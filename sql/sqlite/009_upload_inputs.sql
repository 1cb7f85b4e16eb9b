-- Beyond schema version 9, SQLite: what each upload was. Same table and columns as
-- sql/mysql/009_upload_inputs.sql.
--
-- job_inputs: one row per job accepted from now on (jobs from before have none: a CSV in
-- UTF-8/cp1252 with its own delimiter, which the result download then re-detects).
-- sha256: of the bytes the user uploaded (the duplicate warning compares it per owner).
-- input_format: csv, xlsx, xlsm, ods or parquet; a workbook or Parquet file is converted to
-- the canonical CSV at upload (path_up), and the original kept as path_original for download.
-- field_separator, decimal_mark, encoding: the CSV convention of the upload (the canonical one for a
-- converted file), which the CSV result follows. sheet, header_row: where the table was found
-- (the sheet for workbooks; header_row as the spreadsheet or text editor numbers it).
CREATE TABLE IF NOT EXISTS job_inputs (
    job_id        INTEGER PRIMARY KEY REFERENCES wp_records (id) ON DELETE CASCADE,
    owner_id      INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    input_format  TEXT    NOT NULL,
    field_separator TEXT  NOT NULL,
    decimal_mark  TEXT    NOT NULL,
    encoding      TEXT    NOT NULL,
    sheet         TEXT    NULL,
    header_row    INTEGER NULL,
    path_original TEXT    NULL
);
CREATE INDEX IF NOT EXISTS job_inputs_owner_sha ON job_inputs (owner_id, sha256);
