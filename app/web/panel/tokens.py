"""Panel: a user's API tokens (create, shown once; revoke)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.accounts.users import User
from app.core.errors import NotFound
from app.web.auth import actor_of
from app.web.panel.common import (
    field,
    flash,
    page,
    path_id,
    render,
    see_other,
)

# -- API tokens --------------------------------------------------------------------------------------
# The token just created, carried from the POST to the page that shows it (post/redirect/get,
# so reloading the page neither creates a second token nor shows this one again).
SESSION_NEW_TOKEN = "new_token"


@page
def tokens_page(request: Request, user: User, form: FormData | None) -> Response:
    store = request.app.state.tokens
    if form is not None:
        name = field(form, "name", 100)
        if not name:
            return render(request, "tokens.html", {"tokens": store.list_for(user.id), **curl_context(request, None),
                                                   "error": "Give the token a name, e.g. the program that will use it."},
                          status=400)
        new_token, _ = store.create(user.id, name, actor_of(request, user))
        # In the signed session cookie for the one redirect only: the GET below takes it out,
        # so it is shown once and never again (only its hash is stored).
        request.session[SESSION_NEW_TOKEN] = new_token
        return see_other("/tokens")
    new_token = request.session.pop(SESSION_NEW_TOKEN, None)
    if not isinstance(new_token, str):
        new_token = None
    return render(request, "tokens.html", {"tokens": store.list_for(user.id), "new_token": new_token,
                                           **curl_context(request, new_token)})


def curl_context(request: Request, token: str | None) -> dict[str, str]:
    """A ready command line for an upload, with the address this browser reached us at."""
    base = str(request.base_url).rstrip("/")
    bearer = token or "$TOKEN"
    return {"base_url": base,
            "curl_line": f'curl -H "Authorization: Bearer {bearer}" -F file=@patients.csv {base}/api/jobs'}


@page
def token_revoke(request: Request, user: User, form: FormData | None) -> Response:
    token_id = path_id(request, "token_id")
    if not request.app.state.tokens.revoke(token_id, user.id, actor_of(request, user)):
        raise NotFound("No such active token of yours.")
    flash(request, "Token revoked: programs using it are refused from now on.", "success")
    return see_other("/tokens")
