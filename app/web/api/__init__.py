"""The API for other software: the article's /process_file and /process_all (process.py),
the JSON jobs API (jobs.py) and /openapi.json (openapi.py). The health answer at / lives in
app/web/app.py. Walk-through with curl: docs/api.md."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.web.api import jobs as api_jobs
from app.web.api import process as api_process
from app.web.api.openapi import openapi_document


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(request.app.state.settings))


routes: list[BaseRoute] = [
    *api_process.routes,
    *api_jobs.routes,
    Route("/openapi.json", openapi, methods=["GET"]),
]
