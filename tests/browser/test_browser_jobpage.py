"""The job page, cancel and the queue page in real headless Chromium against a real server with
its embedded worker (the harness of tests/browser/test_browser.py). The SQLite runs save the
screenshots docs/panel.md shows (with UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import re
import time

import pytest

from app.core.accounts.users import Users
from app.core.db import open_database
from app.core.events.audit import Actor
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Status
from app.core.jobs.submissions import submit_path
from tests.browser.test_browser import browser, new_page, server, shoot, sign_in  # noqa: F401 (fixtures)
from tests.conftest import breast_cancer_frame
from tests.support.models import make_model_dir
from tests.support.procs import output_files, wait_until

pytestmark = pytest.mark.browser

LAYOUTS = [(1280, 800), (1366, 768), (390, 844)]


def no_sideways_scroll(page) -> bool:  # type: ignore[no-untyped-def]
    return bool(page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"))


def slow_model(model_dir, tmp_path, seconds: float, rows: int) -> str:  # type: ignore[no-untyped-def]
    """The default model, sleeping so that a job of `rows` rows predicts for `seconds`: a
    running job these tests watch stays IN PROCESS however fast the machine and the code."""
    return str(make_model_dir(model_dir, tmp_path / "slow-model", seconds_per_row=seconds / rows))


def test_cancel_a_running_job_from_its_page_then_retry_it(browser, server, engine, tmp_path, model_dir) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    # 60,000 rows predicted in about 8 s, in steps of at most 10,000 rows (about 1.3 s each):
    # the page sees it run and its rate, and Cancel takes effect at the next step.
    base, settings = server(engine, EMBEDDED_WORKER="true", SCHEDULER_INTERVAL="1", MAX_CONCURRENT_JOBS="1",
                            HEARTBEAT_SECONDS="1", MODEL_PATH=slow_model(model_dir, tmp_path, 8.0, 60_000))
    db = open_database(settings)
    jobs = Jobs(db)
    alice = Users(db).by_name("alice")
    assert alice is not None
    small = tmp_path / "clinic-small.csv"
    breast_cancer_frame(120, seed=2).to_csv(small, index=False)
    big = tmp_path / "clinic-big.csv"
    breast_cancer_frame(60_000, seed=4).to_csv(big, index=False)
    done = submit_path(settings, jobs, alice.id, small)
    wait_until(lambda: jobs.get(done.id).status is Status.PROCESS_OK, 60, "the small job")  # type: ignore[union-attr]
    job = submit_path(settings, jobs, alice.id, big)
    context, page = new_page(browser, base, 1280, 800)
    try:
        sign_in(page, base)
        # The list links to the page.
        page.locator(f"#job-{done.id} a.file-name").click()
        page.wait_for_url(f"{base}/jobs/{done.id}")
        assert page.locator("[data-field=status]").inner_text() == "PROCESS OK"
        assert page.locator("[data-field=input-sha256]").inner_text() == (jobs.get(done.id).input_sha256 or "")[:12]  # type: ignore[union-attr]
        assert page.locator("table.preview tbody tr").count() == 20
        assert page.locator("table.preview thead th").first.inner_text() == "prediction"
        assert [e.strip() for e in page.locator(".timeline .event-name").all_inner_texts()] == [
            "queued", "claimed", "finished ok"]
        assert page.locator("[data-field=class-counts] li").count() >= 1
        for width, height in LAYOUTS:
            page.set_viewport_size({"width": width, "height": height})
            assert no_sideways_scroll(page), (width, height)
            assert page.get_by_role("link", name="Download .xlsx").is_visible()
        page.set_viewport_size({"width": 1280, "height": 800})
        shoot(page, "job-page.png", engine)

        # The running job's page follows it (no reload needed) until Cancel.
        page.goto(f"{base}/jobs/{job.id}")
        page.wait_for_function("() => document.querySelector('[data-field=status]').textContent === 'IN PROCESS'",
                               timeout=60_000)
        rate = page.locator("[data-field=rate]")
        wait_until(lambda: re.fullmatch(r"[\d,]+", rate.inner_text().strip()), 30, "rows/s on the page")
        shoot(page, "job-running.png", engine)
        page.once("dialog", lambda dialog: dialog.accept())
        clicked = time.monotonic()
        page.get_by_role("button", name="Cancel").click()
        page.wait_for_url(f"{base}/jobs/{job.id}")
        assert "was cancelled" in page.locator(".flash-success").inner_text()
        assert page.locator("[data-field=status]").inner_text() == "CANCELLED"
        assert "Cancelled by alice." in page.locator("[data-field=error]").inner_text()
        def leftovers() -> list[str]:
            files = output_files(settings)
            return [n for n in files["xlsx"] + files["csv"] if n.startswith(f"job-{job.id}-")] + files["part"]

        wait_until(lambda: not leftovers(), 5, "the cancelled job's files to be gone")
        gone_in = time.monotonic() - clicked
        assert gone_in < 5.0
        page.reload()
        events = [e.strip() for e in page.locator(".timeline .event-name").all_inner_texts()]
        assert events[-1] == "cancelled", events
        shoot(page, "job-cancelled.png", engine)

        # Retry puts it back; the list shows the CANCELLED badge until then.
        page.get_by_role("button", name="Retry").click()
        page.wait_for_url(f"{base}/jobs/{job.id}")
        assert page.locator("[data-field=status]").inner_text() in ("PENDING", "IN PROCESS")
        assert jobs.cancel(job.id, Actor("alice")).status is Status.CANCELLED  # stop it again: keep the test short
        page.goto(f"{base}/jobs")
        assert page.locator(f"#job-{job.id} [data-field=status]").inner_text() == "CANCELLED"
        assert page.locator(f"#job-{job.id}").get_by_role("button", name="Retry").is_visible()
    finally:
        context.close()
        db.close()


def test_queue_page_for_admins(browser, server, engine, tmp_path, model_dir) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    # 60,000 rows predicted in about 20 s: the first job is surely still running (and the
    # second waiting) while the page is read; both are cancelled at the end.
    base, settings = server(engine, EMBEDDED_WORKER="true", SCHEDULER_INTERVAL="1", MAX_CONCURRENT_JOBS="1",
                            HEARTBEAT_SECONDS="1", MODEL_PATH=slow_model(model_dir, tmp_path, 20.0, 60_000))
    db = open_database(settings)
    jobs = Jobs(db)
    alice = Users(db).by_name("alice")
    assert alice is not None
    big = tmp_path / "queue-big.csv"
    breast_cancer_frame(60_000, seed=5).to_csv(big, index=False)
    running = submit_path(settings, jobs, alice.id, big)
    waiting = submit_path(settings, jobs, alice.id, big)
    context, page = new_page(browser, base, 1366, 768)
    try:
        sign_in(page, base, "admin", "admin-password-1")
        wait_until(lambda: jobs.get(running.id).status is Status.IN_PROCESS, 60, "the job to run")  # type: ignore[union-attr]
        page.get_by_role("link", name="Queue", exact=True).click()
        page.wait_for_url(f"{base}/admin/queue")
        assert page.locator("dd[data-status=PENDING]").inner_text() == "1"
        assert page.locator("dd[data-status='IN PROCESS']").inner_text() == "1"
        row = page.locator("table.workers tbody tr")
        assert row.count() == 1 and "queue-big.csv" in row.inner_text()
        assert no_sideways_scroll(page)
        shoot(page, "queue.png", engine)
        page.goto(f"{base}/jobs/{waiting.id}")
        assert page.locator("[data-field=queue]").inner_text() == "next to run"
    finally:
        for job in (running, waiting):
            try:
                jobs.cancel(job.id, Actor("admin"))
            except Exception:  # already ended: nothing to stop
                pass
        context.close()
        db.close()
