"""Serving the app with uvicorn, with limits against slow or numerous clients.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and can refuse work past
``limit_concurrency``, but it waits for ever on a new connection whose request headers never
finish (a slowloris client): 1,000 such connections stayed open. ``HeaderTimeoutH11`` closes a
connection whose request head has not fully arrived within HEADER_TIMEOUT_SECONDS of the
connection opening or of the previous response. In production put a reverse proxy (nginx,
Caddy) in front as well: docs/workers.md, "Behind a reverse proxy".
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.core.settings import Settings
from app.web.app import create_app

KEEP_ALIVE_SECONDS = 5  # an idle connection between requests is closed after this


class HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for each request's head."""

    header_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        waiting_for_head = self.cycle is None or self.cycle.response_complete
        if waiting_for_head and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a complete request head arrived: its handling has begun
            self._cancel_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_deadline()  # the next request's head has the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)


def protocol_for(settings: Settings) -> type[HeaderTimeoutH11]:
    return type("BeyondH11", (HeaderTimeoutH11,), {"header_timeout": float(settings.header_timeout_seconds)})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "http": protocol_for(settings),
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "log_level": settings.log_level.lower(),
        # The client address (per-client sign-in limits, logs) comes from the connection unless
        # it is a proxy we were told to trust.
        "proxy_headers": bool(settings.trusted_proxies.strip()),
        "forwarded_allow_ips": settings.trusted_proxies.strip() or None,
    }


def serve(settings: Settings, host: str, port: int) -> None:
    uvicorn.run(create_app(settings), host=host, port=port, **uvicorn_options(settings))
