"""The job list's bulk actions: the selected rows, or "all N matching this filter", with one
confirmation that says how many. Which actions exist, and what each does to a job, is the
table app/core/jobs/listing.py BULK_ACTIONS; this module only reads the form and answers.

Without JavaScript the first POST answers a confirmation page (the count, and a button that
sends the same form again with confirmed=1); the page's script asks the same question in a
dialog and sends confirmed=1 at once.
"""

from __future__ import annotations

import re

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from app.core.accounts.users import User
from app.core.jobs.bulk import BULK_ACTIONS, run_bulk
from app.core.jobs.listing import MAX_BULK, JobList
from app.core.settings import Settings
from app.web.auth import actor_of
from app.web.panel.common import MAX_ID, field, flash, page, render, safe_next, see_other
from app.web.panel.jobs import Filters

# The filter fields a "select all matching" form carries (the ones Filters reads).
FILTER_FIELDS = ("status", "q", "archived", "owner", "model", "from", "to")


def _back(form: FormData | None) -> str:
    target = safe_next(field(form, "next"), "/jobs")
    return target if target.startswith("/jobs") else "/jobs"


def _selected_ids(form: FormData) -> list[int]:
    ids = []
    for value in form.getlist("ids"):
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,19}", value.strip()) and int(value) <= MAX_ID:
            ids.append(int(value))
    return list(dict.fromkeys(ids))


def question(action_label: str, count: int, danger: bool) -> str:
    files = f"{count:,} file{'s' if count != 1 else ''}"
    text = f"{action_label} {files}?"
    return text + " Their results are removed too; this cannot be undone." if danger else text


@page
def bulk(request: Request, user: User, form: FormData | None) -> Response:
    assert form is not None
    settings: Settings = request.app.state.settings
    back = _back(form)
    action = BULK_ACTIONS.get(field(form, "action", 32))
    if action is None:
        flash(request, f"Unknown bulk action; choose one of: {', '.join(a.label for a in BULK_ACTIONS.values())}.",
              "error")
        return see_other(back)
    every = field(form, "scope", 8) == "all"
    if every:
        filters = Filters({name: field(form, name, 200) for name in FILTER_FIELDS}, user)
        ids = JobList(request.app.state.db).ids(filters.where(user, settings.zone), MAX_BULK)
    else:
        ids = _selected_ids(form)
    if not ids:
        flash(request, "No files were selected: tick the files first, or “all matching this filter”.", "error")
        return see_other(back)
    if field(form, "confirmed", 4) != "1":
        fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str) and k not in ("csrf_token", "confirmed")]
        return render(request, "bulk_confirm.html", {
            "question": question(action.label, len(ids), action.danger), "action": action, "count": len(ids),
            "fields": fields, "back": back, "capped": every and len(ids) >= MAX_BULK, "max_bulk": MAX_BULK,
        })
    result = run_bulk(settings, request.app.state.jobs, action, ids, user.id, user.is_admin,
                      actor_of(request, user))
    flash(request, result.message(), "success" if result.done else "error")
    return see_other(back)
