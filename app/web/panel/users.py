"""Panel, administrators only: the user list (create, disable/enable, reset a password, unlock
after failed sign-ins)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.errors import NotFound
from app.core.users import User, UserError, Users, check_new_password
from app.web import auth
from app.web.auth import actor_of
from app.web.panel.common import (
    field,
    flash,
    page,
    path_id,
    render,
    revoked_tokens_text,
    see_other,
    users_of,
)


# -- administrators: users -------------------------------------------------------------------------
@page(admin=True)
def admin_users(request: Request, user: User, form: FormData | None) -> Response:
    users = users_of(request)
    if form is None:
        return render(request, "admin_users.html", _admin_context(users))
    username, password = field(form, "username", 64), str(form.get("password") or "")
    try:
        created = users.create(username, password, is_admin=form.get("is_admin") == "on",
                               email=field(form, "email", 255) or None, actor=actor_of(request, user))
    except UserError as exc:
        return render(request, "admin_users.html",
                      {**_admin_context(users), "error": str(exc), "username": username}, status=400)
    flash(request, f"User {created.username} created.", "success")
    return see_other("/admin/users")


def _admin_context(users: Users) -> dict[str, object]:
    return {"users": users.list(), "failures": users.recent_failures(),
            "window_minutes": users.throttle.policy.window // 60}


def _target_user(request: Request) -> User:
    target = users_of(request).by_id(path_id(request, "user_id"))
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
    users_of(request).set_active(target.id, active, actor_of(request, user))
    flash(request, f"User {target.username} {'enabled' if active else 'disabled and signed out'}.", "success")
    return see_other("/admin/users")


@page(admin=True)
def admin_reset_password(request: Request, user: User, form: FormData | None) -> Response:
    target = _target_user(request)
    users = users_of(request)
    password = str(form.get("password") or "") if form else ""
    try:
        check_new_password(password)
    except UserError as exc:
        flash(request, f"{target.username}: {exc}", "error")
        return see_other("/admin/users")
    revoke = form is not None and form.get("revoke_tokens") == "on"
    # Tokens first, so the one audit entry of the reset can name how many went.
    revoked = request.app.state.tokens.revoke_all(target.id) if revoke else 0
    users.set_password(target.id, password, actor_of(request, user),
                       f"set by an administrator; {revoked} API tokens revoked" if revoke
                       else "set by an administrator")
    if target.id == user.id:
        refreshed = users.by_id(user.id)
        assert refreshed is not None
        auth.login(request, refreshed)
    flash(request, f"New password set for {target.username}; their sessions have been signed out and failed "
                   "sign-ins forgotten." + (f" {revoked_tokens_text(revoked)}" if revoke else ""), "success")
    return see_other("/admin/users")


@page(admin=True)
def admin_unlock(request: Request, user: User, form: FormData | None) -> Response:
    target = _target_user(request)
    forgotten = users_of(request).unlock(target.id, actor_of(request, user))
    flash(request, f"{target.username} unlocked: {forgotten} failed sign-in{'s' if forgotten != 1 else ''} "
                   "forgotten.", "success")
    return see_other("/admin/users")
