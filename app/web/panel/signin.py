"""Panel: signing in and out."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.accounts.users import User
from app.core.errors import Throttled
from app.web import auth
from app.web.auth import client_address, session_user
from app.web.csrf import CSRF_FIELD, check_csrf
from app.web.panel.common import (
    field,
    flash,
    page,
    read_form,
    render,
    safe_next,
    see_other,
    users_of,
)

BAD_LOGIN = "Unknown user name or wrong password."


# -- sign in / out ---------------------------------------------------------------------------------
def login_page(request: Request) -> Response:
    if session_user(request) is not None:
        return see_other(safe_next(request.query_params.get("next")))
    return render(request, "login.html", {"next": safe_next(request.query_params.get("next")), "username": ""})


async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_login_submit, request, form)


def _login_submit(request: Request, form: FormData) -> Response:
    check_csrf(request, field(form, CSRF_FIELD))
    username, password = field(form, "username", 64), str(form.get("password") or "")[:1024]
    target = safe_next(field(form, "next"))
    users = users_of(request)
    context = {"next": target, "username": username}
    try:
        user = users.authenticate(username, password, client=client_address(request), via="form")
    except Throttled as exc:
        # The same page for the right and a wrong password: a refused try reveals nothing.
        return render(request, "login.html", {**context, "error": exc.message}, status=429,
                      headers={"Retry-After": str(exc.retry_after)})
    if user is None:
        # One message for an unknown name, a wrong password and a disabled account.
        return render(request, "login.html", {**context, "error": BAD_LOGIN}, status=400)
    auth.login(request, user)
    return see_other(target)


@page
def logout(request: Request, user: User, form: FormData | None) -> Response:
    auth.logout(request)
    flash(request, "You are signed out.")
    return see_other("/login")
