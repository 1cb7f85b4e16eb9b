"""GET /api/audit: the audit log for administrators (403 for everyone else), newest first,
filtered by actor, action, object and time (docs/api.md, /openapi.json)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.core.errors import InvalidRequest
from app.core.events.audit import ACTIONS, AuditFilter, AuditLog
from app.web.api.params import caller, parse_choice, parse_int

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_TEXT = 128


def parse_when(name: str, raw: str | None, zone: tzinfo = UTC, end: bool = False) -> datetime | None:
    """An ISO 8601 date (2026-12-01) or date and time (2026-12-01T09:30, with or without an
    offset; without one it is in ``zone``). A date as an end (``until``) means the end of that
    day, so since=D&until=D is the whole day D. Malformed: a 400 naming the parameter."""
    if raw is None:
        return None
    text = raw.strip()
    if not text or len(text) > 40:
        raise InvalidRequest(f"The parameter '{name}' must be a date (2026-12-01) or a date and time "
                             "(2026-12-01T09:30:00Z).", extra={"parameter": name})
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            value = datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=zone)
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if value.tzinfo is None:
                value = value.replace(tzinfo=zone)
        if not 2000 <= value.year <= 8999:
            raise ValueError("out of range")
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidRequest(f"The parameter '{name}' must be a date (2026-12-01) or a date and time "
                             f"(2026-12-01T09:30:00Z), not {raw[:40]!r}.", extra={"parameter": name}) from None


def text_param(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    if not raw.strip() or len(raw) > MAX_TEXT:
        raise InvalidRequest(f"The parameter '{name}' must be 1-{MAX_TEXT} characters.", extra={"parameter": name})
    return raw.strip()


async def list_audit(request: Request) -> Response:
    await caller(request, admin=True)
    query = request.query_params
    limit = parse_int("limit", query.get("limit"), default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    offset = parse_int("offset", query.get("offset"), default=0)
    where = AuditFilter(
        actor=text_param("actor", query.get("actor")),
        action=parse_choice("action", query.get("action"), ACTIONS),
        object_type=text_param("object_type", query.get("object_type")),
        object_id=text_param("object_id", query.get("object_id")),
        since=parse_when("since", query.get("since")),
        until=parse_when("until", query.get("until"), end=True),
    )
    log = AuditLog(request.app.state.db)

    def read() -> tuple[list[dict[str, object]], int]:
        return [e.as_dict() for e in log.list(where, limit, offset)], log.count(where)

    entries, total = await run_in_threadpool(read)
    return JSONResponse({"entries": entries, "total": total, "limit": limit, "offset": offset})
