"""Retention: the sweep that deletes the files of old finished jobs (RESULT_RETENTION_DAYS) and
archives old finished jobs (ARCHIVE_AFTER_DAYS). The workers run it (scheduler/worker.py:
every --loop worker and every cron run asks ``sweep_if_due``), at most once an hour per host:
a row per host in ``sweep_runs`` with a guarded UPDATE decides which process's turn it is.

An expired job keeps its row (history, owner, model, times) and its audit entries; only its
uploaded file and results go, and ``expired_at`` says when. Downloads of it answer 410
(app/core/jobs/results.py), retries are refused. Each job is expired by exactly one sweeper (the
guarded UPDATE), in the same transaction as its audit entry; the files go after the row says
so, as with a delete, so nothing ever points at a removed file.

Ages count from when the job finished (``date_result``), on the database's clock.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from datetime import timedelta

from app.core.db import Database, DuplicateKey, db_time_text
from app.core.events import audit
from app.core.events.audit import SYSTEM
from app.core.jobs.files import remove_job_files
from app.core.jobs.queue import Jobs
from app.core.jobs.records import job_from_row
from app.core.logfmt import log_event
from app.core.settings import Settings

log = logging.getLogger("beyond.retention")

SWEEP_EVERY_SECONDS = 3600  # at most one sweep an hour per host
BATCH = 200                 # jobs per query: a first sweep over years of jobs works in batches
NEVER = "2000-01-01 00:00:00.000"


@dataclass
class SweepResult:
    expired: list[int] = field(default_factory=list)
    archived: list[int] = field(default_factory=list)
    files_removed: int = 0


def enabled(settings: Settings) -> bool:
    return bool(settings.result_retention_days or settings.archive_after_days)


def sweep(settings: Settings, db: Database) -> SweepResult:
    """Expire and archive every job that is due now (whatever the hourly guard says)."""
    jobs = Jobs(db)
    result = SweepResult()
    now = jobs.db_now()
    days = settings.result_retention_days
    if days:
        cutoff = db_time_text(now - timedelta(days=days))
        while True:
            rows = db.all("jobs_to_expire", {"cutoff": cutoff, "limit": BATCH})
            for row in rows:
                job = job_from_row(row)
                with db.transaction() as tx:
                    won = tx.execute("job_expire", {"id": job.id}) == 1
                    if won:
                        audit.record(tx, SYSTEM, audit.JOB_EXPIRE, "job", job.id,
                                     f"{job.file_name}: files deleted {days} days after it finished "
                                     "(RESULT_RETENTION_DAYS)")
                if won:  # another host's sweep may have won it: its files are that one's to remove
                    result.expired.append(job.id)
                    result.files_removed += remove_job_files(settings, job)
            if len(rows) < BATCH:  # every row seen is expired now (by us or another sweeper)
                break
    days = settings.archive_after_days
    if days:
        cutoff = db_time_text(now - timedelta(days=days))
        while True:
            ids = [int(r["id"]) for r in db.all("jobs_to_archive", {"cutoff": cutoff, "limit": BATCH})]
            for job_id in ids:
                with db.transaction() as tx:
                    if tx.execute("job_auto_archive", {"id": job_id}) == 1:
                        audit.record(tx, SYSTEM, audit.JOB_ARCHIVE, "job", job_id,
                                     f"{days} days after it finished (ARCHIVE_AFTER_DAYS)")
                        result.archived.append(job_id)
            if len(ids) < BATCH:
                break
    if result.expired or result.archived:
        log_event(log, "retention.swept", expired=len(result.expired), archived=len(result.archived),
                  files=result.files_removed)
    return result


def claim_turn(db: Database, host: str, every: int = SWEEP_EVERY_SECONDS) -> bool:
    """True for the one process on ``host`` whose turn it is (the last sweep there is older
    than ``every`` seconds); it records the new sweep time."""
    try:
        db.insert("sweep_run_insert", {"host": host[:255], "never": NEVER})
    except DuplicateKey:
        pass  # the host has swept before
    cutoff = db_time_text(Jobs(db).db_now() - timedelta(seconds=every))
    return db.execute("sweep_run_claim", {"host": host[:255], "cutoff": cutoff}) == 1


def sweep_if_due(settings: Settings, db: Database, host: str | None = None) -> SweepResult | None:
    """The workers' call: sweep when retention or auto-archiving is on and this host has not
    swept in the last hour; None when it was not its turn."""
    if not enabled(settings):
        return None
    if not claim_turn(db, host or socket.gethostname()):
        return None
    return sweep(settings, db)
