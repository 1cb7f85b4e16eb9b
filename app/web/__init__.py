"""The HTTP layer: create_app(settings) builds the Starlette app that serves the panel and the
API over the core (app/core/).

- app              create_app: routes, middleware, the lifespan, the health answer
- panel/           the web panel, one module per area (every URL in its __init__)
- api/             the API for programs (every URL in its __init__)
- errors           core errors to HTTP statuses, in one place: JSON for the API, a page otherwise
- auth             who is asking: the session cookie, a token or HTTP Basic
- csrf             the panel's CSRF tokens
- security         the headers every answer carries
- uploads          a multipart upload streamed to disk, capped as it arrives
- result_download  the CSV result download both panel and API serve
- quality_report   what the quality report template needs
- charts           small SVG charts drawn on the server
- server           uvicorn with limits against slow or numerous clients
- supervisor       the worker processes the web server starts (by path: it imports no worker code)
"""

from app.web.app import create_app

__all__ = ["create_app"]
