"""A few HTTP errors with a status, and one handler: JSON for API clients, a page otherwise."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.db import DatabaseUnavailable
from app.logfmt import log_event

log = logging.getLogger("beyond.web")


class HTTPError(Exception):
    status = 500
    title = "Error"

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}


class BadRequest(HTTPError):
    status, title = 400, "Bad request"


class Unauthorized(HTTPError):
    status, title = 401, "Sign in required"


class Forbidden(HTTPError):
    status, title = 403, "Forbidden"


class NotFound(HTTPError):
    status, title = 404, "Not found"


class Conflict(HTTPError):
    status, title = 409, "Conflict"


class PayloadTooLarge(HTTPError):
    status, title = 413, "File too large"


class Unprocessable(HTTPError):
    status, title = 422, "Invalid file"


class ServiceUnavailable(HTTPError):
    status, title = 503, "Service unavailable"


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path in ("/process_file", "/process_all", "/openapi.json"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def render_error(request: Request, status: int, title: str, message: str, extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message, "status": status, **(extra or {})}, status_code=status, headers=headers)
    templates = request.app.state.templates
    response = templates.TemplateResponse(
        request, "error.html", {"status": status, "title": title, "message": message, "extra": extra or {}},
        status_code=status, headers=headers,
    )
    return response


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    return render_error(request, exc.status, exc.title, exc.message, exc.extra, exc.headers)


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
    HTTPError: handle_http_error,
    HTTPException: handle_starlette_http,
    DatabaseUnavailable: handle_db_down,
    Exception: handle_unexpected,
}
