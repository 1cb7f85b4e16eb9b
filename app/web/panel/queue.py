"""Administrators: the queue and its workers (/admin/queue)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.accounts.users import User
from app.core.jobs.health import WINDOW_SECONDS, queue_health
from app.core.settings import Settings
from app.web.panel.common import page, render


@page(admin=True)
def queue_page(request: Request, user: User, form: FormData | None) -> Response:
    settings: Settings = request.app.state.settings
    health = queue_health(request.app.state.jobs.db, settings.lease_seconds)
    return render(request, "admin_queue.html", {"health": health, "lease_seconds": settings.lease_seconds,
                                                "window_minutes": WINDOW_SECONDS // 60})
