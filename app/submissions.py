"""From an uploaded CSV to a PENDING job: receive (streamed to disk, capped), validate against
the model, store under a generated name, create the job row. Used by the panel, the JSON API
and `python -m app submit` alike, so every entrance gives the same answers.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from app.errors import BadRequest, PayloadTooLarge, Unprocessable
from app.jobs import Job, Jobs
from app.settings import Settings
from model.artifact import load_model
from model.csv_input import CsvReport, inspect_csv

MAX_FIELD_BYTES = 64 * 1024  # small form fields (the CSRF token); never a file


def human_size(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} bytes"


def display_name(raw: str | None) -> str:
    """The user's file name, for display only: last path component, no control characters.
    It never becomes a path on disk (`../../etc/passwd.csv` shows as `passwd.csv`)."""
    # Browsers send '"', CR and LF in a file name percent-encoded (HTML spec, multipart/form-data
    # encoding algorithm); undo just those three so "a "b".csv" shows as the user named it.
    raw = (raw or "").replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")
    name = re.split(r"[\\/]", raw)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:255] or "upload.csv"


@dataclass
class Upload:
    path: Path            # a hidden .part file in the input directory
    filename: str         # display name
    size: int
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The file is larger than the upload limit of {human_size(limit)}.",
                           extra={"limit_bytes": limit})


async def receive_upload(request: Request, settings: Settings, field_name: str = "file") -> Upload:
    """Stream a multipart upload's file part straight to disk, stopping at UPLOAD_LIMIT.

    Starlette's request.form() caps only non-file parts, so a file part could fill the disk
    before anyone looks at its size; this parser counts as it writes and aborts with 413.
    """
    limit = settings.upload_limit
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise BadRequest(f"Send the CSV as multipart/form-data in a field named '{field_name}'.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MAX_FIELD_BYTES * 4:
        raise too_large(limit)

    settings.input_dir.mkdir(parents=True, exist_ok=True)
    part_path = settings.input_dir / f".upload-{uuid.uuid4().hex}.part"
    state: dict = {"headers": {}, "name": None, "filename": None, "buf": bytearray(), "h_field": b"", "h_value": b""}
    fields: dict[str, str] = {}
    out = {"handle": None, "size": 0, "files": 0}

    def on_part_begin() -> None:
        state.update(headers={}, name=None, filename=None, buf=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["h_field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["h_value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["h_field"].lower()] = state["h_value"]
        state["h_field"], state["h_value"] = b"", b""

    def on_headers_finished() -> None:
        _, options = parse_options_header(state["headers"].get(b"content-disposition", b""))
        state["name"] = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            state["filename"] = options[b"filename"].decode("utf-8", "replace")
            if state["name"] == field_name:
                out["files"] += 1
                if out["files"] > 1:
                    raise BadRequest("Send one file per upload.")
                out["handle"] = open(part_path, "wb")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["filename"] is not None and state["name"] == field_name:
            out["size"] += end - start
            if out["size"] > limit:
                raise too_large(limit)
            out["handle"].write(data[start:end])
        elif state["filename"] is None:
            state["buf"] += data[start:end]
            if len(state["buf"]) > MAX_FIELD_BYTES:
                raise BadRequest("A form field is too large.")

    def on_part_end() -> None:
        if state["filename"] is None and state["name"]:
            fields[state["name"]] = state["buf"].decode("utf-8", "replace")
        elif state["name"] == field_name and out["handle"]:
            out["handle"].close()
            fields["__filename__"] = state["filename"] or ""

    callbacks = {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
    }
    try:
        parser = MultipartParser(params[b"boundary"], callbacks)
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except (BadRequest, PayloadTooLarge):
        _cleanup(out, part_path)
        raise
    except Exception as exc:  # malformed multipart, client went away
        _cleanup(out, part_path)
        raise BadRequest(f"The upload could not be read ({type(exc).__name__}); send it again.") from exc
    if out["handle"] is None or "__filename__" not in fields:
        _cleanup(out, part_path)
        raise BadRequest(f"No file was sent: choose a CSV file (form field '{field_name}').")
    filename = fields.pop("__filename__")
    return Upload(part_path, display_name(filename), out["size"], fields)


def _cleanup(out: dict, part_path: Path) -> None:
    if out["handle"] and not out["handle"].closed:
        out["handle"].close()
    part_path.unlink(missing_ok=True)


def validate(settings: Settings, path: Path) -> CsvReport:
    model = load_model(settings.model_path)
    return inspect_csv(path, model.features)


def rejection(report: CsvReport) -> Unprocessable:
    shown = len(report.problems)
    summary = (
        f"The file was not accepted: {report.total_problems} problem"
        f"{'s' if report.total_problems != 1 else ''} found"
        + (f" (the first {shown} are listed)." if report.total_problems > shown else ".")
    )
    return Unprocessable(
        summary,
        extra={"errors": [p.as_dict() for p in report.problems], "total_errors": report.total_problems},
    )


def accept(settings: Settings, jobs: Jobs, owner_id: int, upload: Upload) -> Job:
    """Validate an upload already on disk; on success store it and create the PENDING job.
    On any failure the file is removed, so a rejected or half-done upload leaves nothing."""
    try:
        report = validate(settings, upload.path)
        if not report.ok:
            raise rejection(report)
        stored = settings.input_dir / f"upload-{uuid.uuid4().hex}.csv"
        os.replace(upload.path, stored)
    except BaseException:
        upload.discard()
        raise
    try:
        return jobs.create(owner_id, upload.filename, stored.name, upload.size, report.rows)
    except BaseException:
        stored.unlink(missing_ok=True)
        raise


def submit_path(settings: Settings, jobs: Jobs, owner_id: int, source: Path) -> Job:
    """The CLI's `submit`: copy a local CSV in, then the same checks as an upload."""
    settings.input_dir.mkdir(parents=True, exist_ok=True)
    size = source.stat().st_size
    if size > settings.upload_limit:
        raise too_large(settings.upload_limit)
    part = settings.input_dir / f".upload-{uuid.uuid4().hex}.part"
    shutil.copyfile(source, part)
    return accept(settings, jobs, owner_id, Upload(part, display_name(source.name), size))
