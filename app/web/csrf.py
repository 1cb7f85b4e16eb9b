"""CSRF protection of the panel: a random token per session, sent back by every form (field
``csrf_token``) or script (header ``X-CSRF-Token``) and compared in constant time."""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request

from app.core.errors import PermissionDenied

SESSION_CSRF = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def csrf_token(request: Request) -> str:
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    """Raise 403 unless the form field or X-CSRF-Token header carries this session's token."""
    expected = request.session.get(SESSION_CSRF) if "session" in request.scope else None
    given = submitted or request.headers.get(CSRF_HEADER) or ""
    if not expected or not hmac.compare_digest(str(expected), given):
        raise PermissionDenied("The form expired or did not come from this site (CSRF check failed). "
                               "Reload the page and try again.")
