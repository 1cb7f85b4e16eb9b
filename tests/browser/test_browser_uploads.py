"""The panel's upload in headless Chromium: progress bar (percentage, speed) and Cancel, several
files at once (each reported on its own), workbooks, and the duplicate warning with its link."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.browser import test_browser as harness
from tests.browser.test_browser import bad_csv, new_page, shoot, sign_in
from tests.conftest import breast_cancer_frame

browser, server = harness.browser, harness.server  # the browser tests' fixtures

pytestmark = pytest.mark.browser
WORKBOOKS = Path(__file__).parent.parent / "data" / "workbooks"


def throttle(page, bytes_per_second: int) -> None:  # type: ignore[no-untyped-def]
    """Slow the page's uploads down (Chromium's network emulation), so progress is visible."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": bytes_per_second})


def test_progress_cancel_several_files_and_duplicates(browser, server, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base, settings = server(engine)
    context, page = new_page(browser, base, 1280, 800)
    try:
        sign_in(page, base)
        big = tmp_path / "big.csv"
        breast_cancer_frame(30_000).to_csv(big, index=False)  # about 6 MB
        throttle(page, 1024 * 1024)

        # Progress: the bar moves, the state shows a percentage and a speed; Cancel stops it.
        page.set_input_files("#file-input", str(big))
        page.get_by_role("button", name="Upload and check").click()
        item = page.locator("#upload-queue .upload-item").first
        page.wait_for_function("() => { const p = document.querySelector('#upload-queue progress');"
                               " return p && p.value > 5; }", timeout=30_000)
        state = item.locator(".upload-state").inner_text()
        assert "%" in state and "/s" in state, state
        shoot(page, "upload-progress.png", engine, full_page=False)
        item.get_by_role("button", name="Cancel").click()
        assert item.locator(".upload-state").inner_text() == "Cancelled; nothing was stored."
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(settings.input_dir.iterdir()):
            time.sleep(0.2)  # the server notices the dropped connection and removes the .part
        assert list(settings.input_dir.iterdir()) == []
        assert page.locator("tr.job").count() == 0

        # Several files at once: a workbook accepted, a broken CSV rejected with its problems.
        throttle(page, -1)
        page.set_input_files("#file-input", [str(WORKBOOKS / "patients-libreoffice.xlsx"),
                                             str(bad_csv(tmp_path / "broken.csv"))])
        assert "patients-libreoffice.xlsx" in page.locator("#chosen-file").inner_text()
        page.get_by_role("button", name="Upload and check").click()
        items = page.locator("#upload-queue .upload-item")
        page.wait_for_function("() => document.querySelectorAll('#upload-queue .upload-item.accepted, "
                               "#upload-queue .upload-item.rejected').length === 2")
        first, second = items.nth(0), items.nth(1)
        assert "accepted (40 rows, sheet “patients-libreoffice”, header on row 1)" in first.inner_text()
        assert "“broken.csv”: The file was not accepted: 3 problems found." in second.inner_text()
        cells = second.locator("tbody tr").nth(0).locator("td").all_inner_texts()
        assert cells == ["1", "worst symmetry", "Missing column 'worst symmetry'."]
        assert page.locator("#upload-status").inner_text().startswith("1 of 2 accepted.")
        shoot(page, "upload-several.png", engine, full_page=False)
        with page.expect_navigation():
            page.get_by_role("link", name="Show the new files in the list").click()
        # The link changes the hash (a navigation of the same document), then the page
        # reloads: wait for the reloaded list, not the old one.
        page.locator("tr.job").first.wait_for()
        assert page.locator("tr.job").count() == 1
        first_job = int(page.locator("tr.job").first.get_attribute("data-job-id"))

        # The same workbook again: a warning links to the first job; "Upload anyway" sends it.
        page.set_input_files("#file-input", str(WORKBOOKS / "patients-libreoffice.xlsx"))
        page.get_by_role("button", name="Upload and check").click()
        warning = page.locator(".upload-warning")
        warning.wait_for()
        assert "has the same content as job #" in warning.inner_text()
        assert warning.get_by_role("link").get_attribute("href") == f"/jobs#job-{first_job}"
        shoot(page, "upload-duplicate.png", engine, full_page=False)
        with page.expect_navigation():
            warning.get_by_role("button", name="Upload anyway").click()
        assert page.locator("tr.job").count() == 2
        assert f"uploaded before as job #{first_job}" in page.locator(".flash-warning").inner_text()
        assert page.url.endswith("#job-" + page.locator("tr.job").first.get_attribute("data-job-id"))

        # ... and "Skip" leaves it out.
        page.set_input_files("#file-input", str(WORKBOOKS / "patients-libreoffice.xlsx"))
        page.get_by_role("button", name="Upload and check").click()
        page.locator(".upload-warning").get_by_role("button", name="Skip").click()
        assert page.locator("#upload-queue .upload-state").inner_text() == "Skipped."
        assert page.locator("tr.job").count() == 2

        # Layouts: the upload card fits the narrow screens too.
        for width, height in ((1366, 768), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        # The template CSV of the model is offered from the form.
        template = page.get_by_role("link", name="Template CSV", exact=True)
        assert template.get_attribute("href").endswith("/template.csv")
        with page.expect_download() as info:
            template.click()
        assert "mean radius" in Path(info.value.path()).read_text(encoding="utf-8-sig").splitlines()[0]
    finally:
        context.close()
