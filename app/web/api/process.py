"""The article's endpoints: /process_file?id=N runs one job now, /process_all runs every job
that is PENDING when the call arrives. Administrators only.

Both run the worker as a child process - `process_pending.py --job N [--force]` or
`--all --max-id N`, the same claim, host cap (MAX_CONCURRENT_JOBS), reaper, heartbeat and
fenced final write as cron and the embedded workers - wait for it in the thread pool, and
answer from the job rows. No model ever runs under the web server's GIL.

State rules of /process_file (documented in docs/api.md):
  PENDING                  -> runs
  IN PROCESS               -> 409, whatever `force` says (two runs of one job would race)
  PROCESS OK               -> 409, unless force=1 re-runs it (the new result replaces the old)
  ERROR                    -> 409 with a hint, unless force=1: an ERROR usually means the file
                              or the model needs attention first, so re-running it is a
                              deliberate act (force=1, or POST /api/jobs/{id}/retry to queue it)
The job's own outcome is in `status`; the HTTP status is 200 whenever the run took place,
even when it ended in ERROR (the request did what was asked).

Both answer GET as the article does, so a request a browser marks as cross-site (or with a
foreign Origin) is refused first (app/web/csrf.py `refuse_cross_site`): another site's page
cannot run jobs with the browser's credentials.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.core.errors import Conflict, Gone, NotFound, Unavailable
from app.core.events import audit
from app.core.events.audit import Actor
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Job, Status
from app.core.jobs.results import expired_message
from app.core.settings import Settings
from app.web.api.params import caller, parse_bool, parse_int
from app.web.auth import actor_of
from app.web.csrf import refuse_cross_site
from app.web.supervisor import EXIT_NOT_CLAIMED, EXIT_OK, ChildRun, run_worker


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def outcome(job: Job) -> str:
    """The human `result` line of a finished run."""
    if job.status is Status.PROCESS_OK:
        return f"PROCESS OK: {job.rows_done} rows"
    if job.status is Status.ERROR:
        return f"ERROR: {job.error_message or 'processing failed'}"
    if job.status is Status.CANCELLED:
        return f"CANCELLED: {job.error_message or 'cancelled while it ran'}"
    if job.status is Status.PENDING:
        return "PENDING: the worker stopped before the job ended; it was handed back to the queue"
    return f"{job.status.value}: another worker took the job over; poll /api/jobs/{job.id}"


def refuse(job: Job, force: bool) -> Conflict | None:
    """Why job cannot be processed now (None when it can)."""
    extra = {"id": job.id, "job_status": job.status.value}
    if job.status is Status.IN_PROCESS:
        return Conflict(f"Job {job.id} is already being processed (by {job.claimed_by}); poll /api/jobs/{job.id}.",
                        extra=extra)
    if job.status is Status.PROCESS_OK and not force:
        return Conflict(f"Job {job.id} is already PROCESS OK; add force=1 to process it again.", extra=extra)
    if job.status is Status.CANCELLED and not force:
        return Conflict(f"Job {job.id} was cancelled; add force=1 to process it now, or POST "
                        f"/api/jobs/{job.id}/retry to put it back in the queue.", extra=extra)
    if job.status is Status.ERROR and not force:
        return Conflict(
            f"Job {job.id} ended in ERROR ({job.error_message or 'no message'}). Fix the cause, then add force=1 "
            f"to process it now, or POST /api/jobs/{job.id}/retry to put it back in the queue.",
            extra=extra,
        )
    return None


def check_worker_run(run: ChildRun) -> None:
    """A worker that could not run at all (model or database unusable) is the server's
    problem: 503, and the job is untouched."""
    if run.exit_code not in (EXIT_OK, EXIT_NOT_CLAIMED):
        last = run.stderr.strip().splitlines()[-1:] or [f"exit code {run.exit_code}"]
        raise Unavailable("The worker could not run, so nothing was processed; try again later.",
                          detail=last[0][-500:])


def process_one(settings: Settings, jobs: Jobs, job_id: int, force: bool, actor: Actor) -> Job:
    # Read before the job: a change in between makes the forced claim refuse (never run twice).
    seen_event = jobs.last_event(job_id)
    job = jobs.get(job_id)
    if job is None:
        raise NotFound(f"There is no job {job_id}.", extra={"id": job_id})
    if job.expired:
        raise Gone(expired_message(settings, job), extra={"id": job.id, "expired": True})
    problem = refuse(job, force)
    if problem:
        raise problem
    # Audited when the run is asked for (the worker child's outcome is the job's own state).
    audit.record(jobs.db, actor, audit.JOB_PROCESS, "job", job_id, f"was {job.status.value}" + (", force" if force else ""))
    args = ["--job", str(job_id)] + (["--force", "--seen-event", str(seen_event)] if force else [])
    run = run_worker(settings, *args)
    check_worker_run(run)
    current = jobs.get(job_id)
    if current is None:
        raise NotFound(f"There is no job {job_id} (it was deleted meanwhile).", extra={"id": job_id})
    if run.exit_code == EXIT_NOT_CLAIMED:
        # It changed between the read and the claim (a worker took it, it ended, or - forced -
        # another request's re-run came first: parallel forced re-runs run the job once).
        if force and refuse(current, force) is None:
            raise Conflict(f"Job {job_id} was processed by another request while this one waited (it is now "
                           f"{current.status.value}); it was not run again. Send force=1 again to re-run it once more.",
                           extra={"id": job_id, "job_status": current.status.value})
        raise refuse(current, force) or Conflict(f"Job {job_id} changed state meanwhile; try again.",
                                                 extra={"id": job_id})
    return current


def process_pending(settings: Settings, jobs: Jobs, actor: Actor) -> list[Job]:
    """Every job PENDING at the start of the call, oldest first. The list is fixed up front
    (--max-id) so a steady stream of new uploads cannot keep the request open forever; those
    are left to the scheduler. A job another worker claimed meanwhile is reported as it is."""
    ids = jobs.pending_ids()
    audit.record(jobs.db, actor, audit.QUEUE_PROCESS, "queue", None, f"{len(ids)} PENDING jobs")
    if not ids:
        return []
    check_worker_run(run_worker(settings, "--all", "--max-id", str(max(ids))))
    found = [jobs.get(job_id) for job_id in ids]
    return [job for job in found if job is not None]


async def process_file(request: Request) -> Response:
    refuse_cross_site(request)
    user = await caller(request, admin=True)
    query = request.query_params
    job_id = parse_int("id", query.get("id"))
    force = bool(parse_bool("force", query.get("force"), default=False))
    start = now_iso()
    job = await run_in_threadpool(process_one, request.app.state.settings, request.app.state.jobs, job_id, force,
                                  actor_of(request, user))
    body: dict[str, Any] = {"result": outcome(job), "Start": start, "End": now_iso(), "id": job.id,
                            "status": job.status.value}
    return JSONResponse(body)


async def process_all(request: Request) -> Response:
    refuse_cross_site(request)
    user = await caller(request, admin=True)
    start = now_iso()
    jobs = await run_in_threadpool(process_pending, request.app.state.settings, request.app.state.jobs,
                                   actor_of(request, user))
    results = [{"id": j.id, "status": j.status.value, "result": outcome(j)} for j in jobs]
    return JSONResponse({"result": results, "Start": start, "End": now_iso()})
