"""Serving the app with uvicorn, with limits against slow or numerous clients.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and can refuse work past
``limit_concurrency``, but it waits for ever on a new connection whose request headers never
finish (a slowloris client): 1,000 such connections stayed open. ``HeaderTimeoutH11`` closes a
connection whose request head has not fully arrived within HEADER_TIMEOUT_SECONDS of the
connection opening or of the previous response. In production put a reverse proxy (nginx,
Caddy) in front as well: docs/workers.md, "Behind a reverse proxy".

``limit_concurrency`` (MAX_CONNECTIONS) counts every client's connections together, so one
address holding 220 idle connections made the server answer 503 to everyone. The protocol also
counts open connections per client address and closes a connection past
MAX_CONNECTIONS_PER_CLIENT at once, with a 503, before it counts towards MAX_CONNECTIONS: the
greedy client is refused, the others are served. A trusted proxy's address (TRUSTED_PROXIES)
carries many clients and is not capped.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.core.settings import Settings
from app.web.app import create_app

KEEP_ALIVE_SECONDS = 5  # an idle connection between requests is closed after this


TOO_MANY_FROM_YOU = (b"Too many connections from your address at once (MAX_CONNECTIONS_PER_CLIENT); "
                     b"close some, then try again.\n")
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
           b"retry-after: 5\r\nconnection: close\r\ncontent-length: " + str(len(TOO_MANY_FROM_YOU)).encode()
           + b"\r\n\r\n" + TOO_MANY_FROM_YOU)


def _is_trusted(host: str, trusted: tuple[str, ...]) -> bool:
    """Is ``host`` one of the TRUSTED_PROXIES entries (addresses, networks or "*")?"""
    for entry in trusted:
        if entry in ("*", host):
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:  # a host name or a malformed entry: only an exact match counts
            continue
    return False


class HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for each request's head and a cap on the
    connections one client address holds at once (0: no cap)."""

    header_timeout: float = 10.0
    per_client_limit: int = 0
    trusted_proxies: tuple[str, ...] = ()
    # Open connections per client address, shared by the server's connections (one event loop
    # thread, so no lock); protocol_for gives each server its own dict.
    open_per_client: ClassVar[dict[str, int]] = {}

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_deadline: asyncio.TimerHandle | None = None
        self._counted_as: str | None = None
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else None
        if host is not None and self.per_client_limit and not _is_trusted(host, self.trusted_proxies):
            if self.open_per_client.get(host, 0) >= self.per_client_limit:
                # Never handed to uvicorn: it does not count towards MAX_CONNECTIONS.
                self._refused = True
                transport.write(REFUSAL)
                transport.close()
                return
            self.open_per_client[host] = self.open_per_client.get(host, 0) + 1
            self._counted_as = host
        self._refused = False
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
        if self._counted_as is not None:
            left = self.open_per_client.get(self._counted_as, 0) - 1
            if left > 0:
                self.open_per_client[self._counted_as] = left
            else:
                self.open_per_client.pop(self._counted_as, None)
            self._counted_as = None
        if self._refused:
            return
        self._cancel_head_deadline()
        super().connection_lost(exc)


def protocol_for(settings: Settings) -> type[HeaderTimeoutH11]:
    trusted = tuple(p.strip() for p in settings.trusted_proxies.split(",") if p.strip())
    return type("BeyondH11", (HeaderTimeoutH11,), {
        "header_timeout": float(settings.header_timeout_seconds),
        "per_client_limit": settings.max_connections_per_client,
        "trusted_proxies": trusted,
        "open_per_client": {},
    })


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
