"""Jobs (rows of ``wp_records``): the one place that creates, claims, completes, fails, lists
and reads them. The scheduler, the API and the embedded worker all claim through here.

Every write made on behalf of a running job is fenced by its claim token
(``WHERE id=? AND status_file='IN PROCESS' AND claim_token=?``): a worker whose lease was
taken over matches 0 rows and must discard its output.
"""

from __future__ import annotations

import builtins  # Jobs.list shadows the name list inside the class
import dataclasses
import enum
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core import audit
from app.core.audit import SYSTEM, Actor
from app.core.db import Database, Row, Transaction
from app.core.errors import Conflict, NotFound
from app.core.logfmt import log_event
from app.core.textfold import fold

log = logging.getLogger("beyond.jobs")


class Status(enum.StrEnum):
    PENDING = "PENDING"
    IN_PROCESS = "IN PROCESS"
    PROCESS_OK = "PROCESS OK"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"  # stopped by its owner or an administrator (migration 006)

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
    input_sha256: str | None = None  # the uploaded file's hash (None: jobs from before migration 006)
    queue_position: int | None = None  # PENDING jobs: 1 = next to be claimed (Jobs.with_positions)
    expired_at: datetime | None = None  # RESULT_RETENTION_DAYS removed its files (the row stays)

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


# What else a job's state change writes, in its transaction: the /metrics counters and the
# webhook outbox (the modules import this one, hence the imports inside the functions).
def _finished(tx: Transaction, job_id: int, event: str) -> None:
    """A final state: counted for /metrics, and the event written to the webhook outbox."""
    from app.core import metrics, webhooks

    row = tx.one("job_get", {"id": job_id})
    if row is not None:
        metrics.job_finished(tx, row)
        webhooks.enqueue_job_event(tx, job_id, event)


def _taken_over(tx: Transaction, outcome: str) -> None:
    from app.core import metrics

    metrics.add(tx, "lease_takeovers", 1, outcome=outcome)


class Jobs:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- create / read --------------------------------------------------------------------
    def create(
        self, owner_id: int, file_name: str, path_up: str, file_size: int, rows_total: int | None,
        model_name: str | None = None, model_version: str | None = None, model_sha256: str | None = None,
        input_sha256: str | None = None,
    ) -> Job:
        """A PENDING job; model_*: the registered model version it was accepted for (it runs
        with exactly that one; None: the default model when it runs); input_sha256: the
        stored file's hash."""
        with self.db.transaction() as tx:
            job_id = tx.insert(
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
                    "input_sha256": input_sha256,
                    "file_key": fold(file_name[:255])[:255],
                },
            )
            rows = "unknown" if rows_total is None else f"{rows_total:,}"
            self._event(tx, job_id, "queued", "web", f"uploaded: {rows} rows, {file_size:,} bytes")
        job = self.get(job_id)
        assert job is not None
        log_event(log, "job.created", job=job.id, user=job.owner_name, worker="web",
                  status=job.status.value, rows=rows_total, bytes=file_size)
        return job

    @staticmethod
    def _event(tx: Transaction, job_id: int, event: str, worker: str | None, detail: str | None = None) -> None:
        """One job_events row for a change made in ``tx`` (status and attempts read after it)."""
        assert event in EVENTS, event
        tx.execute("job_event_insert", {"id": job_id, "event": event, "worker": worker,
                                        "detail": None if detail is None else detail[:4000]})

    def events(self, job_id: int) -> builtins.list[JobEvent]:
        """The job's history, oldest first."""
        return [
            JobEvent(id=int(r["id"]), job_id=int(r["job_id"]), event=r["event"], status=r["status"],
                     worker=r["worker"], attempt=int(r["attempt"] or 0), detail=r["detail"],
                     at=parse_time(r["created_at"]))
            for r in self.db.all("job_events_for_job", {"id": job_id})
        ]

    def queue_position(self, job: Job) -> int | None:
        """A PENDING job's place in the queue (1: the next one claimed), else None."""
        if job.status is not Status.PENDING:
            return None
        row = self.db.one("job_queue_position", {"id": job.id})
        return int(row["n"]) if row else None

    def with_positions(self, jobs: builtins.list[Job]) -> builtins.list[Job]:
        """The jobs, PENDING ones with their queue_position (one indexed count each)."""
        return [dataclasses.replace(j, queue_position=self.queue_position(j)) if j.status is Status.PENDING else j
                for j in jobs]

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
                    self._event(tx, job_id, "claimed", worker, "claimed from the queue")
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
        with self.db.transaction() as tx:
            if tx.execute(query, {"id": job_id, "worker": worker, "token": token}) != 1:
                return None
            self._event(tx, job_id, "claimed", worker, "re-run on request (forced)" if force else "run on request")
        job = self.get(job_id)
        return Claim(job, token, worker) if job else None

    # -- fenced writes of a running job ----------------------------------------------------------
    def heartbeat(self, claim: Claim, rows_done: int, rows_total: int | None = None) -> bool:
        params = {"id": claim.job.id, "token": claim.token, "rows_done": rows_done, "rows_total": rows_total}
        return self.db.execute("job_heartbeat", params) == 1

    def claim_alive(self, claim: Claim) -> bool:
        """Is the claim still ours (not cancelled, reaped or deleted)? A read, no write."""
        return self.db.one("job_claim_alive", {"id": claim.job.id, "token": claim.token}) is not None

    def _fenced_change(self, claim: Claim, query: str, params: dict[str, Any], event: str, detail: str,
                       final: str | None = None) -> bool:
        """A claim's change (only while the claim is the job's): its history event and, for a
        ``final`` state, its metrics and webhook outbox rows, in one transaction."""
        with self.db.transaction() as tx:
            if tx.execute(query, params) != 1:
                return False
            self._event(tx, claim.job.id, event, claim.worker, detail)
            if final is not None:
                _finished(tx, claim.job.id, final)
            return True

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
        return self._fenced_change(claim, "job_complete", params, "finished_ok", f"{rows:,} rows written",
                                   "job.succeeded")

    def fail(self, claim: Claim, message: str) -> bool:
        params = {"id": claim.job.id, "token": claim.token, "message": message[:4000]}
        return self._fenced_change(claim, "job_fail", params, "finished_error", message, "job.failed")

    def release(self, claim: Claim) -> bool:
        """Give a claimed job back (graceful shutdown): PENDING again, the attempt not counted."""
        return self._fenced_change(claim, "job_release", {"id": claim.job.id, "token": claim.token},
                                   "released", "the worker was stopped; back in the queue")

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
            lost = (f"heartbeat lost: no heartbeat from {row['claimed_by']} for over {lease_seconds} s "
                    "(the lease)")
            with self.db.transaction() as tx:
                if tx.execute("job_reap_requeue", params) == 1:
                    self._event(tx, found["id"], "reaped", "reaper", f"{lost}; back in the queue")
                    _taken_over(tx, "requeued")
                    requeued = True
                else:
                    requeued = False
            if requeued:
                reaped.append(Reaped(**found, failed=False))
                continue
            message = (
                f"Worker lost (last seen: {row['claimed_by']}); gave up after "
                f"{row['attempts']} attempts. The file may be too large or may crash the model; "
                "check it, then retry."
            )
            with self.db.transaction() as tx:
                if tx.execute("job_reap_fail", {**params, "message": message}) == 1:
                    self._event(tx, found["id"], "reaped", "reaper", f"{lost}; attempts exhausted")
                    _taken_over(tx, "failed")
                    _finished(tx, int(row["id"]), "job.failed")
                    failed = True
                else:
                    failed = False
            if failed:
                reaped.append(Reaped(**found, failed=True))
        return reaped

    # -- user actions ------------------------------------------------------------------------------
    # Each records its audit entry (and its history event) in the same transaction as the
    # change (nothing recorded when nothing changed).
    def retry(self, job_id: int, actor: Actor = SYSTEM) -> bool:
        """ERROR or CANCELLED -> PENDING with its attempts reset. False for any other status."""
        with self.db.transaction() as tx:
            done = tx.execute("job_retry", {"id": job_id}) == 1
            if done:
                audit.record(tx, actor, audit.JOB_RETRY, "job", job_id)
                self._event(tx, job_id, "retried", actor.name, f"retried by {actor.name}; back in the queue")
        if done:
            log_event(log, "job.retried", job=job_id, worker="web", status=Status.PENDING.value)
        return done

    def cancel(self, job_id: int, actor: Actor) -> Job:
        """Stop a PENDING or IN PROCESS job: CANCELLED at once in the database. A running job's
        worker finds its claim fenced out at its next progress check (within about a second),
        stops and removes what it wrote; if it finishes first, its complete() and this cancel
        race on one guarded UPDATE and exactly one wins. ``by``: who (a user name), for the
        history. Returns the cancelled job; NotFound if there is no such job, Conflict (its
        status in ``extra``) if it has ended. The caller checks that ``by`` may see the job."""
        by = actor.name
        message = f"Cancelled by {by}."
        for _ in range(5):  # a claim or a reap may move the job between the read and the write
            job = self.get(job_id)
            if job is None:
                raise NotFound(f"There is no job {job_id}.", extra={"id": job_id})
            with self.db.transaction() as tx:
                if job.status is Status.PENDING:
                    won = tx.execute("job_cancel_pending", {"id": job_id, "message": message}) == 1
                    detail = f"cancelled by {by} while waiting in the queue"
                elif job.status is Status.IN_PROCESS:
                    won = tx.execute("job_cancel_running",
                                     {"id": job_id, "message": message, "token": job.claim_token}) == 1
                    detail = f"cancelled by {by} while {job.claimed_by} was running it ({job.rows_done:,} rows done)"
                else:
                    raise Conflict(f"Job {job_id} has already ended ({job.status.value}); only PENDING and "
                                   "IN PROCESS jobs can be cancelled.",
                                   extra={"id": job_id, "job_status": job.status.value})
                if won:
                    self._event(tx, job_id, "cancelled", by, detail)
                    audit.record(tx, actor, audit.JOB_CANCEL, "job", job_id, f"was {job.status.value}")
                    _finished(tx, job_id, "job.cancelled")
            if won:
                log_event(log, "job.cancelled", job=job_id, user=job.owner_name, worker="web", by=by,
                          status=Status.CANCELLED.value, was=job.status.value)
                cancelled = self.get(job_id)
                if cancelled is None:
                    raise NotFound(f"There is no job {job_id}.", extra={"id": job_id})
                return cancelled
        current = self.get(job_id)
        raise Conflict(f"Job {job_id} changed while it was being cancelled; try again.",
                       extra={"id": job_id, "job_status": current.status.value if current else None})

    def set_archived(self, job_id: int, archived: bool, actor: Actor = SYSTEM) -> bool:
        with self.db.transaction() as tx:
            done = tx.execute("job_set_archived", {"id": job_id, "archived": int(archived)}) == 1
            if done:
                audit.record(tx, actor, audit.JOB_ARCHIVE if archived else audit.JOB_UNARCHIVE, "job", job_id)
        if done:
            log_event(log, "job.archived" if archived else "job.unarchived", job=job_id, worker="web")
        return done

    def delete(self, job_id: int, actor: Actor = SYSTEM) -> bool:
        """Remove the row (not while it runs). The caller removes the files."""
        with self.db.transaction() as tx:
            done = tx.execute("job_delete", {"id": job_id}) == 1
            if done:
                audit.record(tx, actor, audit.JOB_DELETE, "job", job_id)
        if done:
            self.db.execute("job_quality_delete", {"job_id": job_id})  # its report (app/core/quality.py)
            log_event(log, "job.deleted", job=job_id, worker="web")
        return done
