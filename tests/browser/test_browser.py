"""End to end in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright)
against a real `python -m app serve` on a free 127.0.0.1 port with the embedded worker.

A user signs in, uploads a CSV with the file chooser, watches it go PENDING -> IN PROCESS ->
PROCESS OK without a reload, gets the notice (and a browser notification), downloads the .xlsx
and opens it; an invalid CSV shows its row/column problems. The runs on SQLite also save the
screenshots in docs/screenshots/ that docs/panel.md and the README show.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest

from app.core.accounts.users import Users
from app.core.db import open_database
from app.core.jobs.queue import Jobs
from app.core.jobs.submissions import submit_path
from app.core.settings import Settings
from scheduler.worker import Worker, host_slot
from tests.conftest import ROOT, breast_cancer_frame, start_server, stop_server, unavailable
from tests.support.models import make_model_dir

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "docs" / "screenshots"
LAUNCH_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run"]

# Records every browser notification the page creates (the real one still shows).
NOTIFICATION_SPY = """
(() => {
  const Real = window.Notification;
  if (!Real) { return; }
  window.__notifications = [];
  class Spy {
    constructor(title, options) {
      window.__notifications.push({title: title, body: options && options.body});
      try { return new Real(title, options); } catch (e) { return this; }
    }
    static get permission() { return Real.permission; }
    static requestPermission(cb) { return Real.requestPermission(cb); }
  }
  window.Notification = Spy;
})();
"""

# Samples a job row every 50 ms: every status and progress value the page shows is kept.
ROW_RECORDER = """
(jobId) => {
  window.__seen = [];
  window.__noReload = true;
  const sample = () => {
    const row = document.getElementById('job-' + jobId);
    if (!row) { return; }
    const badge = row.querySelector('[data-field=status]').textContent.trim();
    const bar = row.querySelector('progress');
    const entry = badge + '|' + bar.value + '|' + bar.max;
    if (window.__seen[window.__seen.length - 1] !== entry) { window.__seen.push(entry); }
  };
  sample();
  window.setInterval(sample, 50);
}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def server(make_config, tmp_path: Path) -> Iterator[Callable[..., tuple[str, Settings]]]:
    """server(engine, **config) -> (base_url, settings): `python -m app serve` on a free port,
    with users alice (user) and admin; stopped at teardown."""
    started: list[subprocess.Popen] = []

    def start(engine: str, **overrides: str) -> tuple[str, Settings]:
        config, settings = make_config(engine, **overrides)
        db = open_database(settings)
        db.init_schema()
        users = Users(db)
        users.create("alice", "alice-password-1", email="alice@example.org")
        users.create("admin", "admin-password-1", is_admin=True)
        db.close()
        proc, base = start_server(config, tmp_path)
        started.append(proc)
        return base, settings

    yield start
    for proc in started:
        stop_server(proc)


def new_page(browser, base: str, width: int = 1440, height: int = 900):  # type: ignore[no-untyped-def]
    context = browser.new_context(accept_downloads=True, viewport={"width": width, "height": height},
                                  timezone_id="UTC", locale="en-US")
    context.grant_permissions(["notifications"], origin=base)
    context.add_init_script(NOTIFICATION_SPY)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return context, page


def sign_in(page, base: str, username: str = "alice", password: str = "alice-password-1") -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/jobs")


def shoot(page, name: str, engine: str, full_page: bool = True) -> None:  # type: ignore[no-untyped-def]
    if engine != "sqlite":
        return  # one set of pictures is enough; the SQLite run takes them
    # A test run must not rewrite tracked files: pictures go to a temporary folder unless
    # UPDATE_SCREENSHOTS=1 asks for the ones in docs/screenshots/ to be refreshed.
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        folder = SCREENSHOTS
    else:
        folder = Path(tempfile.gettempdir()) / "beyond-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=full_page)


def count_sheet_rows(xlsx: Path) -> int:
    """Rows of the first sheet, counted in its XML (openpyxl would parse every cell)."""
    count, tail = 0, b""
    with zipfile.ZipFile(xlsx) as archive, archive.open("xl/worksheets/sheet1.xml") as sheet_xml:
        for block in iter(lambda: sheet_xml.read(1 << 20), b""):
            data = tail + block
            count += data.count(b"<row ")
            tail = data[-4:]  # shorter than the 5-byte marker: nothing is counted twice
    return count


def bad_csv(path: Path) -> Path:
    frame = breast_cancer_frame(40, seed=3)
    frame = frame.drop(columns=["worst symmetry"]).astype(object)
    frame.loc[3, "mean area"] = "twelve"  # spreadsheet row 5
    frame.loc[10, "mean texture"] = "1,5"  # row 12: a decimal comma in a comma-separated file
    frame.to_csv(path, index=False)
    return path


def test_upload_watch_it_run_get_notified_and_download(browser, server, engine, tmp_path, model_dir) -> None:  # type: ignore[no-untyped-def]
    # The default model, sleeping so that the job predicts for about 8 s in steps of 5,000 rows:
    # several seconds of IN PROCESS, so the panel's polls every 2 s see it with partial
    # progress however fast the machine (a million rows did that before, at 250,000 rows/s,
    # and cost minutes on a busy one).
    rows = 60_000
    slow = make_model_dir(model_dir, tmp_path / "slow-model", seconds_per_row=8.0 / rows)
    base, settings = server(engine, EMBEDDED_WORKER="true", SCHEDULER_INTERVAL="1", CHUNK_ROWS="5000",
                            MAX_CONCURRENT_JOBS="1", HEARTBEAT_SECONDS="1", MODEL_PATH=str(slow))
    source = tmp_path / "patients-2024.csv"
    breast_cancer_frame(rows, seed=1).to_csv(source, index=False)
    context, page = new_page(browser, base)
    try:
        page.goto(base + "/")
        page.wait_for_url(base + "/login")
        assert page.get_by_role("heading", name="Sign in").is_visible()
        shoot(page, "login.png", engine, full_page=False)

        page.get_by_label("User name").fill("alice")
        page.get_by_label("Password").fill("wrong-password")
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_role("alert").inner_text() == "Unknown user name or wrong password."
        sign_in(page, base)
        assert page.get_by_role("heading", name="Your files").is_visible()

        # Hold the host's only worker slot while uploading, so the job is surely seen waiting.
        with host_slot(settings, wait=True):
            page.set_input_files("#file-input", str(source))
            assert "patients-2024.csv" in page.locator("#chosen-file").inner_text()
            with page.expect_navigation(timeout=60_000):  # the script uploads, then reloads the list
                page.get_by_role("button", name="Upload and check").click()
            page.wait_for_url(base + "/jobs#job-*")
            row = page.locator("tr.job").first
            job_id = int(row.get_attribute("data-job-id"))
            assert row.locator("[data-field=status]").inner_text() == "PENDING"
            assert f"accepted ({rows:,} rows)" in page.locator(".flash-success").inner_text()
            page.evaluate(ROW_RECORDER, job_id)

        row = page.locator(f"#job-{job_id}")
        page.wait_for_function("() => window.__seen.some(e => e.startsWith('PROCESS OK|'))", timeout=90_000)
        assert page.evaluate("window.__noReload") is True  # the same document all along
        seen = page.evaluate("window.__seen")
        statuses = [entry.split("|")[0] for entry in seen]
        assert statuses[0] == "PENDING" and statuses[-1] == "PROCESS OK", seen
        assert "IN PROCESS" in statuses, seen
        order = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
        assert order == ["PENDING", "IN PROCESS", "PROCESS OK"], seen
        partial = [e for e in seen if e.startswith("IN PROCESS|") and 0 < int(e.split("|")[1]) < rows]
        assert partial, f"no partial progress was shown: {seen}"

        assert f"{rows:,} / {rows:,} rows" in row.inner_text()
        assert row.locator("[data-field=finished]").inner_text().strip()
        assert row.locator("[data-field=duration]").inner_text().strip().endswith("s")
        assert row.locator("[data-field=attempts]").inner_text().strip() == "1"
        chips = page.get_by_role("navigation", name="Filter by status")
        assert chips.get_by_role("link", name="PROCESS OK").inner_text() == "PROCESS OK 1"  # counts follow too
        assert chips.get_by_role("link", name="PENDING").inner_text() == "PENDING 0"
        notice = page.locator("#notices .notice")
        notice.wait_for()
        assert "“patients-2024.csv” finished: PROCESS OK." in notice.inner_text()
        notifications = page.evaluate("window.__notifications")
        assert [n["title"] for n in notifications] == ["Beyond: patients-2024.csv"], notifications
        page.evaluate("document.activeElement && document.activeElement.blur()")
        shoot(page, "finished-notice.png", engine, full_page=False)

        with page.expect_download() as info:
            notice.get_by_role("link", name="Download .xlsx").click()
        download = info.value
        assert download.suggested_filename == "patients-2024-result.xlsx"
        saved = tmp_path / "downloaded.xlsx"
        download.save_as(saved)
        book = openpyxl.load_workbook(saved, read_only=True)
        sheet = book.worksheets[0]
        header, first = list(sheet.iter_rows(min_row=1, max_row=2, values_only=True))
        assert header[:2] == ("row_id", "patient_id") and "prediction" in header and "probability" in header
        assert first[1] == "P000000" and first[header.index("prediction")] in ("malignant", "benign")
        summary = dict(book["summary"].iter_rows(min_row=2, values_only=True))
        assert summary["rows"] == rows and summary["input file"] == "patients-2024.csv"
        book.close()
        assert count_sheet_rows(saved) == rows + 1

        # An invalid file: the problems name the row and the column, and nothing is stored.
        page.set_input_files("#file-input", str(bad_csv(tmp_path / "broken.csv")))
        page.get_by_role("button", name="Upload and check").click()
        problems = page.locator("#upload-problems")
        problems.wait_for()
        text = problems.inner_text()
        assert "“broken.csv”" in text and "3 problems found" in text
        table = problems.locator("tbody tr")
        cells = [table.nth(i).locator("td").all_inner_texts() for i in range(table.count())]
        assert ["1", "worst symmetry", "Missing column 'worst symmetry'."] in cells
        assert ["5", "mean area", "Row 5, column 'mean area': 'twelve' is not a number."] in cells
        assert any(c[0] == "12" and c[1] == "mean texture" for c in cells), cells
        assert page.locator("tr.job").count() == 1
        assert page.evaluate("document.activeElement.id") == "upload-problems"  # focus moves to the problems
        shoot(page, "validation-error.png", engine, full_page=False)
    finally:
        context.close()


def _populate(settings: Settings) -> None:
    """Jobs of alice in every state, made by the real code paths (a real run for PROCESS OK)."""
    db = open_database(settings)
    jobs = Jobs(db)
    alice = Users(db).by_name("alice")
    work = settings.input_dir.parent / "sources"
    work.mkdir(parents=True, exist_ok=True)

    def add(name: str, rows: int) -> int:
        path = work / name
        breast_cancer_frame(rows, seed=len(name)).to_csv(path, index=False)
        return submit_path(settings, jobs, alice.id, path).id

    add("clinic-north-2023.csv", 420)
    Worker(settings, db).drain()
    archived = add("old-export.csv", 50)
    Worker(settings, db).drain()
    jobs.set_archived(archived, True)
    add("march <draft>.csv", 120)
    claim = jobs.claim_next("screenshot")
    jobs.fail(claim, "The file does not fit the model: Row 88, column 'mean area': 'n/a?' is not a number.")
    add("clinic-south-2024.csv", 52_000)
    claim = jobs.claim_next("worker-a")
    jobs.heartbeat(claim, 31_000, 52_000)
    add("screening-april.csv", 2_300)
    db.close()


def test_panel_with_jobs_in_every_state_actions_and_drag_and_drop(browser, server, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base, settings = server(engine, EMBEDDED_WORKER="false")
    _populate(settings)
    context, page = new_page(browser, base, width=1440, height=1000)
    try:
        sign_in(page, base)
        badges = page.locator("tr.job [data-field=status]").all_inner_texts()
        assert badges == ["PENDING", "IN PROCESS", "ERROR", "PROCESS OK"]
        assert "march <draft>.csv" in page.locator("tr.job").nth(2).inner_text()  # shown as text
        assert page.locator("tr.job").nth(1).locator("progress").get_attribute("value") == "31000"
        shoot(page, "panel.png", engine)

        # Small screens: the table turns into cards, nothing scrolls sideways.
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shoot(page, "panel-mobile.png", engine)
        page.set_viewport_size({"width": 1440, "height": 1000})

        # Keyboard: the first Tab reaches the skip link, the next ones the menu and the file
        # chooser; every visible form control has a label.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        for _ in range(8):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "file-input":
                break
        else:
            pytest.fail("the file chooser is not reachable with the keyboard")
        unlabeled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.id || el.name)""")
        assert unlabeled == []

        # Drag and drop: a CSV dropped on the zone is the one uploaded.
        content = (tmp_path / "dropped.csv")
        breast_cancer_frame(10).to_csv(content, index=False)
        page.evaluate("""text => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], 'dropped.csv', {type: 'text/csv'}));
            const zone = document.getElementById('dropzone');
            zone.dispatchEvent(new DragEvent('dragenter', {dataTransfer: transfer, bubbles: true}));
            zone.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true}));
        }""", content.read_text())
        assert page.locator("#chosen-file").inner_text().startswith("dropped.csv")
        with page.expect_navigation():  # the script uploads, then reloads the list
            page.get_by_role("button", name="Upload and check").click()
        page.wait_for_url(base + "/jobs#job-*")
        assert page.locator("tr.job").first.locator(".file-name").inner_text() == "dropped.csv"

        # Actions: retry the failed job, archive and find it again, delete with confirmation.
        failed = page.locator("tr.job", has_text="march <draft>.csv")
        failed.get_by_role("button", name="Retry").click()
        assert "was put back in the queue" in page.locator(".flash-success").inner_text()
        assert page.locator("tr.job", has_text="march <draft>.csv").locator("[data-field=status]").inner_text() == "PENDING"
        page.locator("tr.job", has_text="screening-april.csv").get_by_role("button", name="Archive").click()
        assert page.locator("tr.job", has_text="screening-april.csv").count() == 0
        page.get_by_role("link", name="Show archived").click()
        assert sorted(page.locator("tr.job .file-name").all_inner_texts()) == ["old-export.csv", "screening-april.csv"]
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("tr.job", has_text="old-export.csv").get_by_role("button", name="Delete").click()
        assert "were deleted" in page.locator(".flash-success").inner_text()
        assert page.locator("tr.job .file-name").all_inner_texts() == ["screening-april.csv"]

        # A running job refuses deletion with a clear message.
        page.get_by_role("link", name="Back to current files").click()
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("tr.job", has_text="clinic-south-2024.csv").get_by_role("button", name="Delete").click()
        assert "cannot be deleted" in page.locator(".flash-error").inner_text()

        # Filters and search.
        page.get_by_label("Search by file name").fill("clinic")
        page.get_by_role("button", name="Search").click()
        assert sorted(page.locator("tr.job .file-name").all_inner_texts()) == ["clinic-north-2023.csv", "clinic-south-2024.csv"]
        page.get_by_role("navigation", name="Filter by status").get_by_role("link", name="PROCESS OK").click()
        assert page.locator("tr.job .file-name").all_inner_texts() == ["clinic-north-2023.csv"]

        # Sign out: the panel is gone, and going back does not bring it back.
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(base + "/login")
        page.goto(base + "/jobs")
        page.wait_for_url(base + "/login")
    finally:
        context.close()


def test_screenshots_are_in_the_docs() -> None:
    """docs/panel.md shows these; `UPDATE_SCREENSHOTS=1 make test` refreshes them."""
    for name in ("login.png", "panel.png", "panel-mobile.png", "validation-error.png", "finished-notice.png",
                 "models-deploy.png", "upload-progress.png", "upload-several.png", "upload-duplicate.png"):
        assert (SCREENSHOTS / name).is_file(), name
