"""Panel: a user's webhooks (create, with the secret shown once; delete) and each one's recent
deliveries with every attempt's status code and duration. Administrators also manage the
global webhooks here. The rules live in app/core/events/webhooks.py."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.accounts.users import User
from app.core.errors import InvalidRequest, PermissionDenied
from app.core.events.webhooks import EVENTS, Webhooks
from app.web.auth import actor_of
from app.web.panel.common import field, flash, page, path_id, render, see_other


def _context(hooks: Webhooks, user: User, **more: Any) -> dict[str, Any]:
    found = hooks.list_for(user)
    return {"webhooks": [(h, hooks.deliveries(h.id, 10)) for h in found], "events": EVENTS, **more}


@page
def webhooks_page(request: Request, user: User, form: FormData | None) -> Response:
    hooks = Webhooks(request.app.state.db, request.app.state.settings)
    if form is None:
        return render(request, "webhooks.html", _context(hooks, user))
    url = field(form, "url", 2000)
    events = [e for e in form.getlist("events") if isinstance(e, str)]
    is_global = form.get("global") == "on"
    try:
        if not url:
            raise InvalidRequest("Give the address that should receive the events (https://...).")
        if not events:
            raise InvalidRequest("Tick at least one event.")
        hook, secret = hooks.create(user, url, events, is_global, actor_of(request, user))
    except (InvalidRequest, PermissionDenied) as exc:
        return render(request, "webhooks.html", _context(hooks, user, error=exc.message, form_url=url,
                                                         form_events=events), status=400)
    # The secret is in this response only (never in a cookie or URL): it cannot be shown again.
    return render(request, "webhooks.html", _context(hooks, user, new_secret=secret, new_hook=hook), status=201)


@page
def webhook_delete(request: Request, user: User, form: FormData | None) -> Response:
    hooks = Webhooks(request.app.state.db, request.app.state.settings)
    hook = hooks.delete(path_id(request, "webhook_id"), user, actor_of(request, user))
    flash(request, f"Webhook to {hook.url} deleted; its pending deliveries will not be sent.", "success")
    return see_other("/webhooks")
