"""What every panel page shares: the logged-in-user + CSRF wrapper, rendering, one-shot flash
messages, and safe redirect targets. (Security headers are added to every response by
app/web/security.py.)"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from app.core.accounts.users import User, Users
from app.core.errors import NotFound
from app.web.auth import require_admin, session_user
from app.web.csrf import CSRF_FIELD, check_csrf

SESSION_FLASH = "flash"
MAX_FORM_FIELDS = 50
MAX_FIELD_BYTES = 64 * 1024
# Ids in panel URLs match [0-9]+ of any length; no row has an id past SQLite's signed 64-bit
# INTEGER, and binding a larger int overflows the sqlite3 driver (a 500): such ids are 404.
MAX_ID = 2**63 - 1

Handler = Callable[[Request, User, FormData | None], Response]
# What a user who must choose a new password may still reach (app/core/accounts/admin.py).
PASSWORD_CHANGE_PATHS = ("/account", "/logout")


def flash(request: Request, text: str, level: str = "info") -> None:
    """A message shown once, on the next page rendered (after a POST-redirect-GET)."""
    messages = list(request.session.get(SESSION_FLASH, []))
    messages.append([level, text])
    request.session[SESSION_FLASH] = messages[-5:]


def pop_flashes(request: Request) -> list[tuple[str, str]]:
    if "session" not in request.scope:
        return []
    return [(level, text) for level, text in request.session.pop(SESSION_FLASH, [])]


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    ctx = {"flashes": pop_flashes(request), **(context or {})}
    return request.app.state.templates.TemplateResponse(request, template, ctx, status_code=status, headers=headers)


def safe_next(target: str | None, default: str = "/jobs") -> str:
    """A redirect target only if it is a path on this site ('/jobs?page=2'), never '//evil'
    or 'https://evil', so a crafted link cannot send a user elsewhere after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    return target


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def login_redirect(request: Request) -> Response:
    if request.url.path.endswith("/updates") or "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"error": "Your session ended; sign in again.", "status": 401, "login": "/login"},
                            status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = "" if request.method != "GET" or target == "/jobs" else "?" + urlencode({"next": target})
    return see_other("/login" + query)


async def read_form(request: Request) -> FormData:
    # Panel forms are small url-encoded forms; files only arrive at /jobs/upload.
    return await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_BYTES)


def page(handler: Handler | None = None, *, admin: bool = False) -> Any:
    """Make a panel endpoint from ``handler(request, user, form)``.

    The wrapper sends anonymous visitors to /login, checks the CSRF token of every POST (403
    when missing or wrong) and, with ``admin=True``, refuses non-admins (403). The handler
    runs in the thread pool because every database call blocks.
    """
    if handler is None:
        return functools.partial(page, admin=admin)

    def run(request: Request, form: FormData | None) -> Response:
        user = session_user(request)
        if user is None:
            return login_redirect(request)
        if form is not None:
            check_csrf(request, _text(form.get(CSRF_FIELD)))
        if user.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
            # An administrator chose this password: its owner replaces it before anything else.
            if request.method == "GET" and not request.url.path.endswith("/updates"):
                flash(request, "Choose your own password first: an administrator set the one you signed in with.",
                      "info")
            return see_other("/account#password")
        if admin:
            require_admin(user)
        return handler(request, user, form)

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        form = await read_form(request) if request.method == "POST" else None
        return await run_in_threadpool(run, request, form)

    return endpoint


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def field(form: FormData | None, name: str, limit: int = 1000) -> str:
    """A text field of a submitted form, trimmed; '' when absent."""
    value = _text(form.get(name)) if form is not None else None
    return (value or "").strip()[:limit]


def users_of(request: Request) -> Users:
    return request.app.state.users


def path_id(request: Request, name: str) -> int:
    """An {name:int} path parameter that can be a row id; anything larger is 'not found'."""
    value = request.path_params[name]
    if not isinstance(value, int) or value > MAX_ID:
        raise NotFound("There is nothing at this address.")
    return value


def revoked_tokens_text(count: int) -> str:
    if count == 0:
        return "There were no API tokens to revoke."
    return f"{count} API token{'s' if count != 1 else ''} revoked: programs using {'them' if count != 1 else 'it'} are refused."

