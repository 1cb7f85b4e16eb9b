"""The Models page: every signed-in user sees the active models with their columns and
downloads a template CSV for each; administrators also see every version, activate one
(promote or roll back) and deploy a new version from a .zip of its directory."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.accounts.users import User
from app.core.errors import Conflict, FileRejected, InvalidRequest, NotFound, TooLarge
from app.core.jobs.files import human_size
from app.core.logfmt import log_event
from app.core.registry.models import NAME_PATTERN, ModelRecord, Registry
from app.core.registry.template import template_csv, template_filename
from app.web.auth import actor_of, require_admin, session_user
from app.web.csrf import CSRF_FIELD, CSRF_HEADER, check_csrf
from app.web.panel.common import flash, login_redirect, page, render, see_other
from app.web.uploads import receive_upload

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
        "all_names": sorted({m.name for m in active} | set(versions)),
        "model_upload_limit": human_size(request.app.state.settings.model_upload_limit),
        "model_unpacked_limit": human_size(request.app.state.settings.model_unpacked_limit),
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


ARCHIVE_FIELD = "archive"


async def deploy(request: Request) -> Response:
    """An administrator uploads a model directory as a .zip: streamed to disk under
    MODEL_UPLOAD_LIMIT (the CSRF token checked before its first byte), unpacked with every
    entry checked, loaded, registered. The outcome comes back as a message on the Models page."""
    settings = request.app.state.settings
    user = await run_in_threadpool(session_user, request)
    if user is None:
        return login_redirect(request)
    require_admin(user)  # before a byte of the body is read: a joblib file can run code
    if request.headers.get(CSRF_HEADER):
        check_csrf(request, None)

    def csrf_before_file(fields: dict[str, str]) -> None:
        check_csrf(request, fields.get(CSRF_FIELD))

    try:
        received = await receive_upload(request, settings, field_name=ARCHIVE_FIELD, before_file=csrf_before_file,
                                        limit=settings.model_upload_limit)
    except (TooLarge, InvalidRequest) as exc:
        flash(request, exc.message, "error")
        return see_other("/models#deploy")
    name = received.fields.get("name", "").strip()
    version = received.fields.get("version", "").strip() or None
    activate_now = received.fields.get("activate", "") in ("on", "true", "1")
    id_column = received.fields.get("id_column", "").strip() or None
    registry = registry_of(request)
    try:
        record = await run_in_threadpool(registry.deploy_archive, received.path, name, version, activate_now,
                                         user.username, f"“{received.filename}”", actor_of(request, user),
                                         id_column=id_column)
    except (InvalidRequest, FileRejected, Conflict) as exc:
        flash(request, exc.message, "error")
        return see_other("/models#deploy")
    finally:
        received.discard()
    log_event(log, "panel.model_deployed", model=record.name, version=record.version, by=user.username,
              sha256=record.sha256[:SHORT_SHA], active=record.active)
    state = ("is now active: new uploads use it" if record.active
             else "is deployed but not active: activate it below when it should take uploads")
    runs = f" It runs with {record.runtime_text}." if record.runtime_text else ""
    flash(request, f"Model {record.name} version {record.version} (SHA-256 {record.sha256[:SHORT_SHA]}) {state}.{runs}",
          "success")
    return see_other(f"/models#model-{record.name}")
