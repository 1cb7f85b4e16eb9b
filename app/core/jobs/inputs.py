"""What each upload was (table job_inputs, migration 009): the content's SHA-256 (for the
duplicate warning), the format it came in (CSV, a workbook, Parquet), its CSV convention
(delimiter, decimal mark, encoding: the CSV result follows it) and, for a workbook, the sheet
and header row used. A workbook or Parquet upload is converted to the canonical CSV at upload
(model/inputs/workbook.py) and its original kept beside it under ``path_original``.

Since migration 012 also what the upload check learned about the stored file (``CheckedInput``):
its hash, the model it was checked against and the report, so the worker runs the job without
scanning the file again while the file still has that hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.core.db import Database, Row
from model.inputs.report import CsvReport

ORIGINAL_MARK = ".source"  # upload-<uuid>.source.xlsx beside upload-<uuid>.csv
# A checked report larger than this (UTF-8 bytes; a header of thousands of long names) is not
# stored: the worker then checks the file itself. It keeps the insert well under MariaDB's
# default max_allowed_packet (16 MiB).
CHECKED_REPORT_MAX = 8 * 1024 * 1024
FILE_CHANGED = "file changed since the upload"  # a trusted_report() reason


@dataclass(frozen=True)
class UploadInput:
    job_id: int
    owner_id: int
    sha256: str
    input_format: str  # csv, xlsx, xlsm, ods, parquet
    delimiter: str
    decimal_mark: str
    encoding: str  # utf-8-sig, cp1252, latin-1 (the upload's; utf-8 for a converted file)
    sheet: str | None = None
    header_row: int | None = None
    path_original: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The public JSON shape (no server paths)."""
        shown = asdict(self)
        for key in ("job_id", "owner_id", "path_original"):
            shown.pop(key)
        shown["format"] = shown.pop("input_format")
        return shown


@dataclass(frozen=True)
class CheckedInput:
    """What the upload check learned about the stored file the worker reads (path_up)."""

    sha256: str  # of that file: the upload for a plain CSV, else the canonical CSV
    model_sha256: str  # the model artifact the file was checked against
    report: str  # CsvReport.trusted_json()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def original_name(stored_csv: str, suffix: str) -> str:
    """The stored name of a converted upload's original, beside its canonical CSV."""
    return f"{Path(stored_csv).stem}{ORIGINAL_MARK}{suffix.lower()}"


def _from_row(row: Row) -> UploadInput:
    return UploadInput(
        job_id=int(row["job_id"]), owner_id=int(row["owner_id"]), sha256=row["sha256"],
        input_format=row["input_format"], delimiter=row["field_separator"],
        decimal_mark=row["decimal_mark"], encoding=row["encoding"], sheet=row["sheet"],
        header_row=None if row["header_row"] is None else int(row["header_row"]),
        path_original=row["path_original"],
    )


class UploadInputs:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, value: UploadInput, checked: CheckedInput | None = None) -> None:
        params = asdict(value)
        # The column is not called "delimiter": mysql-connector takes that word in SQL for
        # the client's DELIMITER command and cuts the statement there.
        params["field_separator"] = params.pop("delimiter")
        if checked is not None and len(checked.report.encode()) > CHECKED_REPORT_MAX:
            checked = None
        params["checked_sha256"] = checked.sha256 if checked else None
        params["checked_model_sha256"] = checked.model_sha256 if checked else None
        params["checked_report"] = checked.report if checked else None
        self.db.execute("job_input_insert", params)

    def checked(self, job_id: int) -> CheckedInput | None:
        """What the upload check stored for the job; None for a job accepted before migration
        012 (or whose report was too large to keep)."""
        row = self.db.one("job_input_checked", {"job_id": job_id})
        if row is None or None in (row["checked_sha256"], row["checked_model_sha256"], row["checked_report"]):
            return None
        return CheckedInput(row["checked_sha256"], row["checked_model_sha256"], row["checked_report"])

    def trusted_report(self, job_id: int, path: Path, model_sha256: str) -> tuple[CsvReport | None, str]:
        """The upload check's report of the job's stored file, when it still holds: checked
        against this model, and the file unchanged since (hashed now, which costs a fraction of a
        scan). Else None and why, and the caller checks the file again.
        A forced re-run or retry reads the same path and gets the same answer."""
        checked = self.checked(job_id)
        if checked is None:
            return None, "no checked report"
        if checked.model_sha256 != model_sha256:
            return None, "checked against another model"
        if file_sha256(path) != checked.sha256:
            return None, FILE_CHANGED
        try:
            return CsvReport.from_trusted_json(checked.report), "checked at upload"
        except ValueError as exc:
            return None, f"stored report unusable: {exc}"

    def get(self, job_id: int) -> UploadInput | None:
        row = self.db.one("job_input_get", {"job_id": job_id})
        return _from_row(row) if row else None

    def duplicate_of(self, owner_id: int, sha256: str, exclude: int = 0) -> int | None:
        """The owner's newest other job whose upload had exactly this content."""
        row = self.db.one("job_input_duplicate",
                          {"owner_id": owner_id, "sha256": sha256, "exclude": exclude})
        return int(row["job_id"]) if row else None
