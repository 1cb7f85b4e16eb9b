"""Per-user quotas, checked for every upload (panel, API, CLI) by app/core/jobs/submissions.py:

    MAX_PENDING_JOBS_PER_USER  jobs waiting or running at once       -> QuotaExceeded (429)
    MAX_STORAGE_MB_PER_USER    bytes of stored uploads and results   -> StorageQuotaExceeded (413)

0 turns a quota off. A workbook or Parquet upload is stored as its converted CSV beside the
original: the conversion stops once the CSV would pass the room left (`check_upload` returns it)
and the upload is refused with the same StorageQuotaExceeded. Storage is what is on disk now:
the files of the user's jobs that have not expired (RESULT_RETENTION_DAYS), so a deleted or
expired job gives its space back at once.
`check_upload` runs when the upload arrives, so a refused one is not checked against the model
at all; `check_locked` runs again in the transaction that writes the job row, after locking the
user's row, so a burst of parallel uploads cannot pass a quota (30 at once with a limit of 3
let 10 in on SQLite and 14 on MariaDB before).
"""

from __future__ import annotations

from app.core.db import Database, Transaction
from app.core.errors import QuotaExceeded, StorageQuotaExceeded
from app.core.jobs.files import human_size, stored_path
from app.core.settings import Settings

MB = 1024 * 1024


def unfinished_jobs(db: Database | Transaction, owner_id: int) -> int:
    row = db.one("jobs_unfinished_of_owner", {"owner_id": owner_id})
    return int(row["n"]) if row else 0


def stored_bytes(settings: Settings, db: Database | Transaction, owner_id: int) -> int:
    """Bytes on disk of the user's unexpired jobs: the upload (a workbook's CSV and original) and
    both results."""
    total = 0
    for row in db.all("jobs_stored_of_owner", {"owner_id": owner_id}):
        for directory, name in ((settings.input_dir, row["path_up"]), (settings.input_dir, row["path_original"]),
                                (settings.output_dir, row["path_result"]),
                                (settings.output_dir, row["path_result_csv"])):
            path = stored_path(directory, name)
            if path is None:
                continue
            try:
                total += path.stat().st_size
            except OSError:  # removed meanwhile (a delete, the sweep): it takes no space
                continue
    return total


def storage_exceeded(limit_mb: int, used: int, size: int, converted: int | None = None) -> StorageQuotaExceeded:
    """The refusal of an upload of ``size`` bytes (and, converted, more than ``converted``)."""
    what = f"this file ({human_size(size)})"
    if converted is not None:
        what = f"this file ({human_size(size)}) and its conversion to CSV (more than {human_size(converted)})"
    return StorageQuotaExceeded(
        f"Your stored files take {human_size(used)}; with {what} they would pass "
        f"your storage limit of {limit_mb} MB (MAX_STORAGE_MB_PER_USER). Delete files you no longer "
        "need, then upload again.",
        extra={"limit": "MAX_STORAGE_MB_PER_USER", "limit_mb": limit_mb, "used_bytes": used,
               "file_bytes": size})


def check_upload(settings: Settings, db: Database | Transaction, owner_id: int, size: int) -> tuple[int, int] | None:
    """Refuse an upload of ``size`` bytes that would take the user past a quota. Returns (bytes
    stored now, bytes left after the upload) under MAX_STORAGE_MB_PER_USER, None without it."""
    limit = settings.max_pending_jobs_per_user
    if limit:
        waiting = unfinished_jobs(db, owner_id)
        if waiting >= limit:
            raise QuotaExceeded(
                f"You already have {waiting} file{'s' if waiting != 1 else ''} waiting or being processed; "
                f"the limit is {limit} (MAX_PENDING_JOBS_PER_USER). Upload more once some have finished.",
                extra={"limit": "MAX_PENDING_JOBS_PER_USER", "limit_value": limit, "current": waiting})
    limit_mb = settings.max_storage_mb_per_user
    if limit_mb:
        used = stored_bytes(settings, db, owner_id)
        if used + size > limit_mb * MB:
            raise storage_exceeded(limit_mb, used, size)
        return used, limit_mb * MB - used - size
    return None


def check_locked(settings: Settings, tx: Transaction, owner_id: int, size: int) -> None:
    """``check_upload`` again inside the transaction that writes the job row (``size``: the
    bytes the upload now takes on disk), with the user's row locked until it commits: the
    uploads of one user pass this one at a time, each seeing the jobs of those before it."""
    if not (settings.max_pending_jobs_per_user or settings.max_storage_mb_per_user):
        return
    tx.one("user_lock_for_quota", {"owner_id": owner_id})
    check_upload(settings, tx, owner_id, size)
