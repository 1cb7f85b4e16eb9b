"""Panel, administrators only: the audit log (/admin/audit), newest first, with filters by user,
action and date range (dates in TIME_ZONE), and pages."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.accounts.users import User
from app.core.errors import InvalidRequest
from app.core.events.audit import ACTIONS, AuditFilter, AuditLog
from app.web.api.audit import parse_when
from app.web.panel.common import page, render

PAGE_SIZE = 50


@page(admin=True)
def audit_page(request: Request, user: User, form: FormData | None) -> Response:
    settings = request.app.state.settings
    query = request.query_params
    values = {"user": (query.get("user") or "").strip()[:64], "action": query.get("action") or "",
              "from": (query.get("from") or "").strip(), "to": (query.get("to") or "").strip()}
    action = values["action"] if values["action"] in ACTIONS else None
    if not action:
        values["action"] = ""
    error = None
    since = until = None
    try:
        since = parse_when("from", values["from"] or None, settings.zone)
        until = parse_when("to", values["to"] or None, settings.zone, end=True)
    except InvalidRequest as exc:
        error = exc.message.replace("The parameter 'from'", "“From”").replace("The parameter 'to'", "“To”")
    where = AuditFilter(actor=values["user"] or None, action=action, since=since, until=until)
    log = AuditLog(request.app.state.db)
    total = log.count(where)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    raw_page = query.get("page") or "1"
    number = min(pages, max(1, int(raw_page))) if re.fullmatch(r"[0-9]{1,6}", raw_page) else 1

    def page_url(n: int) -> str:
        kept: dict[str, Any] = {k: v for k, v in values.items() if v}
        if n > 1:
            kept["page"] = n
        return "/admin/audit" + ("?" + urlencode(kept) if kept else "")

    return render(request, "admin_audit.html", {
        "entries": log.list(where, PAGE_SIZE, (number - 1) * PAGE_SIZE),
        "total": total, "page": number, "pages": pages, "page_url": page_url,
        "values": values, "actions": ACTIONS, "error": error,
    }, status=400 if error else 200)
