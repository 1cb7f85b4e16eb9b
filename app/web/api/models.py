"""The models API: which models an upload may name (``POST /api/jobs`` field ``model``), in
the version active now, with the columns their CSVs need; and, for administrators, deploying
a new version from a .zip of its directory (``POST /api/models``)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.core.registry.models import ModelRecord, Registry
from app.web.api.params import caller, parse_bool
from app.web.auth import actor_of
from app.web.uploads import receive_upload

ARCHIVE_FIELD = "archive"
LISTED = ("name", "version", "sha256", "features", "classes", "deployed_at")  # what GET /api/models shows of each


def model_json(record: ModelRecord) -> dict[str, Any]:
    shown = record.as_dict()
    return {key: shown[key] for key in LISTED}


def deployed_json(record: ModelRecord) -> dict[str, Any]:
    return {**model_json(record), "active": record.active, "deployed_by": record.deployed_by,
            "runtime": record.runtime, "warnings": record.warnings, "id_column": record.id_column}


class ModelCollection(HTTPEndpoint):
    """GET lists the models an upload may name (list_models); POST deploys one (deploy_model)."""

    async def get(self, request: Request) -> Response:
        await caller(request)
        registry = Registry(request.app.state.db, request.app.state.settings)
        found = await run_in_threadpool(registry.offered)
        return JSONResponse({"models": [model_json(m) for m in found],
                             "default": request.app.state.settings.default_model})

    async def post(self, request: Request) -> Response:
        """Administrators: multipart ``archive`` (a .zip of the model directory), ``name``,
        optional ``version`` (default: the schema's), ``activate`` (true/false) and ``id_column``
        (the column that identifies a row; default: the schema's). 201 with the
        version; 409 when that version exists; 422 for an archive that is not a usable model."""
        # An administrator's credentials before a byte of the body: loading a joblib runs code.
        user = await caller(request, admin=True)
        settings = request.app.state.settings
        upload = await receive_upload(request, settings, field_name=ARCHIVE_FIELD, limit=settings.model_upload_limit)
        try:
            name = upload.fields.get("name", "").strip()
            version = upload.fields.get("version", "").strip() or None
            activate = bool(parse_bool("activate", upload.fields.get("activate"), default=False))
            id_column = upload.fields.get("id_column", "").strip() or None
            registry = Registry(request.app.state.db, settings)
            record = await run_in_threadpool(registry.deploy_archive, upload.path, name, version, activate,
                                             user.username, f"“{upload.filename}”", actor_of(request, user),
                                             id_column=id_column)
        finally:
            upload.discard()
        return JSONResponse(deployed_json(record), status_code=201)
