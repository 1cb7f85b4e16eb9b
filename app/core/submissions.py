"""From an uploaded file on disk to a PENDING job: validate against the model, store under a
generated name, create the job row. Used by the panel, the JSON API and `python -m app
submit` alike, so every entrance gives the same answers. Receiving the bytes of an HTTP
upload is the web layer's part (app/web/uploads.py); it hands over an ``Upload``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from app.core.db import Database
from app.core.errors import FileRejected, TooLarge, Unavailable
from app.core.files import display_name, human_size, new_part_path
from app.core.jobs import Job, Jobs
from app.core.models import ModelRecord, Registry
from app.core.settings import Settings
from model.artifact import ModelError
from model.csv_input import CsvReport, inspect_csv

MODEL_FIELD = "model"  # the upload form's field naming the model (empty or absent: DEFAULT_MODEL)


@dataclass
class Upload:
    path: Path            # a hidden .part file in the input directory
    filename: str         # display name
    size: int
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def too_large(limit: int) -> TooLarge:
    return TooLarge(f"The file is larger than the upload limit of {human_size(limit)}.",
                    extra={"limit_bytes": limit})


def model_unavailable(exc: ModelError) -> Unavailable:
    return Unavailable("The model is not available, so the file cannot be checked. "
                       "An administrator has to deploy or fix it.", detail=str(exc))


def current_model(settings: Settings, db: Database, name: str | None = None) -> ModelRecord:
    """The registered version uploads for ``name`` (None: DEFAULT_MODEL) are accepted for: the
    one active now. UnknownModel for a name with no active version; Unavailable (with the
    reason for admins) when the default model cannot be had."""
    try:
        return Registry(db, settings).resolve(name)
    except ModelError as exc:
        raise model_unavailable(exc) from exc


def validate(settings: Settings, path: Path, model: ModelRecord) -> CsvReport:
    return inspect_csv(path, model.feature_specs)


def rejection(report: CsvReport) -> FileRejected:
    shown = len(report.problems)
    summary = (
        f"The file was not accepted: {report.total_problems} problem"
        f"{'s' if report.total_problems != 1 else ''} found"
        + (f" (the first {shown} are listed)." if report.total_problems > shown else ".")
    )
    return FileRejected(
        summary,
        extra={"errors": [p.as_dict() for p in report.problems], "total_errors": report.total_problems},
    )


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MB blocks (flat memory for a 200 MB upload)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def accept(settings: Settings, jobs: Jobs, owner_id: int, upload: Upload) -> Job:
    """Validate an upload already on disk against the model it names (``fields['model']``,
    else DEFAULT_MODEL) in its version active now; on success store it and create the PENDING
    job, which records that version: it runs with it whatever is activated later. On any
    failure the file is removed, so a rejected or half-done upload leaves nothing."""
    try:
        model = current_model(settings, jobs.db, upload.fields.get(MODEL_FIELD, "").strip() or None)
        report = validate(settings, upload.path, model)
        if not report.ok:
            raise rejection(report)
        input_sha256 = file_sha256(upload.path)  # shown on the job's page: which file exactly
        stored = settings.input_dir / f"upload-{uuid.uuid4().hex}.csv"
        os.replace(upload.path, stored)
    except BaseException:
        upload.discard()
        raise
    try:
        return jobs.create(owner_id, upload.filename, stored.name, upload.size, report.rows,
                           model.name, model.version, model.sha256, input_sha256)
    except BaseException:
        stored.unlink(missing_ok=True)
        raise


def submit_path(settings: Settings, jobs: Jobs, owner_id: int, source: Path, model: str | None = None) -> Job:
    """The CLI's `submit`: copy a local CSV in, then the same checks as an upload."""
    settings.input_dir.mkdir(parents=True, exist_ok=True)
    size = source.stat().st_size
    if size > settings.upload_limit:
        raise too_large(settings.upload_limit)
    part = new_part_path(settings.input_dir, uuid.uuid4().hex)
    shutil.copyfile(source, part)
    fields = {MODEL_FIELD: model} if model else {}
    return accept(settings, jobs, owner_id, Upload(part, display_name(source.name), size, fields))
