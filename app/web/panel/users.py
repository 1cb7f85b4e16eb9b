"""Panel, administrators only: the user list (create, invite, change role, disable/enable,
reset a password, unlock after failed sign-ins, delete with a confirmation that counts the
user's jobs and files); and, for the invited colleague, the page of their invitation link."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.accounts.admin import INVITATION_HOURS, Accounts
from app.core.accounts.users import User, UserError, check_new_password
from app.core.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from app.web import auth
from app.web.auth import actor_of
from app.web.csrf import CSRF_FIELD, check_csrf
from app.web.panel.common import (
    field,
    flash,
    page,
    path_id,
    read_form,
    render,
    revoked_tokens_text,
    see_other,
    users_of,
)


def accounts_of(request: Request) -> Accounts:
    return Accounts(request.app.state.db, request.app.state.settings, users_of(request))


def base_url(request: Request) -> str:
    """The address users reach this server at, as the browser sent it (behind a proxy, the
    proxy's Host header), for links and curl lines to copy."""
    return str(request.base_url).rstrip("/")


# -- administrators: users -------------------------------------------------------------------------
@page(admin=True)
def admin_users(request: Request, user: User, form: FormData | None) -> Response:
    users = users_of(request)
    if form is None:
        return render(request, "admin_users.html", _admin_context(request))
    username, password = field(form, "username", 64), str(form.get("password") or "")
    email, is_admin = field(form, "email", 255), form.get("is_admin") == "on"
    try:
        created = users.create(username, password, is_admin=is_admin, email=email or None,
                               actor=actor_of(request, user))
    except UserError as exc:
        # The form comes back with everything typed except the password.
        return render(request, "admin_users.html",
                      {**_admin_context(request), "error": str(exc), "username": username, "email": email,
                       "is_admin": is_admin}, status=400)
    # The administrator knows this password: its owner replaces it at the first sign-in.
    accounts_of(request).require_password_change(created.id)
    flash(request, f"User {created.username} created. They choose their own password at their first sign-in.",
          "success")
    return see_other("/admin/users")


def _admin_context(request: Request) -> dict[str, object]:
    users = users_of(request)
    return {"users": users.list(), "failures": users.recent_failures(),
            "window_minutes": users.throttle.policy.window // 60,
            "invitations": accounts_of(request).pending(), "invitation_hours": INVITATION_HOURS}


def _target_user(request: Request) -> User:
    target = users_of(request).by_id(path_id(request, "user_id"))
    if target is None:
        raise NotFound("No such user.")
    return target


@page(admin=True)
def admin_set_active(request: Request, user: User, form: FormData | None) -> Response:
    target = _target_user(request)
    active = request.url.path.endswith("/enable")
    try:
        accounts_of(request).set_active(target.id, active, user, actor_of(request, user))
    except Conflict as exc:
        flash(request, exc.message, "error")
        return see_other("/admin/users")
    flash(request, f"User {target.username} {'enabled' if active else 'disabled and signed out'}.", "success")
    return see_other("/admin/users")


@page(admin=True)
def admin_set_role(request: Request, user: User, form: FormData | None) -> Response:
    target = _target_user(request)
    make_admin = field(form, "role", 8) == "admin"
    try:
        changed = accounts_of(request).set_role(target.id, make_admin, user, actor_of(request, user))
    except Conflict as exc:
        flash(request, exc.message, "error")
        return see_other("/admin/users")
    if changed.id == user.id:  # the role change ended this session too: start a fresh one
        auth.login(request, changed)
    flash(request, f"{changed.username} is now {'an administrator' if changed.is_admin else 'a regular user'}.",
          "success")
    return see_other("/admin/users" if changed.is_admin or changed.id != user.id else "/jobs")


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
    # After setting it (setting a password clears the flag): a password the administrator
    # knows is replaced at the next sign-in.
    if target.id != user.id:
        accounts_of(request).require_password_change(target.id)
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


@page(admin=True)
def admin_delete(request: Request, user: User, form: FormData | None) -> Response:
    """GET: the confirmation, counting the user's jobs and files. POST: delete, with the jobs
    (keep=delete) or handing them to another user (keep=USER_ID)."""
    target = _target_user(request)
    accounts = accounts_of(request)
    if form is None:
        others = [u for u in users_of(request).list() if u.id != target.id]
        return render(request, "admin_user_delete.html",
                      {"target": target, "held": accounts.holdings(target.id), "others": others})
    keep = field(form, "keep", 20)
    heir = int(keep) if keep.isascii() and keep.isdigit() and len(keep) < 19 else None
    if heir is None and keep != "delete":
        flash(request, "Choose whether the jobs are deleted or kept under another user.", "error")
        return see_other(f"/admin/users/{target.id}/delete")
    try:
        jobs, files = accounts.delete(target.id, user, reassign_to=heir, actor=actor_of(request, user))
    except (Conflict, InvalidRequest, NotFound) as exc:
        flash(request, exc.message, "error")
        return see_other("/admin/users")
    if heir is not None:
        kept_by = users_of(request).by_id(heir)
        flash(request, f"User {target.username} deleted; their {jobs} job{'s' if jobs != 1 else ''} now belong to "
                       f"{kept_by.username if kept_by else 'the chosen user'}.", "success")
    else:
        flash(request, f"User {target.username} deleted with {jobs} job{'s' if jobs != 1 else ''} and "
                       f"{files} file{'s' if files != 1 else ''}.", "success")
    return see_other("/admin/users")


# -- invitations --------------------------------------------------------------------------------------
@page(admin=True)
def admin_invite(request: Request, user: User, form: FormData | None) -> Response:
    username, email = field(form, "username", 64), field(form, "email", 255)
    is_admin = form is not None and form.get("is_admin") == "on"
    try:
        token = accounts_of(request).invite(username, is_admin, email or None, user, actor_of(request, user))
    except UserError as exc:
        return render(request, "admin_users.html",
                      {**_admin_context(request), "invite_error": str(exc), "invite_username": username,
                       "invite_email": email, "invite_admin": is_admin}, status=400)
    # Shown once, on this answer only (only its hash is stored): no redirect, no flash.
    return render(request, "admin_users.html", {**_admin_context(request), "invite_link": f"{base_url(request)}/invite/{token}",
                                                "invited": username}, headers={"Cache-Control": "no-store"})


@page(admin=True)
def admin_invitation_revoke(request: Request, user: User, form: FormData | None) -> Response:
    if not accounts_of(request).revoke_invitation(path_id(request, "invitation_id"), actor_of(request, user)):
        raise NotFound("No such open invitation: it was used or withdrawn already.")
    flash(request, "Invitation withdrawn: its link no longer works.", "success")
    return see_other("/admin/users")


async def invitation(request: Request) -> Response:
    if request.method == "POST":
        form = await read_form(request)
        return await run_in_threadpool(invitation_submit, request, form)
    return await run_in_threadpool(invitation_page, request)


def invitation_page(request: Request) -> Response:
    """The invited colleague's page (no sign-in): choose a password, then they are signed in."""
    token = request.path_params["token"]
    accounts = accounts_of(request)
    invitation = accounts.invitation(token)
    if invitation is None:
        return render(request, "invite.html", {"invalid": True}, status=404)
    problem = accounts.issuer_problem(invitation)
    if problem is not None:
        return render(request, "invite.html", {"invalid": True, "reason": problem}, status=403)
    return render(request, "invite.html", {"invitation": invitation, "token": token})


def invitation_submit(request: Request, form: FormData) -> Response:
    check_csrf(request, field(form, CSRF_FIELD))
    token = request.path_params["token"]
    accounts = accounts_of(request)
    invitation = accounts.invitation(token)
    if invitation is None:
        return render(request, "invite.html", {"invalid": True}, status=404)
    password, repeat = str(form.get("password") or "")[:1024], str(form.get("repeat_password") or "")[:1024]
    try:
        if password != repeat:
            raise UserError("The two passwords differ.")
        created = accounts.accept(token, password, auth.client_address(request))
    except UserError as exc:
        return render(request, "invite.html", {"invitation": invitation, "token": token, "error": str(exc)},
                      status=400)
    except NotFound:
        return render(request, "invite.html", {"invalid": True}, status=404)
    except PermissionDenied as exc:  # its issuer is no longer an active administrator
        return render(request, "invite.html", {"invalid": True, "reason": exc.message}, status=403)
    auth.login(request, created)  # a fresh session, whoever was signed in in this browser
    flash(request, f"Welcome, {created.username}: your account is ready.", "success")
    return see_other("/jobs")


