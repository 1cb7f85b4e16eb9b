"""The queue at a glance, for administrators (/admin/queue): jobs per status, how long the
oldest PENDING job has waited, the rows per second finished over the last hour, and the busy
workers as their heartbeats show them (host, pid, job, since when), stale ones flagged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.core.db import Database, parse_time
from app.core.jobs.records import Status

WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class BusyWorker:
    worker: str  # host:pid:random, as the worker names itself
    host: str
    pid: str
    job_id: int
    file_name: str
    owner_name: str | None
    since: datetime | None  # its claim of the job
    heartbeat_at: datetime | None
    heartbeat_age: float | None  # seconds
    rows_done: int
    rows_total: int | None
    attempts: int
    stale: bool  # no heartbeat within the lease: the reaper will take the job back


@dataclass(frozen=True)
class QueueHealth:
    counts: dict[str, int]
    oldest_pending_seconds: float | None
    rows_last_hour: int
    jobs_last_hour: int
    workers: list[BusyWorker]

    @property
    def rows_per_second(self) -> float:
        return self.rows_last_hour / WINDOW_SECONDS


def split_worker(worker: str | None) -> tuple[str, str]:
    """'host:pid:random' -> (host, pid); a name in another shape is all host."""
    parts = (worker or "").rsplit(":", 2)
    return (parts[0], parts[1]) if len(parts) == 3 else (worker or "?", "")


def queue_health(db: Database, lease_seconds: int) -> QueueHealth:
    counts = {s.value: 0 for s in Status}
    for row in db.all("queue_status_counts"):
        counts[row["status_file"]] = int(row["n"])
    oldest = db.one("queue_oldest_pending")
    waited = None
    if oldest and oldest["oldest"] is not None:
        first, now = parse_time(oldest["oldest"]), parse_time(oldest["now"])
        waited = max(0.0, (now - first).total_seconds()) if first and now else None
    done = db.one("queue_rows_done_since", {"lease_seconds": WINDOW_SECONDS})
    workers = []
    for row in db.all("queue_running", {"lease_seconds": lease_seconds}):
        host, pid = split_worker(row["claimed_by"])
        beat, now = parse_time(row["heartbeat_at"]), parse_time(row["now"])
        workers.append(BusyWorker(
            worker=row["claimed_by"] or "?", host=host, pid=pid, job_id=int(row["id"]), file_name=row["file_name"],
            owner_name=row["owner_name"], since=parse_time(row["date_init"]), heartbeat_at=beat,
            heartbeat_age=round((now - beat).total_seconds(), 1) if beat and now else None,
            rows_done=int(row["rows_done"] or 0),
            rows_total=None if row["rows_total"] is None else int(row["rows_total"]),
            attempts=int(row["attempts"] or 0), stale=bool(int(row["stale"] or 0)),
        ))
    return QueueHealth(counts=counts, oldest_pending_seconds=waited,
                       rows_last_hour=int(done["rows_done"]) if done else 0,
                       jobs_last_hour=int(done["jobs"]) if done else 0, workers=workers)
