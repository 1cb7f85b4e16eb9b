"""The article's endpoints: /process_file?id=N runs one job now, /process_all runs every job
that is PENDING when the call arrives. Administrators only.

Both claim through scheduler.worker.Worker - the same claim, heartbeat and fenced final write
as cron and the embedded worker - and run it in the thread pool, so the event loop keeps
answering other requests while the model works.

State rules of /process_file (documented in docs/api.md):
  PENDING                  -> runs
  IN PROCESS               -> 409, whatever `force` says (two runs of one job would race)
  PROCESS OK               -> 409, unless force=1 re-runs it (the new result replaces the old)
  ERROR                    -> 409 with a hint, unless force=1: an ERROR usually means the file
                              or the model needs attention first, so re-running it is a
                              deliberate act (force=1, or POST /api/jobs/{id}/retry to queue it)
The job's own outcome is in `status`; the HTTP status is 200 whenever the run took place,
even when it ended in ERROR (the request did what was asked).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.api_params import caller, parse_bool, parse_int
from app.errors import Conflict, NotFound, ServiceUnavailable
from app.jobs import Job, Status
from model.artifact import ModelError
from scheduler.worker import Worker


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def outcome(job: Job) -> str:
    """The human `result` line of a finished run."""
    if job.status is Status.PROCESS_OK:
        return f"PROCESS OK: {job.rows_done} rows"
    if job.status is Status.ERROR:
        return f"ERROR: {job.error_message or 'processing failed'}"
    if job.status is Status.PENDING:
        return "PENDING: the server is shutting down; the job was handed back to the queue"
    return f"{job.status.value}: another worker took the job over; poll /api/jobs/{job.id}"


def worker_for(request: Request) -> Worker:
    """A Worker for this request, with the model checked first: a broken model directory is
    the server's problem (503), and must not turn the job into an ERROR."""
    worker = Worker(request.app.state.settings, request.app.state.db)
    try:
        worker.model()
    except ModelError as exc:
        raise ServiceUnavailable(f"The model is not available, so nothing was processed: {exc}") from exc
    return worker


def refuse(job: Job, force: bool) -> Conflict | None:
    """Why job cannot be processed now (None when it can)."""
    extra = {"id": job.id, "job_status": job.status.value}
    if job.status is Status.IN_PROCESS:
        return Conflict(f"Job {job.id} is already being processed (by {job.claimed_by}); poll /api/jobs/{job.id}.",
                        extra=extra)
    if job.status is Status.PROCESS_OK and not force:
        return Conflict(f"Job {job.id} is already PROCESS OK; add force=1 to process it again.", extra=extra)
    if job.status is Status.ERROR and not force:
        return Conflict(
            f"Job {job.id} ended in ERROR ({job.error_message or 'no message'}). Fix the cause, then add force=1 "
            f"to process it now, or POST /api/jobs/{job.id}/retry to put it back in the queue.",
            extra=extra,
        )
    return None


def process_one(request: Request, job_id: int, force: bool) -> Job:
    worker = worker_for(request)
    job = worker.jobs.get(job_id)
    if job is None:
        raise NotFound(f"There is no job {job_id}.", extra={"id": job_id})
    problem = refuse(job, force)
    if problem:
        raise problem
    claim = worker.claim(job_id, force=force)
    if claim is None:
        # It changed between the read and the claim (a worker took it, or it was deleted).
        current = worker.jobs.get(job_id)
        if current is None:
            raise NotFound(f"There is no job {job_id}.", extra={"id": job_id})
        raise refuse(current, force) or Conflict(f"Job {job_id} changed state meanwhile; try again.", extra={"id": job_id})
    return worker.run_claim(claim)


def process_pending(request: Request) -> list[Job]:
    """Every job PENDING at the start of the call, oldest first. The list is fixed up front so
    a steady stream of new uploads cannot keep the request open forever; those are left to
    the scheduler. A job someone else claims meanwhile is simply skipped."""
    worker = worker_for(request)
    done = []
    for job_id in worker.jobs.pending_ids():
        claim = worker.claim(job_id)
        if claim is not None:
            done.append(worker.run_claim(claim))
    return done


async def process_file(request: Request) -> Response:
    await caller(request, admin=True)
    query = request.query_params
    job_id = parse_int("id", query.get("id"))
    force = bool(parse_bool("force", query.get("force"), default=False))
    start = now_iso()
    job = await run_in_threadpool(process_one, request, job_id, force)
    body: dict[str, Any] = {"result": outcome(job), "Start": start, "End": now_iso(), "id": job.id,
                            "status": job.status.value}
    return JSONResponse(body)


async def process_all(request: Request) -> Response:
    await caller(request, admin=True)
    start = now_iso()
    jobs = await run_in_threadpool(process_pending, request)
    results = [{"id": j.id, "status": j.status.value, "result": outcome(j)} for j in jobs]
    return JSONResponse({"result": results, "Start": start, "End": now_iso()})


routes = [
    Route("/process_file", process_file, methods=["GET", "POST"]),
    Route("/process_all", process_all, methods=["GET", "POST"]),
]
