"""Jobs (rows of ``wp_records``): the one place that creates, claims, completes, fails, cancels
and reads them (the list of jobs is app/core/jobs/listing.py). The scheduler, the API and
the embedded worker all claim through here.

Every write made on behalf of a running job is fenced by its claim token
(``WHERE id=? AND status_file='IN PROCESS' AND claim_token=?``): a worker whose lease was
taken over matches 0 rows and must discard its output.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.core.db import Database, Transaction, db_time_text, parse_time
from app.core.errors import Conflict, NotFound
from app.core.events import audit, metrics, webhooks
from app.core.events.audit import SYSTEM, Actor
from app.core.jobs.records import EVENTS, Claim, Job, JobEvent, Reaped, Status, job_from_row
from app.core.logfmt import log_event
from app.core.textfold import fold

log = logging.getLogger("beyond.jobs")


def worker_identity() -> str:
    """host:pid:random - unique per worker process, readable in the panel and the logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# What else a job's state change writes, in its transaction: the /metrics counters and the
# webhook outbox.
def _finished(tx: Transaction, job_id: int, event: str) -> None:
    """A final state: counted for /metrics, and the event written to the webhook outbox."""
    row = tx.one("job_get", {"id": job_id})
    if row is not None:
        metrics.job_finished(tx, row)
        webhooks.enqueue_job_event(tx, job_id, event)


def _taken_over(tx: Transaction, outcome: str) -> None:
    metrics.add(tx, "lease_takeovers", 1, outcome=outcome)


class Jobs:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- create / read --------------------------------------------------------------------
    def create(
        self, owner_id: int, file_name: str, path_up: str, file_size: int, rows_total: int | None,
        model_name: str | None = None, model_version: str | None = None, model_sha256: str | None = None,
        input_sha256: str | None = None, check: Callable[[Transaction], None] | None = None,
    ) -> Job:
        """A PENDING job; model_*: the registered model version it was accepted for (it runs
        with exactly that one; None: the default model when it runs); input_sha256: the
        stored file's hash. ``check`` runs first in the insert's transaction and may raise to
        refuse the job (the owner's quotas: app/core/jobs/quotas.py)."""
        with self.db.transaction() as tx:
            if check is not None:
                check(tx)
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

    def events(self, job_id: int) -> list[JobEvent]:
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

    def with_positions(self, jobs: list[Job]) -> list[Job]:
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

    def status_counts(self, owner_id: int | None = None) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for row in self.db.all("jobs_status_counts", {"owner_id": owner_id}):
            counts[row["status_file"]] = int(row["n"])
        return counts

    def pending_ids(self) -> list[int]:
        return [int(r["id"]) for r in self.db.all("jobs_pending_ids")]

    # -- what the panel's live updates ask ------------------------------------------------------
    def db_now(self) -> datetime:
        """The database's clock (every stored time comes from it)."""
        row = self.db.one("now")
        now = parse_time(row["now"]) if row else None
        return now or datetime.now(UTC)

    def active(self, owner_id: int | None) -> list[Job]:
        """Jobs that may still change on their own (PENDING, IN PROCESS), newest first."""
        return [job_from_row(r) for r in self.db.all("jobs_active", {"owner_id": owner_id})]

    def finished_since(self, owner_id: int | None, since: datetime) -> list[Job]:
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

    def last_event(self, job_id: int) -> int:
        """The id of the job's latest history event (0: none): every change of the job adds one."""
        row = self.db.one("job_last_event", {"id": job_id})
        return int(row["id"]) if row else 0

    def claim(self, job_id: int, worker: str, force: bool = False, seen_event: int | None = None) -> Claim | None:
        """Claim one given job (the API's /process_file). None if it is not claimable; forced
        with ``seen_event`` (``last_event`` when the run was asked for), also None once the job
        has changed since: the request that asked for it was answered by another's run."""
        token = uuid.uuid4().hex
        query = "job_claim_forced" if force else "job_claim"
        params: dict[str, Any] = {"id": job_id, "worker": worker, "token": token}
        if force:
            params["seen_event"] = seen_event
        with self.db.transaction() as tx:
            if tx.execute(query, params) != 1:
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

    def requeue(self, claim: Claim, message: str) -> bool:
        """Give a claimed job back after a failure outside the job (a full disk): PENDING again
        with the attempt counted and ``message`` as the reason, for a later try."""
        params = {"id": claim.job.id, "token": claim.token, "message": message[:4000]}
        return self._fenced_change(claim, "job_requeue", params, "requeued", f"{message} Back in the queue.")

    # -- recovery --------------------------------------------------------------------------------
    def reap(self, lease_seconds: int, max_attempts: int) -> tuple[list[int], list[int]]:
        """Jobs whose heartbeat is older than the lease: back to PENDING, or ERROR once they
        have used max_attempts. Returns (requeued ids, failed ids)."""
        lost = self.reap_lost(lease_seconds, max_attempts)
        return [r.id for r in lost if not r.failed], [r.id for r in lost if r.failed]

    def reap_lost(self, lease_seconds: int, max_attempts: int) -> list[Reaped]:
        """``reap`` with what the caller needs to log the change and remove the lost claim's
        files. Each job is reaped by exactly one reaper: the guarded UPDATEs decide."""
        reaped: list[Reaped] = []
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
            self.db.execute("job_quality_delete", {"job_id": job_id})  # its report (app/core/jobs/quality.py)
            log_event(log, "job.deleted", job=job_id, worker="web")
        return done
