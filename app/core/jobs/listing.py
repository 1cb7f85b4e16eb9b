"""The one job list, for the API (GET /api/jobs) and the panel alike: filters (status, owner,
model, upload dates, a search that ignores case and accents), a whitelisted sort, the ids of
"all N matching" for bulk actions (app/core/jobs/bulk.py), and the jobs newer than the ones a
page shows (live insertion).

Search folding: the folded file name is stored with the row (``file_key``, migration 010)
rather than folded in Python at query time (that would read every name of the list for each
search) or left to the database (SQLite's LIKE folds ASCII case only; MariaDB's collations
fold accents, but differently from SQLite and per collation). One Python function, ``fold``,
decides for both engines, once per job, and a search is one LIKE on the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.db import Database, db_time_text
from app.core.jobs.records import Job, Status, job_from_row
from app.core.textfold import fold

# Sort keys the list offers (the ?sort= values), each mapped to a column in the CASEs of
# joblist_page (sql/queries_joblist.sql). 'uploaded' descending is the default (newest first).
SORTS = ("file", "owner", "uploaded", "status", "model", "started", "finished", "rows", "attempts")
DEFAULT_SORT = "uploaded"
DIRECTIONS = ("asc", "desc")
# A bulk action over "all matching" acts on at most this many jobs at once (the page says so).
MAX_BULK = 10_000
# A page of the list when the caller names no size.
PAGE_SIZE = 50


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

    def page(self, where: JobFilter = JobFilter(), sort: Sort = Sort(), limit: int = PAGE_SIZE, offset: int = 0) -> list[Job]:
        params = {**where.params(), "sort": sort.key, "dir": sort.direction, "limit": int(limit), "offset": int(offset)}
        return [job_from_row(r) for r in self.db.all("joblist_page", params)]

    def count(self, where: JobFilter = JobFilter()) -> int:
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
