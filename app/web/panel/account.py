"""Panel: the account page (password with its throttled current-password check, completion
e-mail)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.accounts.users import User, UserError, check_new_password
from app.core.errors import Throttled
from app.web import auth
from app.web.auth import actor_of, client_address
from app.web.panel.common import (
    field,
    flash,
    page,
    render,
    revoked_tokens_text,
    see_other,
    users_of,
)


# -- account -------------------------------------------------------------------------------------------
@page
def account(request: Request, user: User, form: FormData | None) -> Response:
    settings = request.app.state.settings
    if form is None:
        return render(request, "account.html", {"email_enabled": bool(settings.smtp_host)})
    users = users_of(request)
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
            users.set_email(user.id, email or None, notify, actor_of(request, user))
            flash(request, "E-mail settings saved.", "success")
        elif action == "password":
            current = str(form.get("current_password") or "")
            new, repeat = str(form.get("new_password") or ""), str(form.get("repeat_password") or "")
            if new != repeat:
                raise UserError("The new passwords differ.")
            check_new_password(new)  # before the current one is checked: no hash spent on a refusal
            if user.must_change_password and new == current:
                raise UserError("Choose a password of your own, not the one the administrator set.")
            try:
                checked = users.authenticate(user.username, current, client=client_address(request), via="account")
            except Throttled as exc:
                status, headers = 429, {"Retry-After": str(exc.retry_after)}
                raise UserError(exc.message) from None
            if checked is None:
                raise UserError("The current password is wrong.")
            revoke = form.get("revoke_tokens") == "on"
            # Tokens first, so the one audit entry of the change can name how many went.
            revoked = request.app.state.tokens.revoke_all(user.id) if revoke else 0
            users.set_password(user.id, new, actor_of(request, user),
                               f"changed by the user; {revoked} API tokens revoked" if revoke else "changed by the user")
            # The password change ended every session, this one included; start a fresh one here.
            refreshed = users.by_id(user.id)
            assert refreshed is not None
            auth.login(request, refreshed)
            flash(request, "Password changed. Other sessions of your account have been signed out."
                  + (f" {revoked_tokens_text(revoked)}" if revoke else ""), "success")
        else:
            raise UserError("Unknown action.")
    except UserError as exc:
        return render(request, "account.html", {"email_enabled": bool(settings.smtp_host), "error": str(exc)},
                      status=status, headers=headers)
    return see_other("/account")
