"""A first-time user's panel in headless Chromium (issue 22): the API docs page under the
panel's top bar, whose "Try it out" works for the signed-in user and whose colours pass
axe-core's contrast rule. Uses the harness of tests/browser/test_browser.py."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.test_browser import browser, new_page, server, sign_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def axe_violations(page, rules: list[str] | None = None) -> list[dict]:  # type: ignore[no-untyped-def]
    """axe-core's violations on the page as drawn now (every rule, or only ``rules``), each
    with the first few elements it names."""
    options = {"resultTypes": ["violations"], **({"runOnly": {"type": "rule", "values": rules}} if rules else {})}
    found = Axe().run(page, options=options).response["violations"]
    return [{"id": v["id"], "count": len(v["nodes"]),
             "nodes": [(n["target"], n.get("failureSummary", "")[:160]) for n in v["nodes"][:4]]} for v in found]


def test_docs_page_has_the_panel_bar_its_try_it_out_runs_as_the_user_and_passes_contrast(browser, server, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    base, _ = server(engine, EMBEDDED_WORKER="false")
    context, page = new_page(browser, base, 1280, 800)
    try:
        sign_in(page, base)
        page.goto(base + "/docs")
        page.wait_for_selector("#operations-jobs-list_jobs")
        # The panel's own top bar: its links and the signed-in user, not a bar of its own.
        assert page.locator("header.topbar .mainnav a").all_inner_texts() == ["Files", "Models", "API tokens", "Webhooks"]
        assert page.locator("header.topbar .who").inner_text().strip() == "alice"

        # "Try it out" with no token: the call runs as the signed-in user (200, her empty list).
        page.locator("#operations-jobs-list_jobs .opblock-summary").first.click()
        page.locator("#operations-jobs-list_jobs").get_by_role("button", name="Try it out").click()
        page.locator("#operations-jobs-list_jobs").get_by_role("button", name="Execute").click()
        status = page.locator("#operations-jobs-list_jobs .live-responses-table .response .response-col_status")
        status.wait_for()
        assert status.inner_text().strip() == "200", page.locator("#operations-jobs-list_jobs .live-responses-table").inner_text()

        # Every text of the page is readable: the answer above, a POST and a DELETE opened too
        # (their examples, parameters and methods' colours).
        for operation in ("create_job", "delete_job"):
            page.locator(f"#operations-jobs-{operation} .opblock-summary").first.click()
        page.locator("#operations-jobs-delete_job").get_by_role("button", name="Try it out").click()
        assert axe_violations(page, ["color-contrast"]) == []
    finally:
        context.close()
