"""The data-quality API: a job's whole quality report, and a model's recent reports (its
status, each feature's PSI and the prediction distribution per job) to watch it over time."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.core.accounts.users import User
from app.core.errors import Conflict, InvalidRequest, NotFound
from app.core.jobs.quality import QualityReports
from app.core.registry.models import Registry, check_name
from app.web.api.jobs import visible_job
from app.web.api.params import caller


def job_quality_report(request: Request, user: User) -> dict[str, Any]:
    """The report of a job the user may see; Conflict until it has one."""
    job = visible_job(request, user)
    report = QualityReports(request.app.state.db).report(job)
    if report is None:
        why = ("it has not finished" if not job.finished else "it ended in ERROR" if job.status.value == "ERROR"
               else "it was processed before quality reports existed; re-run it to make one")
        raise Conflict(f"Job {job.id} has no quality report: {why}.",
                       extra={"id": job.id, "job_status": job.status.value})
    return report


async def job_quality(request: Request) -> Response:
    user = await caller(request)
    return JSONResponse(await run_in_threadpool(job_quality_report, request, user))


def model_quality_report(request: Request, user: User) -> dict[str, Any]:
    """A deployed model's recent jobs with their reports (a user sees their own jobs only, an
    administrator everyone's); NotFound for a model that was never deployed."""
    name = request.path_params["name"]
    registry = Registry(request.app.state.db, request.app.state.settings)
    try:
        check_name(name)
    except InvalidRequest:  # a name that cannot exist is simply not there
        raise NotFound(f"There is no model named {name!r}.", extra={"name": name}) from None
    versions = [m for m in registry.list() if m.name == name]
    if not versions:
        raise NotFound(f"There is no model named {name!r}.", extra={"name": name})
    jobs = QualityReports(request.app.state.db).for_model(name, None if user.is_admin else user.id)
    active = next((m.version for m in versions if m.active), None)
    return {"name": name, "active_version": active, "jobs": jobs}


async def model_quality(request: Request) -> Response:
    user = await caller(request)
    return JSONResponse(await run_in_threadpool(model_quality_report, request, user))
