"""Who is asking: a signed session cookie for the panel, a token or HTTP Basic for the API."""

from __future__ import annotations

import base64
import binascii
import secrets

from starlette.requests import Request

from app.core.accounts.users import User
from app.core.errors import AuthenticationRequired, PermissionDenied
from app.core.events.audit import Actor
from app.web.csrf import CSRF_HEADER, SESSION_CSRF, check_csrf

SESSION_USER = "uid"
SESSION_VERSION = "sv"


def login(request: Request, user: User) -> None:
    # A fresh session (and CSRF token) at login: nothing carried over from before.
    request.session.clear()
    request.session.update(
        {SESSION_USER: user.id, SESSION_VERSION: user.session_version, SESSION_CSRF: secrets.token_urlsafe(32)}
    )


def logout(request: Request) -> None:
    user = session_user(request)
    if user is not None:
        # Bumping the version makes every cookie issued before now (a copied one included) invalid.
        request.app.state.users.end_sessions(user.id, actor_of(request, user))
    request.session.clear()


def client_address(request: Request) -> str:
    """The address sign-in attempts are counted by (the peer of the connection: the server runs
    uvicorn without proxy headers, so a forged X-Forwarded-For changes nothing)."""
    return request.client.host if request.client else ""


def actor_of(request: Request, user: User) -> Actor:
    """Who acts, for the audit log: the user and the address the request comes from."""
    return Actor.of(user, client_address(request))


def session_user(request: Request) -> User | None:
    """The logged-in user, or None. A cookie whose session version is old (logged out, password
    reset, account disabled) is refused and cleared."""
    if "session" not in request.scope:
        return None
    cached = request.scope.get("beyond.user")
    if cached is not None:
        return cached
    uid = request.session.get(SESSION_USER)
    if not isinstance(uid, int):
        return None
    user = request.app.state.users.by_id(uid)
    if user is None or not user.is_active or user.session_version != request.session.get(SESSION_VERSION):
        request.session.clear()
        return None
    request.scope["beyond.user"] = user
    return user


def api_user(request: Request) -> User:
    """The user behind `Authorization: Bearer <token>` or HTTP Basic; or, for the /docs page's
    "Try it out", the signed-in panel user when the X-CSRF-Token header carries the session's
    token (a cookie alone is not enough: another site could make the browser send it); 401
    otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    user = None
    if not header and request.headers.get(CSRF_HEADER):
        user = session_user(request)
        if user is not None and user.must_change_password:
            user = None  # the panel lets them reach only /account until they choose a password
        if user is not None:
            check_csrf(request, None)  # 403 when the header is not this session's token
    if scheme.lower() == "bearer" and value.strip():
        user = request.app.state.tokens.authenticate(value.strip())
    elif scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        username, sep, password = decoded.partition(":")
        if sep:
            # Throttled (and ServerBusy) propagate: a 429 with Retry-After. The password was not
            # checked, so the answer says nothing about it, and a right one never reads as wrong.
            user = request.app.state.users.authenticate(username, password, client=client_address(request),
                                                         via="basic")
            if user is not None and user.must_change_password:
                raise PermissionDenied(
                    "An administrator set this account's password: sign in to the panel and choose your own "
                    "before using it over HTTP Basic (API tokens keep working).")
    if user is None:
        raise AuthenticationRequired(
            "Valid credentials are required: send 'Authorization: Bearer <token>' (create one with "
            "`python -m app create-token NAME` or on the Tokens page) or HTTP Basic."
        )
    request.scope["beyond.user"] = user  # as session_user does: error answers see who asked
    return user


def require_admin(user: User) -> User:
    if not user.is_admin:
        raise PermissionDenied("This needs an administrator account.")
    return user
