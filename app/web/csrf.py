"""CSRF protection of the panel: a random token per session, sent back by every form (field
``csrf_token``) or script (header ``X-CSRF-Token``) and compared in constant time; and, for
the article's GET endpoints that change state, a refusal of what a browser says came from
another site (``refuse_cross_site``)."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

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


def refuse_cross_site(request: Request) -> None:
    """403 when a browser says the request comes from another site: ``Sec-Fetch-Site:
    cross-site``, or an ``Origin`` whose host is not the one the request was sent to. For
    /process_file and /process_all, which run jobs on a GET as the article has them: a page
    elsewhere must not make a signed-in browser (or its saved Basic credentials) run them.
    Programs (curl, scripts) send neither header and are not affected."""
    site = request.headers.get("sec-fetch-site", "").lower()
    origin = request.headers.get("origin")
    # The host only, not the scheme: behind a TLS proxy the browser's origin is https while
    # this server sees http, and the proxy passes the Host on (docs/workers.md).
    foreign = origin is not None and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()
    if site == "cross-site" or foreign:
        raise PermissionDenied("Refused: this request came from another site. Call this endpoint from a program "
                               "(curl, a script) or from this server's own pages, not from another web page.")
