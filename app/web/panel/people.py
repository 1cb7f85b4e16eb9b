"""Panel pages about people: sign in and out, the account page (password, completion
e-mail), API tokens, and the administrators' user list."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.core.errors import Throttled
from app.core.users import User, UserError, Users, check_new_password
from app.web import auth
from app.web.auth import client_address, session_user
from app.web.csrf import CSRF_FIELD, check_csrf
from app.web.errors import NotFound
from app.web.panel.common import MAX_ID, field, flash, page, read_form, render, safe_next, see_other

BAD_LOGIN = "Unknown user name or wrong password."


def _users(request: Request) -> Users:
    return request.app.state.users


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
    users = _users(request)
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


# -- account -------------------------------------------------------------------------------------------
@page
def account(request: Request, user: User, form: FormData | None) -> Response:
    settings = request.app.state.settings
    if form is None:
        return render(request, "account.html", {"email_enabled": bool(settings.smtp_host)})
    users = _users(request)
    action = field(form, "action")
    headers: dict[str, str] = {}
    status = 400
    try:
        if action == "email":
            email = field(form, "email", 255)
            notify = form.get("notify_email") == "on"
            if email and ("@" not in email or any(c.isspace() for c in email)):
                raise UserError("That does not look like an e-mail address.")
            if notify and not email:
                raise UserError("Enter an e-mail address to receive completion e-mails.")
            users.set_email(user.id, email or None, notify)
            flash(request, "E-mail settings saved.", "success")
        elif action == "password":
            current = str(form.get("current_password") or "")
            new, repeat = str(form.get("new_password") or ""), str(form.get("repeat_password") or "")
            if new != repeat:
                raise UserError("The new passwords differ.")
            check_new_password(new)  # before the current one is checked: no hash spent on a refusal
            try:
                checked = users.authenticate(user.username, current, client=client_address(request), via="account")
            except Throttled as exc:
                status, headers = 429, {"Retry-After": str(exc.retry_after)}
                raise UserError(exc.message) from None
            if checked is None:
                raise UserError("The current password is wrong.")
            users.set_password(user.id, new)
            revoke = form.get("revoke_tokens") == "on"
            revoked = request.app.state.tokens.revoke_all(user.id) if revoke else 0
            # The password change ended every session, this one included; start a fresh one here.
            refreshed = users.by_id(user.id)
            assert refreshed is not None
            auth.login(request, refreshed)
            flash(request, "Password changed. Other sessions of your account have been signed out."
                  + (f" {_tokens_revoked(revoked)}" if revoke else ""), "success")
        else:
            raise UserError("Unknown action.")
    except UserError as exc:
        return render(request, "account.html", {"email_enabled": bool(settings.smtp_host), "error": str(exc)},
                      status=status, headers=headers)
    return see_other("/account")


def _tokens_revoked(count: int) -> str:
    if count == 0:
        return "There were no API tokens to revoke."
    return f"{count} API token{'s' if count != 1 else ''} revoked: programs using {'them' if count != 1 else 'it'} are refused."


# -- API tokens --------------------------------------------------------------------------------------
@page
def tokens_page(request: Request, user: User, form: FormData | None) -> Response:
    store = request.app.state.tokens
    new_token = None
    if form is not None:
        name = field(form, "name", 100)
        if not name:
            return render(request, "tokens.html", {"tokens": store.list_for(user.id),
                                                   "error": "Give the token a name, e.g. the program that will use it."},
                          status=400)
        new_token, _ = store.create(user.id, name)
    # The new token is rendered in this response only (never in a cookie or URL): it cannot
    # be shown again.
    return render(request, "tokens.html", {"tokens": store.list_for(user.id), "new_token": new_token},
                  status=201 if new_token else 200)


@page
def token_revoke(request: Request, user: User, form: FormData | None) -> Response:
    token_id = _int_param(request, "token_id")
    if not request.app.state.tokens.revoke(token_id, user.id):
        raise NotFound("No such active token of yours.")
    flash(request, "Token revoked: programs using it are refused from now on.", "success")
    return see_other("/tokens")


# -- administrators: users -------------------------------------------------------------------------
@page(admin=True)
def admin_users(request: Request, user: User, form: FormData | None) -> Response:
    users = _users(request)
    if form is None:
        return render(request, "admin_users.html", _admin_context(users))
    username, password = field(form, "username", 64), str(form.get("password") or "")
    try:
        created = users.create(username, password, is_admin=form.get("is_admin") == "on",
                               email=field(form, "email", 255) or None)
    except UserError as exc:
        return render(request, "admin_users.html",
                      {**_admin_context(users), "error": str(exc), "username": username}, status=400)
    flash(request, f"User {created.username} created.", "success")
    return see_other("/admin/users")


def _admin_context(users: Users) -> dict[str, object]:
    return {"users": users.list(), "failures": users.recent_failures(),
            "window_minutes": users.throttle.policy.window // 60}


def _target_user(request: Request) -> User:
    target = _users(request).by_id(_int_param(request, "user_id"))
    if target is None:
        raise NotFound("No such user.")
    return target


@page(admin=True)
def admin_set_active(request: Request, user: User, form: FormData | None) -> Response:
    target = _target_user(request)
    active = request.url.path.endswith("/enable")
    if target.id == user.id and not active:
        flash(request, "You cannot disable your own account.", "error")
        return see_other("/admin/users")
    _users(request).set_active(target.id, active)
    flash(request, f"User {target.username} {'enabled' if active else 'disabled and signed out'}.", "success")
    return see_other("/admin/users")


@page(admin=True)
def admin_reset_password(request: Request, user: User, form: FormData | None) -> Response:
    target = _target_user(request)
    users = _users(request)
    try:
        users.set_password(target.id, str(form.get("password") or "") if form else "")
    except UserError as exc:
        flash(request, f"{target.username}: {exc}", "error")
        return see_other("/admin/users")
    revoke = form is not None and form.get("revoke_tokens") == "on"
    revoked = request.app.state.tokens.revoke_all(target.id) if revoke else 0
    if target.id == user.id:
        refreshed = users.by_id(user.id)
        assert refreshed is not None
        auth.login(request, refreshed)
    flash(request, f"New password set for {target.username}; their sessions have been signed out and failed "
                   "sign-ins forgotten." + (f" {_tokens_revoked(revoked)}" if revoke else ""), "success")
    return see_other("/admin/users")


@page(admin=True)
def admin_unlock(request: Request, user: User, form: FormData | None) -> Response:
    target = _target_user(request)
    forgotten = _users(request).unlock(target.id)
    flash(request, f"{target.username} unlocked: {forgotten} failed sign-in{'s' if forgotten != 1 else ''} "
                   "forgotten.", "success")
    return see_other("/admin/users")


def _int_param(request: Request, name: str) -> int:
    value = request.path_params[name]
    if not isinstance(value, int) or value > MAX_ID:
        raise NotFound("There is nothing at this address.")
    return value


routes: list[BaseRoute] = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/account", account, methods=["GET", "POST"]),
    Route("/tokens", tokens_page, methods=["GET", "POST"]),
    Route("/tokens/{token_id:int}/revoke", token_revoke, methods=["POST"]),
    Route("/admin/users", admin_users, methods=["GET", "POST"]),
    Route("/admin/users/{user_id:int}/disable", admin_set_active, methods=["POST"]),
    Route("/admin/users/{user_id:int}/enable", admin_set_active, methods=["POST"]),
    Route("/admin/users/{user_id:int}/password", admin_reset_password, methods=["POST"]),
    Route("/admin/users/{user_id:int}/unlock", admin_unlock, methods=["POST"]),
]
