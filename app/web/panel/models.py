"""The Models page: every signed-in user sees the active models with their columns and
downloads a template CSV for each; administrators also see every version and activate one
(promote or roll back)."""

from __future__ import annotations

import logging

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.errors import NotFound
from app.core.logfmt import log_event
from app.core.model_template import template_csv, template_filename
from app.core.models import NAME_PATTERN, ModelRecord, Registry
from app.core.users import User
from app.web.auth import actor_of
from app.web.panel.common import flash, page, render, see_other

SHORT_SHA = 12
log = logging.getLogger("beyond.web")


def registry_of(request: Request) -> Registry:
    return Registry(request.app.state.db, request.app.state.settings)


def _path_name(request: Request, key: str) -> str:
    """A model name or version from the URL; one that cannot be a name is 'not found' before
    it reaches a query."""
    value = request.path_params[key]
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise NotFound("There is no such model.")
    return value


@page
def models_page(request: Request, user: User, form: FormData | None) -> Response:
    registry = registry_of(request)
    active = registry.offered()
    versions: dict[str, list[ModelRecord]] = {}
    if user.is_admin:
        for record in registry.list():  # by name, newest deployment first
            versions.setdefault(record.name, []).append(record)
    return render(request, "models.html", {
        "models": active,
        "versions": versions,
        "inactive": sorted(set(versions) - {m.name for m in active}),
        "default_model": request.app.state.settings.default_model,
        "short_sha": SHORT_SHA,
    })


@page
def template(request: Request, user: User, form: FormData | None) -> Response:
    name = _path_name(request, "name")
    registry = registry_of(request)
    record = next((m for m in registry.offered() if m.name == name), None)
    if record is None:
        raise NotFound(f"There is no active model named “{name}”.")
    return Response(template_csv(record), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{template_filename(record)}"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
    })


@page(admin=True)
def activate(request: Request, user: User, form: FormData | None) -> Response:
    name, version = _path_name(request, "name"), _path_name(request, "version")
    registry = registry_of(request)
    before = registry.active(name)
    record = registry.activate(name, version, actor_of(request, user))  # NotFound for an unknown name or version
    log_event(log, "panel.model_activated", model=name, version=version, by=user.username,
              previous=before.version if before else None)
    if before is not None and before.version == record.version:
        flash(request, f"Model {name} version {version} was already active; nothing changed.", "info")
    else:
        was = f" (was {before.version})" if before is not None else ""
        flash(request, f"Model {name} version {version} is now active{was}: new uploads use it. "
                       "Files accepted before keep the version they were accepted with.", "success")
    return see_other(f"/models#model-{name}")
