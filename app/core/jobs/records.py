"""A job's records: its status (the database strings), the Job row of ``wp_records``, its
history (job_events) and a worker's claim on it. Plain data: every query that reads or changes
them is in app/core/jobs/queue.py, and the modules that only describe jobs import this one."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.core.db import Row, parse_time


class Status(enum.StrEnum):
    PENDING = "PENDING"
    IN_PROCESS = "IN PROCESS"
    PROCESS_OK = "PROCESS OK"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"  # stopped by its owner or an administrator (migration 006)

    def __str__(self) -> str:
        return self.value


# How a job's ERROR message begins (scheduler/worker.py writes them), which says whose fault it
# was: the model's (it could not be loaded, or it scored none of the rows), or the file's.
MODEL_FAILED = "The model failed: "
MODEL_UNAVAILABLE = "The model could not be loaded: "
FILE_UNFIT = "The file does not fit the model: "


@dataclass(frozen=True)
class Job:
    id: int
    owner_id: int
    owner_name: str | None
    file_name: str
    path_up: str
    path_result: str | None
    path_result_csv: str | None
    file_size: int
    status: Status
    date_up: datetime | None
    date_init: datetime | None
    date_result: datetime | None
    rows_total: int | None
    rows_done: int
    attempts: int
    error_message: str | None
    archived: bool
    model_version: str | None
    claimed_by: str | None
    claim_token: str | None
    heartbeat_at: datetime | None
    model_name: str | None = None  # the registered model (None: jobs from before the registry)
    model_sha256: str | None = None
    input_sha256: str | None = None  # the uploaded file's hash (None: jobs from before migration 006)
    queue_position: int | None = None  # PENDING jobs: 1 = next to be claimed (Jobs.with_positions)
    expired_at: datetime | None = None  # RESULT_RETENTION_DAYS removed its files (the row stays)

    @property
    def failed_by(self) -> str | None:
        """An ERROR job's cause: "model" (the model failed, the file is not to blame), "file"
        (it does not fit the model) or "service" (anything else); None for other statuses."""
        if self.status is not Status.ERROR:
            return None
        message = self.error_message or ""
        if message.startswith((MODEL_FAILED, MODEL_UNAVAILABLE)):
            return "model"
        return "file" if message.startswith(FILE_UNFIT) else "service"

    @property
    def expired(self) -> bool:
        return self.expired_at is not None

    def expires_at(self, retention_days: int) -> datetime | None:
        """When the retention sweep will remove this finished job's files (None: never)."""
        if retention_days <= 0 or not self.finished or self.expired or self.date_result is None:
            return None
        return self.date_result + timedelta(days=retention_days)

    @property
    def duration_seconds(self) -> float | None:
        if self.date_init and self.date_result:
            return (self.date_result - self.date_init).total_seconds()
        return None

    @property
    def progress(self) -> float:
        if self.status is Status.PROCESS_OK:
            return 1.0
        if not self.rows_total:
            return 0.0
        return min(1.0, self.rows_done / self.rows_total)

    @property
    def finished(self) -> bool:
        return self.status in (Status.PROCESS_OK, Status.ERROR, Status.CANCELLED)

    @property
    def rows_per_second(self) -> float | None:
        """A running job's rate so far (rows written by its last progress write over the time
        since its claim), or a finished job's over its whole run."""
        if self.status is Status.IN_PROCESS and self.date_init and self.heartbeat_at and self.rows_done:
            seconds = (self.heartbeat_at - self.date_init).total_seconds()
            return self.rows_done / seconds if seconds > 0 else None
        if self.status is Status.PROCESS_OK and self.duration_seconds and self.rows_total:
            return self.rows_total / self.duration_seconds
        return None

    @property
    def seconds_left(self) -> float | None:
        """The estimated time until a running job is done, at its rate so far."""
        rate = self.rows_per_second
        if self.status is not Status.IN_PROCESS or not rate or self.rows_total is None:
            return None
        return max(0.0, (self.rows_total - self.rows_done) / rate)

    def as_dict(self) -> dict[str, Any]:
        """The public JSON shape (no claim token, no server paths)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "owner": self.owner_name,
            "file_name": self.file_name,
            "file_size": self.file_size,
            "status": self.status.value,
            "uploaded_at": iso(self.date_up),
            "started_at": iso(self.date_init),
            "finished_at": iso(self.date_result),
            "duration_seconds": self.duration_seconds,
            "rows_total": self.rows_total,
            "rows_done": self.rows_done,
            "progress": round(self.progress, 4),
            "attempts": self.attempts,
            "error": self.error_message,
            "failed_by": self.failed_by,
            "archived": self.archived,
            "model": self.model_name,
            "model_version": self.model_version,
            "model_sha256": self.model_sha256,
            "has_result": self.status is Status.PROCESS_OK and bool(self.path_result) and not self.expired,
            "expired": self.expired,
            "expired_at": iso(self.expired_at),
            "input_sha256": self.input_sha256,
            "rows_per_second": None if self.rows_per_second is None else round(self.rows_per_second, 1),
            "seconds_left": None if self.seconds_left is None else round(self.seconds_left, 1),
            "queue_position": self.queue_position,
        }


def job_from_row(row: Row) -> Job:
    return Job(
        id=int(row["id"]),
        owner_id=int(row["owner_id"]),
        owner_name=row.get("owner_name"),
        file_name=row["file_name"],
        path_up=row["path_up"],
        path_result=row["path_result"],
        path_result_csv=row["path_result_csv"],
        file_size=int(row["file_size"] or 0),
        status=Status(row["status_file"]),
        date_up=parse_time(row["date_up"]),
        date_init=parse_time(row["date_init"]),
        date_result=parse_time(row["date_result"]),
        rows_total=None if row["rows_total"] is None else int(row["rows_total"]),
        rows_done=int(row["rows_done"] or 0),
        attempts=int(row["attempts"] or 0),
        error_message=row["error_message"],
        archived=bool(row["archived"]),
        model_version=row["model_version"],
        claimed_by=row["claimed_by"],
        claim_token=row["claim_token"],
        heartbeat_at=parse_time(row["heartbeat_at"]),
        model_name=row.get("model_name"),
        model_sha256=row.get("model_sha256"),
        expired_at=parse_time(row.get("expired_at")),
        input_sha256=row.get("input_sha256"),
    )


@dataclass(frozen=True)
class JobEvent:
    """One state change of a job (a row of job_events): what happened, the status it left the
    job in, which worker (or "web" / a user) did it, the job's attempts then, and a sentence."""

    id: int
    job_id: int
    event: str
    status: str
    worker: str | None
    attempt: int
    detail: str | None
    at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.event, "status": self.status, "worker": self.worker,
                "attempt": self.attempt, "detail": self.detail, "at": self.at.isoformat() if self.at else None}


# The kinds of job_events rows, in the order a job usually meets them.
EVENTS = ("queued", "claimed", "released", "requeued", "reaped", "cancelled", "retried",
          "finished_ok", "finished_error")


@dataclass(frozen=True)
class Claim:
    """A job this worker holds: the token fences every write it makes for the job."""

    job: Job
    token: str
    worker: str


@dataclass(frozen=True)
class Reaped:
    """A running job taken back from a worker that stopped heartbeating."""

    id: int
    owner_name: str | None
    lost_worker: str | None
    token: str | None  # the lost claim's token: its leftover files carry it in their names
    attempts: int
    held_seconds: float | None  # from the lost claim to the reaping
    failed: bool  # True: attempts exhausted, now ERROR; False: back to PENDING
