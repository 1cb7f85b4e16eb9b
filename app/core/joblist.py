"""The job list as the panel asks for it: filters (status, owner, model, upload dates, a search
that ignores case and accents), a whitelisted sort, the ids of "all N matching" for bulk
actions, and the jobs newer than the ones a page shows (live insertion).

Search folding: the folded file name is stored with the row (``file_key``, migration 010)
rather than folded in Python at query time (that would read every name of the list for each
search) or left to the database (SQLite's LIKE folds ASCII case only; MariaDB's collations
fold accents, but differently from SQLite and per collation). One Python function, ``fold``,
decides for both engines, once per job, and a search is one LIKE on the key.

The bulk actions are one table, ``BULK_ACTIONS``: name -> the core function run on each job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.audit import SYSTEM, Actor
from app.core.db import Database
from app.core.errors import Conflict, NotFound
from app.core.files import remove_job_files
from app.core.jobs import Job, Jobs, Status, db_time_text, job_from_row
from app.core.logfmt import log_event
from app.core.settings import Settings
from app.core.textfold import fold

_log = logging.getLogger("beyond.jobs")

# Sort keys the list offers (the ?sort= values), each mapped to a column in the CASEs of
# joblist_page (sql/queries_joblist.sql). 'uploaded' descending is the default (newest first).
SORTS = ("file", "owner", "uploaded", "status", "model", "started", "finished", "rows", "attempts")
DEFAULT_SORT = "uploaded"
DIRECTIONS = ("asc", "desc")
# A bulk action over "all matching" acts on at most this many jobs at once (the page says so).
MAX_BULK = 10_000


def like_pattern(search: str) -> str:
    """A LIKE pattern matching the folded search anywhere in the key ('!' escapes)."""
    escaped = fold(search).replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class JobFilter:
    """What a list shows. owner_id: the only owner (a user's own list, or the admin's owner
    filter), None for everyone. day_from / day_to: upload dates, inclusive, in ``zone``."""

    owner_id: int | None = None
    status: Status | None = None
    archived: bool | None = False
    search: str | None = None
    model: str | None = None
    day_from: date | None = None
    day_to: date | None = None
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def params(self) -> dict[str, Any]:
        def start_of(day: date) -> str:
            local = datetime.combine(day, time(0), tzinfo=self.zone)
            return db_time_text(local.astimezone(UTC))

        return {
            "owner_id": self.owner_id,
            "status": self.status.value if self.status else None,
            "archived": None if self.archived is None else int(self.archived),
            "search": like_pattern(self.search) if self.search else None,
            "model": self.model or None,
            "from_time": start_of(self.day_from) if self.day_from else None,
            "to_time": start_of(self.day_to + timedelta(days=1)) if self.day_to else None,
        }


@dataclass(frozen=True)
class Sort:
    key: str = DEFAULT_SORT
    direction: str = "desc"

    def __post_init__(self) -> None:
        if self.key not in SORTS or self.direction not in DIRECTIONS:
            raise ValueError(f"unknown sort {self.key!r} {self.direction!r}; keys: {', '.join(SORTS)}")

    @property
    def is_default(self) -> bool:
        return self.key == DEFAULT_SORT and self.direction == "desc"


class JobList:
    def __init__(self, db: Database) -> None:
        self.db = db

    def page(self, where: JobFilter, sort: Sort, limit: int, offset: int) -> list[Job]:
        params = {**where.params(), "sort": sort.key, "dir": sort.direction, "limit": int(limit), "offset": int(offset)}
        return [job_from_row(r) for r in self.db.all("joblist_page", params)]

    def count(self, where: JobFilter) -> int:
        row = self.db.one("joblist_count", where.params())
        return int(row["n"]) if row else 0

    def ids(self, where: JobFilter, limit: int = MAX_BULK) -> list[int]:
        return [int(r["id"]) for r in self.db.all("joblist_ids", {**where.params(), "limit": int(limit)})]

    def newer(self, where: JobFilter, after: int) -> list[Job]:
        """Jobs with an id above ``after`` that match the filter, newest first (at most 50)."""
        return [job_from_row(r) for r in self.db.all("joblist_newer", {**where.params(), "after": int(after)})]

    def models(self, owner_id: int | None) -> list[str]:
        return [r["model_name"] for r in self.db.all("joblist_models", {"owner_id": owner_id})]

    def fill_file_keys(self) -> int:
        """Fold the names of rows stored before migration 010 (file_key NULL); returns how many."""
        filled = 0
        while True:
            rows = self.db.all("joblist_unkeyed")
            if not rows:
                return filled
            with self.db.transaction() as tx:
                for row in rows:
                    tx.execute("joblist_set_key", {"id": row["id"], "file_key": fold(row["file_name"])[:255]})
            filled += len(rows)


# -- bulk actions ---------------------------------------------------------------------------------
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


