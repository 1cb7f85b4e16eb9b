"""The JSON jobs API for programs: submit a CSV, list and poll jobs, fetch results, retry,
archive, delete. Each user sees only their own jobs, administrators see all; a job the
caller may not see answers 404 exactly like one that does not exist, so ids leak nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from app.core.accounts.users import User
from app.core.errors import Conflict, Gone, NotFound
from app.core.jobs.files import remove_job_files
from app.core.jobs.listing import JobFilter, JobList
from app.core.jobs.quality import QualityReports, QualitySummary
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Job, Status
from app.core.jobs.result_csv import DIALECTS
from app.core.jobs.results import expired_message, job_file
from app.core.jobs.submissions import accept_upload
from app.core.settings import Settings
from app.web.api.params import caller, job_id_param, parse_bool, parse_choice, parse_int, parse_status, parse_text
from app.web.auth import actor_of
from app.web.result_download import csv_result
from app.web.uploads import receive_upload

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def job_links(job: Job) -> dict[str, str | None]:
    # Paths relative to the server, so they stay right behind a proxy that rewrites the host.
    ready = job.status is Status.PROCESS_OK and bool(job.path_result) and not job.expired
    base = f"/api/jobs/{job.id}"
    return {
        "self": base,
        "result": f"{base}/result" if ready else None,
        "result_csv": f"{base}/result?format=csv" if ready and job.path_result_csv else None,
    }


def job_json(job: Job, quality: QualitySummary | None = None) -> dict[str, Any]:
    """The job, with its data-quality summary once it has one (GET /api/jobs/{id}/quality
    has the whole report)."""
    return {**job.as_dict(), "quality": quality.as_dict() if quality else None, "links": job_links(job)}


def with_position(request: Request, job: Job) -> Job:
    """A PENDING job with its place in the queue."""
    jobs: Jobs = request.app.state.jobs
    return jobs.with_positions([job])[0]


def visible_job(request: Request, user: User) -> Job:
    job_id = job_id_param(request)
    job = request.app.state.jobs.get_visible(job_id, user.id, user.is_admin)
    if job is None:
        raise NotFound(f"There is no job {job_id} (or it belongs to someone else).", extra={"id": job_id})
    return job


# -- /api/jobs: submit, list ------------------------------------------------------------------
class JobCollection(HTTPEndpoint):
    """POST submits a file (operation create_job); GET lists the caller's jobs (list_jobs)."""

    async def post(self, request: Request) -> Response:
        # Credentials first: an anonymous caller must not get to stream 200 MB onto the disk.
        user = await caller(request)
        settings: Settings = request.app.state.settings
        upload = await receive_upload(request, settings)
        submission = await run_in_threadpool(accept_upload, settings, request.app.state.jobs, user.id, upload,
                                             actor_of(request, user))
        body = job_json(await run_in_threadpool(with_position, request, submission.job))
        # What the upload was (format, sheet, CSV convention) and the caller's earlier job with the
        # same content, if any: the job is created anyway, the caller decides.
        body["input"] = submission.input.as_dict()
        body["duplicate_of"] = submission.duplicate_of
        # Cells that do not fit their column in a few rows (MAX_BAD_ROWS_PERCENT): accepted, and
        # those rows will get no prediction; empty for a clean file.
        body.update(submission.warnings_json())
        return JSONResponse(body, status_code=201, headers={"Location": body["links"]["self"]})

    async def get(self, request: Request) -> Response:
        user = await caller(request)
        query = request.query_params
        limit = parse_int("limit", query.get("limit"), default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        offset = parse_int("offset", query.get("offset"), default=0)
        # The panel's list and filters (app/core/jobs/listing.py): the search ignores case and accents.
        where = JobFilter(owner_id=None if user.is_admin else user.id, status=parse_status(query.get("status")),
                          archived=parse_bool("archived", query.get("archived"), default=False),
                          search=parse_text("search", query.get("search"), "a part of a file name"),
                          model=parse_text("model", query.get("model"), "a model name"))

        def read() -> tuple[list[Job], int, dict[int, QualitySummary]]:
            listing = JobList(request.app.state.db)
            found = request.app.state.jobs.with_positions(listing.page(where, limit=limit, offset=offset))
            quality = QualityReports(request.app.state.db).summaries(found)
            return found, listing.count(where), quality

        found, total, quality = await run_in_threadpool(read)
        return JSONResponse({"jobs": [job_json(j, quality.get(j.id)) for j in found], "total": total, "limit": limit,
                             "offset": offset})


# -- /api/jobs/{id}: poll, delete ------------------------------------------------------------
class JobItem(HTTPEndpoint):
    """GET polls one job (get_job); DELETE deletes it with its files (delete_job)."""

    async def get(self, request: Request) -> Response:
        user = await caller(request)

        def read() -> tuple[Job, QualitySummary | None]:
            job = with_position(request, visible_job(request, user))
            return job, QualityReports(request.app.state.db).summary(job)

        job, quality = await run_in_threadpool(read)
        return JSONResponse(job_json(job, quality))

    async def delete(self, request: Request) -> Response:
        user = await caller(request)
        settings: Settings = request.app.state.settings

        def run() -> Job:
            job = visible_job(request, user)
            jobs: Jobs = request.app.state.jobs
            running = Conflict(f"Job {job.id} is being processed; cancel it (POST /api/jobs/{job.id}/cancel) "
                               "or wait until it has finished, then delete it.",
                               extra={"id": job.id, "job_status": Status.IN_PROCESS.value})
            if job.status is Status.IN_PROCESS:
                raise running
            if not jobs.delete(job.id, actor_of(request, user)):  # the guarded DELETE lost a race with a claim, or another delete
                if jobs.get(job.id) is None:
                    raise NotFound(f"There is no job {job.id}.", extra={"id": job.id})
                raise running
            remove_job_files(settings, job)  # the row is gone first: nothing points at them now
            return job

        job = await run_in_threadpool(run)
        return JSONResponse({"id": job.id, "deleted": True})


# -- read -------------------------------------------------------------------------------------
async def job_events(request: Request) -> Response:
    user = await caller(request)

    def read() -> dict[str, Any]:
        job = visible_job(request, user)
        jobs: Jobs = request.app.state.jobs
        return {"id": job.id, "events": [e.as_dict() for e in jobs.events(job.id)]}

    return JSONResponse(await run_in_threadpool(read))


async def job_result(request: Request) -> Response:
    user = await caller(request)
    fmt = parse_choice("format", request.query_params.get("format"), ("xlsx", "csv"), default="xlsx")
    # dialect (CSV only): excel = the upload's delimiter, decimal mark and encoding; rfc4180 = "," "." UTF-8
    dialect = parse_choice("dialect", request.query_params.get("dialect"), DIALECTS, default="excel")
    job = await run_in_threadpool(visible_job, request, user)
    if job.status is not Status.PROCESS_OK:
        hint = {
            Status.PENDING: "it is waiting in the queue; poll /api/jobs/{id} until status is 'PROCESS OK'",
            Status.IN_PROCESS: "it is being processed; poll /api/jobs/{id} until status is 'PROCESS OK'",
            Status.ERROR: "it ended in ERROR (see 'error'); fix the file or POST /api/jobs/{id}/retry",
            Status.CANCELLED: "it was cancelled; POST /api/jobs/{id}/retry to queue it again",
        }[job.status].replace("{id}", str(job.id))
        raise Conflict(f"Job {job.id} has no result: {hint}.", extra={"id": job.id, "job_status": job.status.value})
    settings: Settings = request.app.state.settings
    path = await run_in_threadpool(job_file, settings, request.app.state.db, job, fmt or "xlsx", actor_of(request, user))
    if path is None:
        raise NotFound(f"The {fmt} result of job {job.id} is no longer on the server; re-run the job to make it again.",
                       extra={"id": job.id})
    download = f"{Path(job.file_name).stem or 'result'}-predictions.{fmt}"
    if fmt == "csv":
        disposition = FileResponse(path, filename=download).headers["content-disposition"]
        return await run_in_threadpool(csv_result, request, job, path, dialect or "excel",
                                       {"Content-Disposition": disposition})
    return FileResponse(path, media_type=XLSX_TYPE, filename=download)


# -- change -----------------------------------------------------------------------------------
async def retry_job(request: Request) -> Response:
    user = await caller(request)

    def run() -> Job:
        job = visible_job(request, user)
        jobs: Jobs = request.app.state.jobs
        if job.expired:
            raise Gone(expired_message(request.app.state.settings, job), extra={"id": job.id, "expired": True})
        if not jobs.retry(job.id, actor_of(request, user)):
            current = jobs.get(job.id) or job
            raise Conflict(f"Only a job in ERROR or CANCELLED can be retried; job {job.id} is {current.status.value}.",
                           extra={"id": job.id, "job_status": current.status.value})
        return jobs.get(job.id) or job

    return JSONResponse(job_json(await run_in_threadpool(run)))


async def cancel_job(request: Request) -> Response:
    user = await caller(request)

    def run() -> Job:
        job = visible_job(request, user)
        jobs: Jobs = request.app.state.jobs
        return jobs.cancel(job.id, actor_of(request, user))  # Conflict (409) once it has ended

    return JSONResponse(job_json(await run_in_threadpool(run)))


Endpoint = Callable[[Request], Awaitable[Response]]


def archive_endpoint(archived: bool) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        user = await caller(request)

        def run() -> Job:
            job = visible_job(request, user)
            jobs: Jobs = request.app.state.jobs
            jobs.set_archived(job.id, archived, actor_of(request, user))
            current = jobs.get(job.id)
            if current is None:  # deleted between the two statements
                raise NotFound(f"There is no job {job.id}.", extra={"id": job.id})
            return current

        return JSONResponse(job_json(await run_in_threadpool(run)))

    endpoint.__name__ = "archive_job" if archived else "unarchive_job"
    return endpoint


archive_job, unarchive_job = archive_endpoint(True), archive_endpoint(False)
