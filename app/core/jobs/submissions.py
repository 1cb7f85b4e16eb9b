"""From an uploaded file on disk to a PENDING job: validate against the model, store under a
generated name, create the job row. Used by the panel, the JSON API and `python -m app
submit` alike, so every entrance gives the same answers. Receiving the bytes of an HTTP
upload is the web layer's part (app/web/uploads.py); it hands over an ``Upload``.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from app.core.db import Database
from app.core.errors import FileRejected, TooLarge, Unavailable
from app.core.events import audit
from app.core.events.audit import Actor
from app.core.jobs import quotas
from app.core.jobs.files import display_name, human_size, is_disk_full, new_part_path, upload_storage_full
from app.core.jobs.inputs import CheckedInput, UploadInput, UploadInputs, file_sha256, original_name
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Job
from app.core.registry.models import ModelRecord, Registry
from app.core.settings import Settings
from model.inputs.habits import blank_lines_above, file_encoding, find_header_line
from model.inputs.isolated import convert_isolated
from model.inputs.report import CsvReport, Problem
from model.inputs.scan import header_fits, inspect_csv
from model.inputs.workbook import MAX_OUTPUT_BYTES, Conversion, Limits, input_kind
from model.schema import ModelError

MODEL_FIELD = "model"  # the upload form's field naming the model (empty or absent: DEFAULT_MODEL)
# A workbook may unpack to this many times the upload limit (xlsx sheets compress about 10:1).
MAX_UNPACK_FACTOR = 20
# A conversion waits this long for one of MAX_CONCURRENT_CONVERSIONS slots, then 503.
CONVERSION_WAIT_SECONDS = 5
_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def conversion_slots(settings: Settings) -> threading.BoundedSemaphore:
    """This process's MAX_CONCURRENT_CONVERSIONS slots."""
    with _slots_lock:
        return _slots.setdefault(settings.max_concurrent_conversions,
                                 threading.BoundedSemaphore(settings.max_concurrent_conversions))


@dataclass
class Upload:
    path: Path            # a hidden .part file in the input directory
    filename: str         # display name
    size: int
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def too_large(limit: int, size: int | None = None, data: bool = True) -> TooLarge:
    """TooLarge for an upload over ``limit``; ``size``: the file's size when known (the
    request's Content-Length: the file and a little form overhead); ``data``: a data file (not
    a model archive), for which the message says how to make it fit."""
    shown = f" (about {human_size(size)})" if size is not None else ""
    message = f"The file{shown} is larger than the upload limit of {human_size(limit)}."
    if data:
        message += (" Compress it (a .csv.gz, or a .zip holding the one CSV: a CSV shrinks about "
                    "5 to 10 times), save it as Parquet, or split it into files under the limit.")
    extra: dict[str, object] = {"limit_bytes": limit}
    if size is not None:
        extra["size_bytes"] = size
    return TooLarge(message, extra=extra)


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
    return inspect_csv(path, model.feature_specs, id_column=model.id_column)


def fitting_models(db: Database, settings: Settings, report: CsvReport, chosen: ModelRecord) -> list[str]:
    """The other active models whose required columns the file's header has, when it lacks
    some of the chosen model's: the file was most likely meant for one of them."""
    if not report.header or header_fits(report.header, chosen.feature_specs):
        return []
    return [m.name for m in Registry(db, settings).offered()
            if m.name != chosen.name and header_fits(report.header, m.feature_specs)]


def _names(names: list[str]) -> str:
    quoted = [f"“{n}”" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def rejection(report: CsvReport, fits: list[str] | None = None, max_bad_rows_percent: float = 0.0) -> FileRejected:
    shown = len(report.problems)
    summary = (
        f"The file was not accepted: {report.total_problems} problem"
        f"{'s' if report.total_problems != 1 else ''} found"
        + (f" (the first {shown} are listed)." if report.total_problems > shown else ".")
    )
    if max_bad_rows_percent > 0 and report.readable and report.rows:
        # Only cells that do not fit, but in too many rows to leave them unscored.
        share = 100 * report.bad_rows / report.rows
        summary += (f" They are in {report.bad_rows:,} of {report.rows:,} rows ({share:.1f}%); at most "
                    f"{max_bad_rows_percent:g}% of the rows may be left unscored.")
    extra: dict[str, object] = {"errors": [p.as_dict() for p in report.problems],
                                "total_errors": report.total_problems}
    if fits:
        only = "only " if len(fits) == 1 else ""
        summary += (f" Its header fits {only}model{'s' if len(fits) > 1 else ''} {_names(fits)}: "
                    f"choose {'it' if len(fits) == 1 else 'one'} in the model selector "
                    f"(API: the form field model={fits[0]}).")
        extra["fits_models"] = fits
    return FileRejected(summary, extra=extra)


@dataclass(frozen=True)
class Submission:
    """An accepted upload: its job, what the upload was, and the owner's earlier job with the
    same content (None: first time), for the duplicate warning."""

    job: Job
    input: UploadInput
    duplicate_of: int | None
    # Cells that do not fit their column, in at most MAX_BAD_ROWS_PERCENT of the rows: the
    # file was accepted and those rows will get no prediction.  The first ones (as the
    # problems of a rejection: row, column, message), their total, and the rows holding them.
    warnings: list[Problem] = field(default_factory=list)
    total_warnings: int = 0
    rows_not_scored: int = 0

    def warnings_json(self) -> dict[str, object]:
        """The API's and the panel's fields for these warnings."""
        return {"warnings": [p.as_dict() for p in self.warnings], "total_warnings": self.total_warnings,
                "rows_not_scored_expected": self.rows_not_scored}

    def warning_text(self, shown: int = 5) -> str | None:
        """One sentence for the panel's flash: how many rows and the first of them."""
        if not self.rows_not_scored:
            return None
        rows = self.rows_not_scored
        listed = "; ".join(p.message.rstrip(".") for p in self.warnings[:shown])
        more = self.total_warnings - min(shown, len(self.warnings))
        return (f"{rows:,} row{'s' if rows != 1 else ''} of “{self.job.file_name}” will not be scored, "
                f"because {'they hold cells' if rows != 1 else 'it holds a cell'} that do not fit the column: "
                f"{listed}" + (f"; and {more:,} more." if more > 0 else "."))


def accept(settings: Settings, jobs: Jobs, owner_id: int, upload: Upload, actor: Actor | None = None) -> Job:
    """`accept_upload`, for callers that need only the job."""
    return accept_upload(settings, jobs, owner_id, upload, actor).job


def _converted(settings: Settings, upload: Upload, model: ModelRecord,
               storage: tuple[int, int] | None = None) -> tuple[Path, Conversion]:
    """A workbook, Parquet or compressed CSV upload as the canonical CSV (a hidden .part beside the upload),
    converted in a child process (model/inputs/isolated.py) once one of MAX_CONCURRENT_CONVERSIONS
    slots is free (else Unavailable), its CSV within the room ``storage`` leaves (used, left:
    ``quotas.check_upload``; else StorageQuotaExceeded), or FileRejected with the problems."""
    unpacked = max(settings.upload_limit * MAX_UNPACK_FACTOR, 64 * 1024**2)
    room = MAX_OUTPUT_BYTES if storage is None else min(MAX_OUTPUT_BYTES, storage[1])
    slots = conversion_slots(settings)
    if not slots.acquire(timeout=CONVERSION_WAIT_SECONDS):
        limit = settings.max_concurrent_conversions
        raise Unavailable(f"{limit} workbook, Parquet or compressed file{'s are' if limit != 1 else ' is'} being converted "
                          f"right now, the most at once (MAX_CONCURRENT_CONVERSIONS). Upload “{upload.filename}” "
                          "again in a few seconds.", retry_after=10)
    canonical = new_part_path(settings.input_dir, uuid.uuid4().hex + "-canonical")
    try:
        conversion = convert_isolated(upload.path, canonical, upload.filename, model.feature_specs,
                                      Limits(max_unpacked=unpacked, max_output_bytes=room),
                                      settings.conversion_memory_mb)
    except BaseException:
        canonical.unlink(missing_ok=True)
        raise
    finally:
        slots.release()
    if not conversion.ok:
        canonical.unlink(missing_ok=True)
        if conversion.stopped == "output" and storage is not None and room < MAX_OUTPUT_BYTES:
            raise quotas.storage_exceeded(settings.max_storage_mb_per_user, storage[0], upload.size, room)
        count = len(conversion.problems)
        raise FileRejected(
            f"The file was not accepted: {count} problem{'s' if count != 1 else ''} found.",
            extra={"errors": [p.as_dict() for p in conversion.problems], "total_errors": count},
        )
    return canonical, conversion


def _titled(settings: Settings, csv_path: Path, conversion: Conversion, model: ModelRecord) -> Path:
    """A decompressed CSV with title lines above its header made blank (as an uploaded CSV's
    are), in a new hidden file; `conversion` learns the header line and the encoding."""
    conversion.encoding = file_encoding(csv_path)
    conversion.header_row = 1
    line = find_header_line(csv_path, model.feature_specs)
    if line is None:
        return csv_path
    blanked = new_part_path(settings.input_dir, uuid.uuid4().hex + "-canonical")
    try:
        blank_lines_above(csv_path, blanked, line)
    except BaseException:
        blanked.unlink(missing_ok=True)
        raise
    finally:
        csv_path.unlink(missing_ok=True)
    conversion.header_row = line
    return blanked


def accept_upload(settings: Settings, jobs: Jobs, owner_id: int, upload: Upload,
                  actor: Actor | None = None) -> Submission:
    """Validate an upload already on disk against the model it names (``fields['model']``,
    else DEFAULT_MODEL) in its version active now; on success store it and create the PENDING
    job, which records that version: it runs with it whatever is activated later. On any
    failure the files are removed, so a rejected or half-done upload leaves nothing.

    A workbook (.xlsx, .xlsm, .ods) or Parquet upload is converted to the canonical CSV first
    (model/inputs/workbook.py), a .csv.gz or a .zip holding one CSV decompressed
    (model/inputs/compressed.py); that CSV is what is checked, stored as the job's input and read
    by the worker, and the original is kept beside it (``upload-<uuid>.source.xlsx``). What
    the check learned is stored with the job (job_inputs, migration 012): the worker does not
    check the file again unless it changed. The user's quotas are checked first and again,
    atomically, where the job row is written (app/core/jobs/quotas.py); the accepted upload is
    audited as ``actor`` (None: the owner, from no address)."""
    canonical: Path | None = None
    conversion: Conversion | None = None
    stored_original: Path | None = None
    try:
        storage = quotas.check_upload(settings, jobs.db, owner_id, upload.size)
        model = current_model(settings, jobs.db, upload.fields.get(MODEL_FIELD, "").strip() or None)
        sha256 = file_sha256(upload.path)
        kind = input_kind(upload.filename)
        if kind != "csv":
            canonical, conversion = _converted(settings, upload, model, storage)
            if kind == "compressed":  # the CSV inside, as a CSV upload: a title above the header too
                canonical = _titled(settings, canonical, conversion, model)
        elif (line := find_header_line(upload.path, model.feature_specs)) is not None:
            # Title lines above the header: checked and run as blank lines, original kept.
            canonical = new_part_path(settings.input_dir, uuid.uuid4().hex + "-canonical")
            blank_lines_above(upload.path, canonical, line)
            conversion = Conversion("csv", header_row=line, encoding=file_encoding(upload.path))
        report = validate(settings, canonical or upload.path, model)
        if not report.ok and conversion is not None:
            report.problems[:] = [conversion.located(p) for p in report.problems]
        if not report.acceptable(settings.max_bad_rows_percent):
            failure = rejection(report, fitting_models(jobs.db, settings, report, model),
                                settings.max_bad_rows_percent)
            if conversion is not None and conversion.sheet is None and conversion.header_row:
                failure.message = (failure.message[:-1] + f" (the header is on line {conversion.header_row}; "
                                   "the lines above it were skipped as a title).")
            raise failure
        # The worker runs the job on this report while the stored file keeps this hash (no
        # second scan). A plain CSV is stored as uploaded: its hash is the upload's.
        checked = CheckedInput(file_sha256(canonical) if canonical is not None else sha256,
                               model.sha256, report.trusted_json())
        stem = f"upload-{uuid.uuid4().hex}"
        stored = settings.input_dir / f"{stem}.csv"
        if canonical is not None:
            stored_original = settings.input_dir / original_name(stored.name, Path(upload.filename).suffix or ".csv")
            os.replace(upload.path, stored_original)
            os.replace(canonical, stored)
        else:
            os.replace(upload.path, stored)
    except BaseException as exc:
        upload.discard()
        if canonical is not None:
            canonical.unlink(missing_ok=True)
        if stored_original is not None:
            stored_original.unlink(missing_ok=True)
        if isinstance(exc, OSError) and is_disk_full(exc):  # writing the checked copy found no room
            raise upload_storage_full(upload.filename) from exc
        raise
    try:
        on_disk = stored.stat().st_size + (stored_original.stat().st_size if stored_original else 0)
        job = jobs.create(owner_id, upload.filename, stored.name, upload.size, report.rows,
                          model.name, model.version, model.sha256, sha256,
                          check=lambda tx: quotas.check_locked(settings, tx, owner_id, on_disk))
        assert report.format is not None
        info = UploadInput(
            job.id, owner_id, sha256,
            conversion.format if conversion else "csv",
            report.format.delimiter, report.format.decimal,
            (conversion.encoding if conversion else None) or report.format.encoding,
            conversion.sheet if conversion else None,
            conversion.header_row if conversion else 1,
            stored_original.name if stored_original else None,
        )
        inputs = UploadInputs(jobs.db)
        duplicate = inputs.duplicate_of(owner_id, sha256, exclude=job.id)
        inputs.record(info, checked)
    except BaseException:
        stored.unlink(missing_ok=True)
        if stored_original is not None:
            stored_original.unlink(missing_ok=True)
        raise
    audit.record(jobs.db, actor or Actor(job.owner_name or str(owner_id), "", owner_id), audit.JOB_UPLOAD, "job",
                 job.id, f"{job.file_name} ({upload.size} bytes, {report.rows} rows, model {model.name} "
                 f"{model.version})")
    if report.ok:
        return Submission(job, info, duplicate)
    return Submission(job, info, duplicate, list(report.problems), report.cell_problems, report.bad_rows)


def submit_path(settings: Settings, jobs: Jobs, owner_id: int, source: Path, model: str | None = None,
                actor: Actor | None = None) -> Job:
    """The CLI's `submit`: copy a local CSV in, then the same checks as an upload."""
    settings.input_dir.mkdir(parents=True, exist_ok=True)
    size = source.stat().st_size
    if size > settings.upload_limit:
        raise too_large(settings.upload_limit, size)
    part = new_part_path(settings.input_dir, uuid.uuid4().hex)
    try:
        shutil.copyfile(source, part)
    except OSError as exc:
        part.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise upload_storage_full(display_name(source.name)) from exc
        raise
    fields = {MODEL_FIELD: model} if model else {}
    return accept(settings, jobs, owner_id, Upload(part, display_name(source.name), size, fields), actor)
