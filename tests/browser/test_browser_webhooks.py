"""The Webhooks page in real headless Chromium against a real `python -m app serve` with its
embedded workers: a user adds a webhook (the secret is shown once), a job of theirs ends, the
embedded worker delivers to a receiver on 127.0.0.1 that fails the first attempt, and the page
shows both attempts. The layout is checked at 1280x800, 1366x768 and 390 px wide."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from app.core.accounts.users import Users
from app.core.db import open_database
from app.core.jobs.queue import Jobs
from app.core.jobs.submissions import submit_path
from tests.browser.test_browser import browser, new_page, server, shoot, sign_in  # noqa: F401 (fixtures)
from tests.conftest import breast_cancer_frame
from tests.support.receiver import start_receiver

pytestmark = pytest.mark.browser

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"


def test_add_a_webhook_and_watch_its_deliveries(browser, server, tmp_path) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    receiver = start_receiver([500, 200])
    base, settings = server("sqlite", EMBEDDED_WORKER="true", SCHEDULER_INTERVAL="1", WEBHOOK_ALLOW_PRIVATE="true",
                            WEBHOOK_BACKOFF_SECONDS="1", MAX_CONCURRENT_JOBS="1")
    context, page = new_page(browser, base, 1280, 800)
    sign_in(page, base)
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_label("Address (URL)").fill(receiver.url)
    assert page.get_by_label("job.succeeded").is_checked() and page.get_by_label("job.failed").is_checked()
    page.get_by_role("button", name="Add webhook").click()
    secret = page.get_by_label("Webhook secret").input_value()
    assert secret.startswith("whsec_")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)

    db = open_database(settings)
    alice = Users(db).by_name("alice")
    path = tmp_path / "cases.csv"
    breast_cancer_frame(40).to_csv(path, index=False)
    job = submit_path(settings, Jobs(db), alice.id, path)
    db.close()
    got = receiver.wait_for(2, timeout=60)
    assert len(got) == 2
    assert Verifier(secret).verify(got[1].body, got[1].headers)["data"]["job"]["id"] == job.id

    deadline = time.monotonic() + 20
    while True:
        page.goto(base + "/webhooks")
        if "delivered" in page.locator("table").inner_text() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    table = page.locator("table").inner_text()
    assert "delivered" in table and "500" in table and "200" in table and " ms" in table
    assert secret not in page.content()  # shown once
    for width, height in ((1280, 800), (1366, 768), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate(NO_SIDEWAYS_SCROLL), width
        shoot(page, f"webhooks-{width}.png", "sqlite")
    context.close()
