"""Response headers that every answer carries: a strict Content-Security-Policy for pages (no
inline script or style exists, so a string that slipped past autoescaping still could not
run), no framing, no MIME sniffing, and no caching of anything but the static files.

Applied by ``SecurityHeaders`` (an ASGI middleware, so downloads, redirects and error pages
get them as well as pages) and by the error renderer, whose 500 page is answered outside
the middleware stack.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
PAGE_HEADERS = {
    **COMMON_HEADERS,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # Pages and files belong to one user: never cache them (nor show them again from history).
    "Cache-Control": "no-store",
}
STATIC_PREFIX = "/static/"
# /docs runs Swagger UI (our own static copy), whose React views set style="" attributes: that
# page alone allows inline styles. Scripts stay 'self' only, as everywhere.
DOCS_PATH = "/docs"
DOCS_HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
}


def headers_for(path: str) -> dict[str, str]:
    if path.startswith(STATIC_PREFIX):
        return COMMON_HEADERS
    if path == DOCS_PATH:
        return DOCS_HEADERS
    return PAGE_HEADERS


class SecurityHeaders:
    """Adds ``headers_for(path)`` to every response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = headers_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
