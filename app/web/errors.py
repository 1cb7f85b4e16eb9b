"""Errors to HTTP, in one place: the status of each core error class, and one handler that
answers JSON to API clients and an error page to browsers.

Error pages do no I/O: the signed-in user shown in the page header is the one the request
already looked up (``request.scope``), never a fresh database query, so a page about the
database being down renders without waiting on the database again.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.core.db import DatabaseUnavailable
from app.core.errors import (
    AuthenticationRequired,
    BeyondError,
    Conflict,
    FileRejected,
    Gone,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    StorageFull,
    StorageQuotaExceeded,
    Throttled,
    TooLarge,
    Unavailable,
    UnknownModel,
)
from app.core.logfmt import log_event
from app.web.security import PAGE_HEADERS

log = logging.getLogger("beyond.web")

# Bearer only: a "Basic" challenge would make a browser open its own password prompt (and keep
# what was typed for every later request to this site, /process_file's GET included). Basic
# credentials are still accepted from programs that send them unasked.
WWW_AUTHENTICATE = 'Bearer realm="beyond"'

# The one table: core error class -> (HTTP status, page title). Subclasses inherit their
# parent's row (the lookup walks the class's MRO).
STATUS: dict[type[BeyondError], tuple[int, str]] = {
    InvalidRequest: (400, "Bad request"),
    AuthenticationRequired: (401, "Sign in required"),
    PermissionDenied: (403, "Forbidden"),
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    Gone: (410, "Expired"),
    TooLarge: (413, "File too large"),
    StorageQuotaExceeded: (413, "Storage limit reached"),
    FileRejected: (422, "Invalid file"),
    UnknownModel: (422, "Unknown model"),
    Throttled: (429, "Too many attempts"),
    QuotaExceeded: (429, "Limit reached"),
    Unavailable: (503, "Service unavailable"),
    StorageFull: (507, "Server storage full"),
}


def status_of(exc: BeyondError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500, "Error"


def error_headers(exc: BeyondError) -> dict[str, str]:
    if isinstance(exc, AuthenticationRequired):
        return {"WWW-Authenticate": WWW_AUTHENTICATE}
    if isinstance(exc, (Throttled, Unavailable)):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def is_admin_request(request: Request) -> bool:
    """Whether the request is known to come from an administrator (no lookup is made here)."""
    user = request.scope.get("beyond.user")
    return bool(user is not None and user.is_admin)


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path in ("/process_file", "/process_all", "/openapi.json", "/metrics"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def render_error(request: Request, status: int, title: str, message: str, extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> Response:
    headers = {**PAGE_HEADERS, **(headers or {})}
    if wants_json(request):
        return JSONResponse({"error": message, "status": status, **(extra or {})}, status_code=status, headers=headers)
    templates = request.app.state.templates
    context = {"status": status, "title": title, "message": message, "extra": extra or {}}
    return templates.TemplateResponse(request, "error.html", context, status_code=status, headers=headers)


async def handle_beyond_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BeyondError)
    status, title = status_of(exc)
    message = exc.message
    if isinstance(exc, Unavailable) and exc.detail:
        log_event(log, "web.unavailable", logging.WARNING, path=request.url.path, detail=exc.detail)
        if is_admin_request(request):
            message = f"{message} ({exc.detail})"
    return render_error(request, status, title, message, exc.extra, error_headers(exc))


async def handle_starlette_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 400: "Bad request", 413: "Too large"}
    message = exc.detail if isinstance(exc.detail, str) else titles.get(exc.status_code, "Error")
    if exc.status_code == 404:
        message = "There is nothing at this address."
    return render_error(request, exc.status_code, titles.get(exc.status_code, "Error"), message,
                        headers=dict(exc.headers or {}))


async def handle_db_down(request: Request, exc: Exception) -> Response:
    log_event(log, "web.database_unavailable", logging.WARNING, path=request.url.path, error=exc)
    return render_error(
        request, 503, "Service unavailable",
        "The database is not reachable right now. Nothing you stored is lost; try again in a minute.",
        headers={"Retry-After": "30"},
    )


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return render_error(request, 500, "Internal error", "Something went wrong on our side; it has been logged.")


EXCEPTION_HANDLERS = {
    BeyondError: handle_beyond_error,
    HTTPException: handle_starlette_http,
    DatabaseUnavailable: handle_db_down,
    Exception: handle_unexpected,
}
