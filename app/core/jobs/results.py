"""Handing out a job's files: the one place the panel's downloads and the API's result share.
It refuses an expired job (Gone: RESULT_RETENTION_DAYS removed its files; the row, its history
and its audit entries remain) and audits every file it hands out."""

from __future__ import annotations

from pathlib import Path

from app.core.db import Database
from app.core.errors import Gone
from app.core.events import audit
from app.core.events.audit import Actor
from app.core.jobs.files import existing_file
from app.core.jobs.records import Job
from app.core.settings import Settings

KINDS = ("xlsx", "csv", "original")  # the .xlsx result, the CSV result, the uploaded CSV


def expired_message(settings: Settings, job: Job) -> str:
    when = job.expired_at.astimezone(settings.zone).strftime("%Y-%m-%d") if job.expired_at else "earlier"
    kept = f"files are kept {settings.result_retention_days} days" if settings.result_retention_days else \
        "files are no longer kept"
    return (f"The files of “{job.file_name}” (job {job.id}) were deleted on {when}: {kept} after a job "
            "finishes (RESULT_RETENTION_DAYS). Upload the file again to get a new result.")


def job_file(settings: Settings, db: Database, job: Job, kind: str, actor: Actor) -> Path | None:
    """The file of ``kind`` to send for ``job``, audited as ``actor``'s download; None when the
    file is missing although the job has not expired (the caller says what to do). The
    caller has checked that ``actor`` may see the job and that a result exists."""
    if kind not in KINDS:
        raise ValueError(f"unknown job file kind {kind!r}")
    if job.expired:
        raise Gone(expired_message(settings, job),
                   extra={"id": job.id, "expired": True, "expired_at": job.expired_at.isoformat()
                          if job.expired_at else None})
    if kind == "original":
        path = existing_file(settings.input_dir, job.path_up)
    else:
        path = existing_file(settings.output_dir, job.path_result if kind == "xlsx" else job.path_result_csv)
    if path is not None:
        action = audit.INPUT_DOWNLOAD if kind == "original" else audit.RESULT_DOWNLOAD
        audit.record(db, actor, action, "job", job.id, f"{kind} of {job.file_name}")
    return path
