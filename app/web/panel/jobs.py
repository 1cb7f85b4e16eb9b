"""The job panel: the list with filters and pages, the upload, live updates, downloads and the
actions on one job (retry, cancel, archive, unarchive, delete)."""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from app.core.accounts.users import User
from app.core.db import Database
from app.core.errors import (
    Conflict,
    FileRejected,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    StorageQuotaExceeded,
    TooLarge,
    Unavailable,
    UnknownModel,
)
from app.core.jobs.bulk import BULK_ACTIONS
from app.core.jobs.files import existing_file, human_size, remove_job_files
from app.core.jobs.inputs import UploadInput, UploadInputs
from app.core.jobs.listing import DEFAULT_SORT, DIRECTIONS, MAX_BULK, SORTS, JobFilter, JobList, Sort
from app.core.jobs.quality import QualityReports
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Job, Status
from app.core.jobs.result_csv import DIALECTS
from app.core.jobs.results import expired_message, job_file
from app.core.jobs.submissions import MODEL_FIELD, Upload, accept_upload
from app.core.jobs.view import class_counts, result_preview
from app.core.registry.models import ModelRecord, Registry
from app.core.settings import Settings
from app.web.auth import actor_of, session_user
from app.web.csrf import CSRF_FIELD, CSRF_HEADER, check_csrf
from app.web.errors import status_of
from app.web.panel.common import MAX_ID, field, flash, login_redirect, page, render, safe_next, see_other
from app.web.quality_report import report_context
from app.web.result_download import csv_result
from app.web.uploads import receive_upload

PAGE_SIZE = 25
MAX_SEARCH = 100
POLL_SECONDS = 2
SHOWN_PROBLEMS = 20
# The range of `since` times worth asking the database about (both engines store these).
MIN_SINCE = datetime(2000, 1, 1, tzinfo=UTC)
MAX_SINCE = datetime(9000, 1, 1, tzinfo=UTC)


# -- what the list shows -------------------------------------------------------------------------
def _day(raw: str | None) -> date | None:
    if not raw or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


class Filters:
    """The panel's query string (?status=&q=&archived=1&owner=&model=&from=&to=&sort=&dir=&page=),
    parsed leniently: a value that makes no sense is ignored rather than answered with an
    error page. ``owner`` is an administrator's filter; other users always see their own."""

    def __init__(self, params: Any, user: User | None = None) -> None:
        raw_status = (params.get("status") or "").strip()
        self.status = Status(raw_status) if raw_status in {s.value for s in Status} else None
        self.search = (params.get("q") or "").strip()[:MAX_SEARCH]
        self.archived = params.get("archived") in ("1", "true", "on")
        # ASCII digits only: str.isdigit() accepts '²' and '٣', which int() then refuses or
        # reads; and never below 1 (page 0 made a negative OFFSET, a MariaDB error).
        page = params.get("page") or "1"
        self.page = max(1, int(page)) if re.fullmatch(r"[0-9]{1,6}", page) else 1
        owner = params.get("owner") or ""
        self.owner = int(owner) if user is not None and user.is_admin and re.fullmatch(r"[0-9]{1,18}", owner) else None
        self.model = (params.get("model") or "").strip()[:64]
        self.day_from, self.day_to = _day(params.get("from")), _day(params.get("to"))
        sort, direction = params.get("sort") or DEFAULT_SORT, params.get("dir") or "desc"
        self.sort = Sort(sort, direction) if sort in SORTS and direction in DIRECTIONS else Sort()

    def values(self) -> dict[str, Any]:
        return {"status": self.status.value if self.status else "", "q": self.search,
                "archived": "1" if self.archived else "", "owner": self.owner or "", "model": self.model,
                "from": self.day_from.isoformat() if self.day_from else "",
                "to": self.day_to.isoformat() if self.day_to else "",
                "sort": "" if self.sort.is_default else self.sort.key,
                "dir": "" if self.sort.is_default else self.sort.direction, "page": self.page}

    def query(self, **changes: Any) -> str:
        values = self.values()
        values.update(changes)
        if values["page"] == 1:
            values["page"] = ""
        if values["sort"] == DEFAULT_SORT and values["dir"] == "desc":
            values["sort"] = values["dir"] = ""
        kept = {k: v for k, v in values.items() if v not in ("", None)}
        return "?" + urlencode(kept) if kept else ""

    def sort_query(self, key: str) -> str:
        """The link of a column header: this column, the other direction when it is the sort."""
        if self.sort.key == key:
            direction = "asc" if self.sort.direction == "desc" else "desc"
        else:
            direction = "asc" if key in ("file", "owner", "status", "model") else "desc"
        return self.query(sort=key, dir=direction, page=1)

    def aria_sort(self, key: str) -> str:
        if self.sort.key != key:
            return "none"
        return "ascending" if self.sort.direction == "asc" else "descending"

    @property
    def narrowed(self) -> bool:
        """Anything beyond the archived switch chosen (the empty list says "No files match")."""
        return bool(self.status or self.search or self.owner or self.model or self.day_from or self.day_to)

    def where(self, user: User, zone: ZoneInfo) -> JobFilter:
        return JobFilter(owner_id=self.owner if user.is_admin else user.id, status=self.status,
                         archived=self.archived, search=self.search or None, model=self.model or None,
                         day_from=self.day_from, day_to=self.day_to, zone=zone)


def _owner_scope(user: User) -> int | None:
    return None if user.is_admin else user.id


def _upload_models(settings: Settings, db: Database) -> list[ModelRecord]:
    """The active models an upload may name: the form's selector, and the columns its help
    lists for the model selected (each option carries its model's columns for the script)."""
    return Registry(db, settings).offered()


def panel_context(request: Request, user: User, filters: Filters) -> dict[str, Any]:
    jobs: Jobs = request.app.state.jobs
    settings: Settings = request.app.state.settings
    listing = JobList(jobs.db)
    owner = _owner_scope(user)
    now = jobs.db_now()
    where = filters.where(user, settings.zone)
    total = listing.count(where)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    filters.page = min(filters.page, pages)
    rows = jobs.with_positions(listing.page(where, filters.sort, PAGE_SIZE, (filters.page - 1) * PAGE_SIZE))
    models = _upload_models(settings, jobs.db)
    return {
        "jobs": rows,
        "quality": QualityReports(jobs.db).summaries(rows),  # the rows' data-quality badges
        "total": total,
        "pages": pages,
        "filters": filters,
        "counts": jobs.status_counts(owner),
        "show_owner": user.is_admin,
        "owners": request.app.state.users.list() if user.is_admin else [],
        "job_models": listing.models(owner),
        "bulk_actions": list(BULK_ACTIONS.values()),
        "max_bulk": MAX_BULK,
        "now": now,
        "elapsed": elapsed_seconds,
        "since": now.isoformat(),
        "newest_id": jobs.newest_id(owner),
        # New jobs are inserted live only where they belong: page 1 of the newest-first order.
        "live_insert": filters.page == 1 and filters.sort.is_default,
        "models": models,
        "default_model": settings.default_model,
        "model_field": MODEL_FIELD,
        "chosen_model": settings.default_model,
        "upload_limit": settings.upload_limit,
        "upload_limit_text": human_size(settings.upload_limit),
        "poll_ms": POLL_SECONDS * 1000,
        "statuses": list(Status),
        "retention_days": settings.result_retention_days,
    }


def render_panel(request: Request, user: User, status: int = 200, **extra: Any) -> Response:
    filters = Filters(request.query_params, user)
    return render(request, "jobs.html", {**panel_context(request, user, filters), **extra}, status=status)


@page
def jobs_page(request: Request, user: User, form: FormData | None) -> Response:
    return render_panel(request, user)


# -- upload --------------------------------------------------------------------------------------
@page
def upload_form(request: Request, user: User, form: FormData | None) -> Response:
    """GET /jobs/upload (a bookmarked or reloaded form address): the form is on the panel."""
    return see_other("/jobs")


async def upload(request: Request) -> Response:
    """Stream the file to disk (413 over the limit), check the CSRF token that came with it,
    then validate; a rejected file re-renders the panel with its problems."""
    settings: Settings = request.app.state.settings
    user = await run_in_threadpool(session_user, request)
    if user is None:
        return login_redirect(request)
    # The CSRF token is checked before the file's first byte is written: from the X-CSRF-Token
    # header if a script sent one, else from the form field, which the page places before
    # the file (a body without it is refused at the start of the file part).
    if request.headers.get(CSRF_HEADER):
        check_csrf(request, None)

    def csrf_before_file(fields: dict[str, str]) -> None:
        check_csrf(request, fields.get(CSRF_FIELD))

    # The page's script uploads with XHR (progress, cancel, several files) and asks for JSON;
    # without a script the form posts and gets the page back.
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        received: Upload = await receive_upload(request, settings, before_file=csrf_before_file)
    except (TooLarge, InvalidRequest) as exc:
        if wants_json:
            return JSONResponse({"ok": False, "error": exc.message, "errors": []}, status_code=status_of(exc)[0])
        return await run_in_threadpool(render_panel, request, user, status_of(exc)[0], upload_error=exc.message)
    # A re-rendered form keeps the model that was chosen (the selector shows the default
    # when that one is no longer active).
    chosen = received.fields.get(MODEL_FIELD, "").strip() or settings.default_model
    try:
        submission = await run_in_threadpool(accept_upload, settings, request.app.state.jobs, user.id, received,
                                              actor_of(request, user))
    except (UnknownModel, Unavailable, FileRejected, QuotaExceeded, StorageQuotaExceeded) as exc:
        message = exc.message
        fits = exc.extra.get("fits_models") or []
        if len(fits) == 1:  # the file was meant for another model: have it chosen for the retry
            chosen = fits[0]
            message += " It is selected now: choose the file again and upload."
        if isinstance(exc, Unavailable) and user.is_admin and exc.detail:
            message = f"{exc.message} ({exc.detail})"
        if wants_json:
            return JSONResponse({"ok": False, "file_name": received.filename, "error": message,
                                 "fits_models": fits,
                                 "errors": exc.extra.get("errors", [])[:SHOWN_PROBLEMS],
                                 "total_errors": exc.extra.get("total_errors", 0)}, status_code=status_of(exc)[0])
        problems = exc.extra.get("errors", [])[:SHOWN_PROBLEMS] if isinstance(exc, FileRejected) else None
        extra: dict[str, Any] = {}
        if problems is not None:
            extra = {"upload_problems": problems, "upload_total": exc.extra.get("total_errors", len(problems))}
        return await run_in_threadpool(render_panel, request, user, status_of(exc)[0], upload_error=message,
                                       upload_name=received.filename, chosen_model=chosen, **extra)
    job = submission.job
    rows = f"{job.rows_total:,} rows" if job.rows_total is not None else "rows unknown"
    model = f" for model {job.model_name} version {job.model_version}" if job.model_name else ""
    where = upload_where(submission.input)
    # No state in the message: it stays on the page while the job runs and ends (the list shows that).
    accepted = f"“{job.file_name}” accepted ({rows}{where}){model}."
    flash(request, accepted, "success")  # (after the script's uploads: when the page reloads)
    unscored = submission.warning_text()
    if unscored:
        flash(request, unscored, "warning")
    if submission.duplicate_of is not None:
        flash(request, f"The same file (identical content) was uploaded before as job #{submission.duplicate_of}; "
                       "it was accepted again anyway.", "warning")
    if wants_json:
        return JSONResponse({"ok": True, "job_id": job.id, "file_name": job.file_name, "message": accepted,
                             "duplicate_of": submission.duplicate_of, "input": submission.input.as_dict(),
                             **submission.warnings_json(), "warning": unscored},
                            status_code=201)
    return see_other(f"/jobs#job-{job.id}")


@page
def duplicate_check(request: Request, user: User, form: FormData | None) -> Response:
    """GET /jobs/duplicate?sha256=...: the user's newest job with that content (the page asks
    before uploading, so the user can skip a file sent before)."""
    digest = (request.query_params.get("sha256") or "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise InvalidRequest("sha256 must be 64 hexadecimal digits.")
    found = UploadInputs(request.app.state.jobs.db).duplicate_of(user.id, digest)
    job = request.app.state.jobs.get(found) if found is not None else None
    return JSONResponse({"job_id": job.id if job else None, "file_name": job.file_name if job else None,
                         "status": job.status.value if job else None})


def upload_where(info: UploadInput) -> str:
    """Where the table was found, for the flash: the sheet of a workbook, a skipped title."""
    if info.sheet is not None:
        return f", sheet “{info.sheet}”, header on row {info.header_row}"
    if info.header_row and info.header_row > 1:
        return f", header on line {info.header_row}"
    return ""


# -- live updates ----------------------------------------------------------------------------------
def _display(request: Request, job: Job, now: datetime) -> dict[str, str]:
    """The texts the page shows for a job, formatted by the same filters as the templates."""
    filters = request.app.state.templates.env.filters
    local, duration = filters["localtime"], filters["duration"]
    total = f"{job.rows_total:,}" if job.rows_total is not None else "?"
    return {
        "uploaded": local(job.date_up),
        "started": local(job.date_init),
        "finished": local(job.date_result),
        "duration": duration(elapsed_seconds(job, now)),
        "rows": f"{job.rows_done:,} / {total}",
    }


def elapsed_seconds(job: Job, now: datetime) -> float | None:
    """The run time of a finished job, or the time so far of a running one."""
    if job.duration_seconds is not None:
        return job.duration_seconds
    if job.status is Status.IN_PROCESS and job.date_init:
        return max(0.0, (now - job.date_init).total_seconds())
    return None


def _since_param(raw: str | None) -> datetime | None:
    """The previous poll's database time (an ISO 8601 text the last answer gave), or None
    when absent or not a usable time. Lenient like the other panel parameters: a bad value
    only means "no jobs ended since" is not asked, never an error (an offset pushing year 1
    or 9999 past the calendar's edge made this a 500 once)."""
    if not raw or len(raw) > 64:
        return None
    try:
        value = datetime.fromisoformat(raw)
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        value = value.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    if not MIN_SINCE <= value <= MAX_SINCE:
        return None
    return value


@page
def updates(request: Request, user: User, form: FormData | None) -> Response:
    """JSON for the page's poll: the jobs that may have changed since the last poll (still
    waiting or running, or ended since ``since``), each with its row rendered by the same
    template as the page, which of the user's own jobs just ended (for the notice), and the
    jobs newer than ``after`` that match the page's filter (inserted live at the top when the
    page shows the newest first; the page sends its own query string along)."""
    jobs: Jobs = request.app.state.jobs
    settings: Settings = request.app.state.settings
    owner = _owner_scope(user)
    now = jobs.db_now()
    since = _since_param(request.query_params.get("since"))
    filters = Filters(request.query_params, user)
    changed: dict[int, Job] = {job.id: job for job in jobs.with_positions(jobs.active(owner))}
    ended: list[Job] = []
    if since:
        for job in jobs.finished_since(owner, since):
            changed[job.id] = job
            if job.owner_id == user.id:
                ended.append(job)
    template = request.app.state.templates.get_template("_job_row.html")
    show_owner = user.is_admin
    next_url = safe_next(request.query_params.get("next"), "/jobs")

    def row_html(job: Job) -> str:
        return template.render(request=request, job=job, show_owner=show_owner, now=now, elapsed=elapsed_seconds,
                               retention_days=settings.result_retention_days, next_url=next_url,
                               quality=quality)

    payload = []
    quality = QualityReports(jobs.db).summaries(list(changed.values()))
    for job in changed.values():
        item = job.as_dict()
        item["display"] = _display(request, job, now)
        item["row_html"] = row_html(job)
        payload.append(item)
    after = request.query_params.get("after") or ""
    new_jobs = []
    if re.fullmatch(r"[0-9]{1,18}", after) and filters.page == 1 and filters.sort.is_default:
        for job in JobList(jobs.db).newer(filters.where(user, settings.zone), int(after)):
            new_jobs.append({"id": job.id, "status": job.status.value, "row_html": row_html(job)})
    body = {
        "now": now.isoformat(),
        "jobs": payload,
        "new_jobs": new_jobs,
        "finished": [
            {"id": j.id, "file_name": j.file_name, "status": j.status.value, "error": j.error_message,
             "finished_at": j.date_result.isoformat() if j.date_result else None,
             "result_url": f"/jobs/{j.id}/result.xlsx" if j.status is Status.PROCESS_OK else None}
            for j in ended
        ],
        "newest_id": jobs.newest_id(owner),
        "counts": jobs.status_counts(owner),
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


# -- one job ---------------------------------------------------------------------------------------
def visible_job(request: Request, user: User) -> Job:
    """The job in the URL if this user may see it; anyone else's is 'not found', so ids of
    other people's files are not even confirmed to exist."""
    job_id = request.path_params["job_id"]
    job = request.app.state.jobs.get_visible(job_id, user.id, user.is_admin) if job_id <= MAX_ID else None
    if job is None:
        raise NotFound("There is no such file in your list.")
    return job


@page
def job_page(request: Request, user: User, form: FormData | None) -> Response:
    """One job: its file, model, timings, history, the first result rows and its actions."""
    jobs: Jobs = request.app.state.jobs
    settings: Settings = request.app.state.settings
    job = jobs.with_positions([visible_job(request, user)])[0]
    now = jobs.db_now()
    report = QualityReports(jobs.db).report(job)
    return render(request, "job.html", {
        **(report_context(report) if report is not None else {}),
        "job": job,
        "events": jobs.events(job.id),
        "preview": result_preview(settings, job),
        "class_counts": class_counts(settings, job),
        "show_owner": user.is_admin or job.owner_id != user.id,
        "now": now,
        "since": now.isoformat(),
        "elapsed": elapsed_seconds,
        "poll_ms": POLL_SECONDS * 1000,
        "next_url": f"/jobs/{job.id}",
    })


def download_name(user_name: str, suffix: str) -> str:
    """'Mar ventas.csv' -> 'Mar ventas-result.xlsx': the user's name without its extension,
    stripped of anything that could break a header or a path."""
    stem = re.sub(r"\.(csv|txt|tsv|xlsx|xlsm|ods|parquet|parq)$", "", user_name.strip(), flags=re.IGNORECASE)
    stem = re.sub(r'[\x00-\x1f\x7f"\\/:*?<>|;]+', "_", stem).strip(" ._") or "result"
    return f"{stem[:150]}{suffix}"


def content_disposition(filename: str) -> str:
    # An ASCII fallback for old clients plus the exact UTF-8 name (RFC 6266 / 5987).
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    ascii_name = re.sub(r'[^A-Za-z0-9 ._()\-]+', "_", ascii_name).strip() or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _file(path: Path, filename: str, media_type: str) -> Response:
    return FileResponse(path, media_type=media_type,
                        headers={"Content-Disposition": content_disposition(filename),
                                 "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


@page
def download(request: Request, user: User, form: FormData | None) -> Response:
    job = visible_job(request, user)
    settings: Settings = request.app.state.settings
    kind = request.url.path.rsplit("/", 1)[-1]
    actor = actor_of(request, user)
    if kind == "original.csv":
        # A converted workbook or Parquet file is handed back as it was uploaded.
        info = UploadInputs(request.app.state.jobs.db).get(job.id)
        path = job_file(settings, request.app.state.db, job, "original", actor)  # audited; 410 once expired
        if info is not None and info.path_original:
            path = existing_file(settings.input_dir, info.path_original) if path is not None else None
            suffix = Path(info.path_original).suffix
            media = "application/octet-stream"
        else:
            suffix, media = ".csv", "text/csv; charset=utf-8"
        if path is None:
            raise NotFound("The uploaded file is no longer stored on the server.")
        return _file(path, download_name(job.file_name, suffix), media)
    if job.status is not Status.PROCESS_OK:
        raise Conflict(f"“{job.file_name}” has no result yet: its status is {job.status.value}. "
                       "Results can be downloaded once it is PROCESS OK.")
    if kind == "result.xlsx":
        path = job_file(settings, request.app.state.db, job, "xlsx", actor)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        name = download_name(job.file_name, "-result.xlsx")
    else:
        path = job_file(settings, request.app.state.db, job, "csv", actor)
        media, name = "text/csv; charset=utf-8", download_name(job.file_name, "-result.csv")
    if path is None:
        raise NotFound("The result file is no longer stored on the server; retry the file to produce it again.")
    if kind == "result.csv":
        dialect = request.query_params.get("dialect") or "excel"
        if dialect not in DIALECTS:
            raise InvalidRequest(f"dialect must be one of {', '.join(DIALECTS)}.")
        return csv_result(request, job, path, dialect, {
            "Content-Disposition": content_disposition(name), "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store"})
    return _file(path, name, media)


def _back(form: FormData | None) -> str:
    target = safe_next(field(form, "next"), "/jobs")
    return target if target.startswith("/jobs") else "/jobs"


@page
def retry(request: Request, user: User, form: FormData | None) -> Response:
    job = visible_job(request, user)
    if job.expired:
        flash(request, expired_message(request.app.state.settings, job), "error")
    elif request.app.state.jobs.retry(job.id, actor_of(request, user)):
        flash(request, f"“{job.file_name}” was put back in the queue.", "success")
    else:
        flash(request, f"“{job.file_name}” is {job.status.value}; only files that ended in ERROR or were "
                       "cancelled can be retried.", "error")
    return see_other(_back(form))


@page
def cancel(request: Request, user: User, form: FormData | None) -> Response:
    job = visible_job(request, user)
    try:
        request.app.state.jobs.cancel(job.id, actor_of(request, user))
    except Conflict as exc:
        status = exc.extra.get("job_status") or job.status.value
        flash(request, f"“{job.file_name}” has already ended ({status}); only waiting or running files can be "
                       "cancelled.", "error")
        return see_other(_back(form))
    flash(request, f"“{job.file_name}” was cancelled; Retry puts it back in the queue.", "success")
    return see_other(_back(form))


@page
def set_archived(request: Request, user: User, form: FormData | None) -> Response:
    job = visible_job(request, user)
    archive = request.url.path.endswith("/archive")
    request.app.state.jobs.set_archived(job.id, archive, actor_of(request, user))
    if archive:
        flash(request, f"“{job.file_name}” archived; find it under “Archived”.", "success")
    else:
        flash(request, f"“{job.file_name}” is back in the main list.", "success")
    return see_other(_back(form))


@page
def delete(request: Request, user: User, form: FormData | None) -> Response:
    job = visible_job(request, user)
    settings: Settings = request.app.state.settings
    if not request.app.state.jobs.delete(job.id, actor_of(request, user)):
        # The delete query refuses a running job: its worker is writing the result right now.
        flash(request, f"“{job.file_name}” is being processed right now and cannot be deleted. "
                       "Wait until it finishes, then delete it.", "error")
        return see_other(_back(form))
    remove_job_files(settings, job)  # the row is gone first: nothing points at them now
    flash(request, f"“{job.file_name}” and its files were deleted.", "success")
    return see_other(_back(form))
