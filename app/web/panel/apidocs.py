"""Panel: the API documentation page, /docs: Swagger UI rendering /openapi.json, from the
project's own static files (app/web/static/vendor/swagger-ui/). Public like /openapi.json:
it describes the API, it shows no one's data."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.web.panel.common import render


async def docs_page(request: Request) -> Response:
    return render(request, "docs.html")
