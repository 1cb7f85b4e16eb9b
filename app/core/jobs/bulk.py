"""Bulk actions over the job list: one table, ``BULK_ACTIONS`` (name -> the core function run on
each job), and ``run_bulk``, which applies one to the jobs a user picked or to "all N matching"
(app/core/jobs/listing.py gives their ids)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from app.core.errors import Conflict, NotFound
from app.core.events.audit import SYSTEM, Actor
from app.core.jobs.files import remove_job_files
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Job, Status
from app.core.logfmt import log_event
from app.core.settings import Settings

_log = logging.getLogger("beyond.jobs")


@dataclass(frozen=True)
class BulkAction:
    """One entry of the bulk menu: ``run(settings, jobs, job, actor)`` is True when the job was
    changed, False when its state does not allow it (counted as skipped, with ``refused``).
    Each change is audited as ``actor``, one entry per job, as if done one by one."""

    name: str
    label: str  # the button: "Retry"
    done: str  # "{n} files queued again"
    refused: str  # why a job was skipped: "only files that ended in ERROR can be retried"
    danger: bool
    run: Callable[[Settings, Jobs, Job, Actor], bool]


def _retry(settings: Settings, jobs: Jobs, job: Job, actor: Actor) -> bool:
    return False if job.expired else jobs.retry(job.id, actor)


def _cancel(settings: Settings, jobs: Jobs, job: Job, actor: Actor) -> bool:
    if job.status not in (Status.PENDING, Status.IN_PROCESS):
        return False
    try:
        jobs.cancel(job.id, actor)
    except (Conflict, NotFound):  # ended (or went) between the read and the cancel
        return False
    return True


def _archive(settings: Settings, jobs: Jobs, job: Job, actor: Actor) -> bool:
    return False if job.archived else jobs.set_archived(job.id, True, actor)


def _unarchive(settings: Settings, jobs: Jobs, job: Job, actor: Actor) -> bool:
    return jobs.set_archived(job.id, False, actor) if job.archived else False


def _delete(settings: Settings, jobs: Jobs, job: Job, actor: Actor) -> bool:
    if not jobs.delete(job.id, actor):
        return False
    remove_job_files(settings, job)  # the row is gone first: nothing points at them now
    return True


BULK_ACTIONS: dict[str, BulkAction] = {a.name: a for a in (
    BulkAction("retry", "Retry", "queued again", "only files that ended in ERROR or were cancelled can be retried",
               False, _retry),
    BulkAction("cancel", "Cancel", "cancelled", "only waiting or running files can be cancelled", False, _cancel),
    BulkAction("archive", "Archive", "archived", "already archived", False, _archive),
    BulkAction("unarchive", "Unarchive", "back in the main list", "not archived", False, _unarchive),
    BulkAction("delete", "Delete", "deleted, with their stored files", "being processed right now", True, _delete),
)}


@dataclass(frozen=True)
class BulkResult:
    action: BulkAction
    done: int
    skipped: int
    missing: int  # ids that were not (or no longer) visible to the user

    def message(self) -> str:
        def files(n: int) -> str:
            return f"{n:,} file{'s' if n != 1 else ''}"

        text = f"{files(self.done)} {self.action.done}."
        if self.skipped:
            text += f" {files(self.skipped)} skipped: {self.action.refused}."
        if self.missing:
            text += f" {files(self.missing)} no longer in your list."
        return text


def run_bulk(settings: Settings, jobs: Jobs, action: BulkAction, ids: list[int], user_id: int,
             is_admin: bool, actor: Actor = SYSTEM) -> BulkResult:
    """Apply ``action`` to each visible job of ``ids``, one by one (each keeps its own guard:
    a job that started running meanwhile is skipped, never half-deleted)."""
    done = skipped = missing = 0
    for job_id in dict.fromkeys(ids):  # duplicates once, order kept
        job = jobs.get_visible(job_id, user_id, is_admin)
        if job is None:
            missing += 1
        elif action.run(settings, jobs, job, actor):
            done += 1
        else:
            skipped += 1
    log_event(_log, "jobs.bulk", action=action.name, done=done, skipped=skipped, missing=missing, worker="web")
    return BulkResult(action, done, skipped, missing)


