"""Jobs (rows of ``wp_records``): the one place that creates, claims, completes, fails, lists
and reads them. The scheduler, the API and the embedded worker all claim through here.

Every write made on behalf of a running job is fenced by its claim token
(``WHERE id=? AND status_file='IN PROCESS' AND claim_token=?``): a worker whose lease was
taken over matches 0 rows and must discard its output.
"""

from __future__ import annotations

import builtins  # Jobs.list shadows the name list inside the class
import enum
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.core.db import Database, Row
from app.core.logfmt import log_event

log = logging.getLogger("beyond.jobs")


class Status(enum.StrEnum):
    PENDING = "PENDING"
    IN_PROCESS = "IN PROCESS"
    PROCESS_OK = "PROCESS OK"
    ERROR = "ERROR"

    def __str__(self) -> str:
        return self.value


def parse_time(value: Any) -> datetime | None:
    """Database time (a naive UTC datetime from MySQL, text from SQLite) -> aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def db_time_text(value: datetime) -> str:
    """A time as the naive UTC text both engines compare with their stored times
    (millisecond precision, like SQLite's clock)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


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
        return self.status in (Status.PROCESS_OK, Status.ERROR)

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
            "archived": self.archived,
            "model": self.model_name,
            "model_version": self.model_version,
            "model_sha256": self.model_sha256,
            "has_result": self.status is Status.PROCESS_OK and bool(self.path_result),
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
    )


def worker_identity() -> str:
    """host:pid:random - unique per worker process, readable in the panel and the logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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


class Jobs:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- create / read --------------------------------------------------------------------
    def create(
        self, owner_id: int, file_name: str, path_up: str, file_size: int, rows_total: int | None,
        model_name: str | None = None, model_version: str | None = None, model_sha256: str | None = None,
    ) -> Job:
        """A PENDING job; model_*: the registered model version it was accepted for (it runs
        with exactly that one; None: the default model when it runs)."""
        job_id = self.db.insert(
            "job_insert",
            {
                "owner_id": owner_id,
                "file_name": file_name[:255],
                "path_up": path_up,
                "file_size": file_size,
                "rows_total": rows_total,
                "model_name": model_name,
                "model_version": model_version,
                "model_sha256": model_sha256,
            },
        )
        job = self.get(job_id)
        assert job is not None
        log_event(log, "job.created", job=job.id, user=job.owner_name, worker="web",
                  status=job.status.value, rows=rows_total, bytes=file_size)
        return job

    def get(self, job_id: int) -> Job | None:
        row = self.db.one("job_get", {"id": job_id})
        return job_from_row(row) if row else None

    def get_visible(self, job_id: int, user_id: int, is_admin: bool) -> Job | None:
        """The job if this user may see it (owner or admin), else None: callers answer 404."""
        job = self.get(job_id)
        if job is None or (not is_admin and job.owner_id != user_id):
            return None
        return job

    @staticmethod
    def _filters(
        owner_id: int | None, status: Status | None, archived: bool | None, search: str | None
    ) -> dict[str, Any]:
        pattern = None
        if search:
            escaped = search.replace("!", "!!").replace("%", "!%").replace("_", "!_")
            pattern = f"%{escaped}%"
        return {
            "owner_id": owner_id,
            "status": status.value if status else None,
            "archived": None if archived is None else int(archived),
            "search": pattern,
        }

    def list(
        self,
        owner_id: int | None = None,
        status: Status | None = None,
        archived: bool | None = False,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Job]:
        params = self._filters(owner_id, status, archived, search)
        params.update(limit=int(limit), offset=int(offset))
        return [job_from_row(r) for r in self.db.all("jobs_list", params)]

    def count(
        self,
        owner_id: int | None = None,
        status: Status | None = None,
        archived: bool | None = False,
        search: str | None = None,
    ) -> int:
        row = self.db.one("jobs_count", self._filters(owner_id, status, archived, search))
        return int(row["n"]) if row else 0

    def status_counts(self, owner_id: int | None = None) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for row in self.db.all("jobs_status_counts", {"owner_id": owner_id}):
            counts[row["status_file"]] = int(row["n"])
        return counts

    def pending_ids(self) -> builtins.list[int]:
        return [int(r["id"]) for r in self.db.all("jobs_pending_ids")]

    # -- what the panel's live updates ask ------------------------------------------------------
    def db_now(self) -> datetime:
        """The database's clock (every stored time comes from it)."""
        row = self.db.one("now")
        now = parse_time(row["now"]) if row else None
        return now or datetime.now(UTC)

    def active(self, owner_id: int | None) -> builtins.list[Job]:
        """Jobs that may still change on their own (PENDING, IN PROCESS), newest first."""
        return [job_from_row(r) for r in self.db.all("jobs_active", {"owner_id": owner_id})]

    def finished_since(self, owner_id: int | None, since: datetime) -> builtins.list[Job]:
        """Jobs that ended at or after ``since`` (a time an earlier db_now() returned)."""
        params = {"owner_id": owner_id, "since": db_time_text(since)}
        return [job_from_row(r) for r in self.db.all("jobs_finished_since", params)]

    def newest_id(self, owner_id: int | None) -> int:
        row = self.db.one("jobs_newest_id", {"owner_id": owner_id})
        return int(row["id"]) if row and row["id"] is not None else 0

    # -- claim ------------------------------------------------------------------------------
    def claim_next(self, worker: str) -> Claim | None:
        """Atomically take the oldest PENDING job. Any number of processes on any number of
        hosts may call this at once: MySQL skips rows another transaction has locked, SQLite
        serialises the short write transaction; the guarded UPDATE is the final word."""
        token = uuid.uuid4().hex
        while True:
            with self.db.transaction() as tx:
                row = tx.one("job_next_pending")
                if row is None:
                    return None
                job_id = int(row["id"])
                won = tx.execute("job_claim", {"id": job_id, "worker": worker, "token": token})
            if won == 1:
                job = self.get(job_id)
                if job is not None:
                    return Claim(job, token, worker)
            # Lost the row to a concurrent claimer (possible on engines without row locks):
            # look again.

    def claim(self, job_id: int, worker: str, force: bool = False) -> Claim | None:
        """Claim one given job (the API's /process_file). None if it is not claimable."""
        token = uuid.uuid4().hex
        query = "job_claim_forced" if force else "job_claim"
        if self.db.execute(query, {"id": job_id, "worker": worker, "token": token}) != 1:
            return None
        job = self.get(job_id)
        return Claim(job, token, worker) if job else None

    # -- fenced writes of a running job ----------------------------------------------------------
    def heartbeat(self, claim: Claim, rows_done: int, rows_total: int | None = None) -> bool:
        params = {"id": claim.job.id, "token": claim.token, "rows_done": rows_done, "rows_total": rows_total}
        return self.db.execute("job_heartbeat", params) == 1

    def complete(
        self,
        claim: Claim,
        path_result: str,
        path_result_csv: str | None,
        rows: int,
        model_version: str,
    ) -> bool:
        params = {
            "id": claim.job.id,
            "token": claim.token,
            "path_result": path_result,
            "path_result_csv": path_result_csv,
            "rows_done": rows,
            "rows_total": rows,
            "model_version": model_version,
        }
        return self.db.execute("job_complete", params) == 1

    def fail(self, claim: Claim, message: str) -> bool:
        params = {"id": claim.job.id, "token": claim.token, "message": message[:4000]}
        return self.db.execute("job_fail", params) == 1

    def release(self, claim: Claim) -> bool:
        """Give a claimed job back (graceful shutdown): PENDING again, the attempt not counted."""
        return self.db.execute("job_release", {"id": claim.job.id, "token": claim.token}) == 1

    # -- recovery --------------------------------------------------------------------------------
    def reap(self, lease_seconds: int, max_attempts: int) -> tuple[builtins.list[int], builtins.list[int]]:
        """Jobs whose heartbeat is older than the lease: back to PENDING, or ERROR once they
        have used max_attempts. Returns (requeued ids, failed ids)."""
        lost = self.reap_lost(lease_seconds, max_attempts)
        return [r.id for r in lost if not r.failed], [r.id for r in lost if r.failed]

    def reap_lost(self, lease_seconds: int, max_attempts: int) -> builtins.list[Reaped]:
        """``reap`` with what the caller needs to log the change and remove the lost claim's
        files. Each job is reaped by exactly one reaper: the guarded UPDATEs decide."""
        reaped: builtins.list[Reaped] = []
        for row in self.db.all("jobs_stale", {"lease_seconds": lease_seconds}):
            # The token in the guard: only the claim seen as stale is reaped, never a newer one.
            params = {"id": row["id"], "token": row["claim_token"], "lease_seconds": lease_seconds,
                      "max_attempts": max_attempts}
            started, now = parse_time(row["date_init"]), parse_time(row["now"])
            held = round((now - started).total_seconds(), 3) if started and now else None
            found = dict(
                id=int(row["id"]), owner_name=row["owner_name"], lost_worker=row["claimed_by"],
                token=row["claim_token"], attempts=int(row["attempts"] or 0), held_seconds=held,
            )
            if self.db.execute("job_reap_requeue", params) == 1:
                reaped.append(Reaped(**found, failed=False))
                continue
            message = (
                f"Worker lost (last seen: {row['claimed_by']}); gave up after "
                f"{row['attempts']} attempts. The file may be too large or may crash the model; "
                "check it, then retry."
            )
            if self.db.execute("job_reap_fail", {**params, "message": message}) == 1:
                reaped.append(Reaped(**found, failed=True))
        return reaped

    # -- user actions ------------------------------------------------------------------------------
    def retry(self, job_id: int) -> bool:
        done = self.db.execute("job_retry", {"id": job_id}) == 1
        if done:
            log_event(log, "job.retried", job=job_id, worker="web", status=Status.PENDING.value)
        return done

    def set_archived(self, job_id: int, archived: bool) -> bool:
        done = self.db.execute("job_set_archived", {"id": job_id, "archived": int(archived)}) == 1
        if done:
            log_event(log, "job.archived" if archived else "job.unarchived", job=job_id, worker="web")
        return done

    def delete(self, job_id: int) -> bool:
        """Remove the row (not while it runs). The caller removes the files."""
        done = self.db.execute("job_delete", {"id": job_id}) == 1
        if done:
            self.db.execute("job_quality_delete", {"job_id": job_id})  # its report (app/core/quality.py)
            log_event(log, "job.deleted", job=job_id, worker="web")
        return done
