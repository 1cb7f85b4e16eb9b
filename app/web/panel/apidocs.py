"""Panel: the API documentation page, /docs: Swagger UI rendering /openapi.json, from the
project's own static files (app/web/static/vendor/swagger-ui/), under the panel's top bar.
Public like /openapi.json: it describes the API, it shows no one's data. For a signed-in user
the page carries the session's CSRF token, which "Try it out" sends (X-CSRF-Token) so its
calls run as that user (app/web/auth.py api_user)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from app.web.auth import session_user
from app.web.csrf import csrf_token
from app.web.panel.common import render


async def docs_page(request: Request) -> Response:
    user = await run_in_threadpool(session_user, request)
    return render(request, "docs.html", {"api_csrf": csrf_token(request) if user else ""})
