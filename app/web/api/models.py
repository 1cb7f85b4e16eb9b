"""The models API: which models an upload may name (``POST /api/jobs`` field ``model``), in
the version active now, with the columns their CSVs need."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.core.models import ModelRecord, Registry
from app.web.api.params import caller


def model_json(record: ModelRecord) -> dict[str, Any]:
    shown = record.as_dict()
    return {key: shown[key] for key in ("name", "version", "sha256", "features", "classes", "deployed_at")}


async def list_models(request: Request) -> Response:
    await caller(request)
    registry = Registry(request.app.state.db, request.app.state.settings)
    found = await run_in_threadpool(registry.offered)
    return JSONResponse({"models": [model_json(m) for m in found],
                         "default": request.app.state.settings.default_model})
