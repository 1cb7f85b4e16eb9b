"""Headless Chromium against a real server on both engines: the audit log page for an
administrator (filters, layouts at 1280x800, 1366x768 and 390 px wide without sideways
scrolling) and the job rows' expiry notes under RESULT_RETENTION_DAYS."""

from __future__ import annotations

import pytest

from app.core.accounts.users import Users
from app.core.db import open_database
from app.core.jobs import retention
from app.core.jobs.queue import Jobs
from tests.browser.test_browser import browser, new_page, server, sign_in  # noqa: F401 (fixtures)
from tests.core.test_retention import finished_days_ago
from tests.web.test_security import processed

SIZES = [(1280, 800), (1366, 768), (390, 844)]
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth + 1"


@pytest.mark.parametrize("engine", ["sqlite", "mysql"])
def test_audit_page_and_expiry_notes_in_a_real_browser(browser, server, engine, make_csv) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    base, settings = server(engine, EMBEDDED_WORKER="false", RESULT_RETENTION_DAYS="30")
    db = open_database(settings)
    jobs = Jobs(db)
    alice = Users(db).by_name("alice")
    old = processed(settings, db, jobs, make_csv, alice, name="last year.csv")
    recent = processed(settings, db, jobs, make_csv, alice, name="this week.csv")
    finished_days_ago(db, old, 40)
    assert retention.sweep(settings, db).expired == [old.id]
    db.close()

    context, page = new_page(browser, base)
    try:
        sign_in(page, base)
        old_row, recent_row = page.locator(f"#job-{old.id}"), page.locator(f"#job-{recent.id}")
        assert "Files deleted" in old_row.locator("[data-field=expiry]").inner_text()
        assert old_row.get_by_role("link", name="Download .xlsx").count() == 0
        assert recent_row.locator("[data-field=expiry]").inner_text().startswith("Expires ")
        with page.expect_download() as download:
            recent_row.get_by_role("link", name="Download .xlsx").click()
        assert download.value.suggested_filename == "this week-result.xlsx"
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            assert old_row.locator("[data-field=expiry]").is_visible(), width
            assert recent_row.locator("[data-field=expiry]").is_visible(), width
        # (The job table itself is 7 px wider than a 1280 px window with or without these notes,
        # on main too; the phone layout is the one that must not scroll sideways.)
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        page.context.clear_cookies()
        page.set_viewport_size({"width": 1280, "height": 800})

        sign_in(page, base, "admin", "admin-password-1")
        page.get_by_role("link", name="Audit log").click()
        page.wait_for_url(base + "/admin/audit")
        rows = page.locator("table.audit tbody tr")
        assert rows.count() >= 4  # alice's and admin's sign-ins, her download, the sweep's expiry
        page.get_by_label("User").fill("alice")
        page.get_by_label("Action").select_option("result.download")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**/admin/audit?*")
        assert rows.count() == 1
        cells = rows.first.locator("td").all_inner_texts()
        assert cells[1:5] == ["alice", "result.download", f"job {recent.id}", "127.0.0.1"]
        assert cells[5] == "xlsx of this week.csv"
        unlabeled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select')]
            .filter(el => !(el.labels && el.labels.length)).map(el => el.id || el.name)""")
        assert unlabeled == []
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            assert page.evaluate(NO_SIDEWAYS_SCROLL), width
            assert rows.first.is_visible()
    finally:
        context.close()
