"""GET /metrics for Prometheus (administrators, with a token or HTTP Basic), and the optional
listener on METRICS_BIND that serves the same without credentials (for a scraper on a private
network). What is reported, and why it all comes from the database: app/core/events/metrics.py."""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from app.core.db import Database
from app.core.events.metrics import CONTENT_TYPE, exposition, registry_for
from app.core.logfmt import log_event
from app.core.settings import Settings
from app.web.api.params import caller

log = logging.getLogger("beyond.web")


async def metrics(request: Request) -> Response:
    await caller(request, admin=True)
    registry = request.app.state.metrics_registry
    body = await run_in_threadpool(exposition, registry)
    return Response(body, media_type=CONTENT_TYPE)


class MetricsListener:
    """prometheus_client's own HTTP server on METRICS_BIND, in a thread of the web server."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db
        self.server: Any = None

    def start(self) -> None:
        from prometheus_client.exposition import start_http_server

        host, _, port = self.settings.metrics_bind.rpartition(":")
        registry = registry_for(self.db, close_after=True)
        self.server, _thread = start_http_server(int(port), addr=host.strip("[]"), registry=registry)
        log_event(log, "web.metrics_listening", bind=self.settings.metrics_bind)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
