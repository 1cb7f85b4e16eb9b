"""The webhooks API: register a URL for job events (the secret is in the answer to POST only),
list yours with their recent deliveries and attempts, delete one. Administrators may add
global webhooks, which hear every user's jobs. The rules live in app/core/events/webhooks.py."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.core.errors import InvalidRequest, TooLarge
from app.core.events.webhooks import Webhook, Webhooks
from app.web.api.params import caller, parse_int
from app.web.auth import actor_of

MAX_BODY = 16 * 1024
RECENT_DELIVERIES = 10


def store(request: Request) -> Webhooks:
    return Webhooks(request.app.state.db, request.app.state.settings)


def webhook_json(hooks: Webhooks, hook: Webhook) -> dict[str, Any]:
    return {**hook.as_dict(), "deliveries": [d.as_dict() for d in hooks.deliveries(hook.id, RECENT_DELIVERIES)]}


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, at most MAX_BODY bytes; 400/413 naming the problem."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge(f"The request body is larger than {MAX_BODY} bytes.", extra={"limit_bytes": MAX_BODY})
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"The body must be a JSON object: {exc}.") from exc
    if not isinstance(body, dict):
        raise InvalidRequest('The body must be a JSON object such as {"url": "https://...", "events": ["job.succeeded"]}.')
    return body


class WebhookCollection(HTTPEndpoint):
    """GET lists the caller's webhooks (list_webhooks); POST registers one (create_webhook)."""

    async def get(self, request: Request) -> Response:
        user = await caller(request)

        def read() -> list[dict[str, Any]]:
            hooks = store(request)
            return [webhook_json(hooks, h) for h in hooks.list_for(user)]

        return JSONResponse({"webhooks": await run_in_threadpool(read)})

    async def post(self, request: Request) -> Response:
        user = await caller(request)
        body = await json_body(request)
        url = body.get("url")
        if not isinstance(url, str) or not url.strip():
            raise InvalidRequest("url is required: the https:// address to deliver events to.", extra={"parameter": "url"})
        is_global = body.get("global", False)
        if not isinstance(is_global, bool):
            raise InvalidRequest("global must be true or false.", extra={"parameter": "global"})
        hook, secret = await run_in_threadpool(store(request).create, user, url, body.get("events"), is_global,
                                               actor_of(request, user))
        answer = {**hook.as_dict(), "deliveries": [], "secret": secret}
        return JSONResponse(answer, status_code=201, headers={"Location": f"/api/webhooks/{hook.id}"})


async def delete_webhook(request: Request) -> Response:
    user = await caller(request)
    webhook_id = parse_int("webhook_id", request.path_params.get("webhook_id"))
    hook = await run_in_threadpool(store(request).delete, webhook_id, user, actor_of(request, user))
    return JSONResponse({"id": hook.id, "deleted": True})
