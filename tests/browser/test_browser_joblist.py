"""The job list in real headless Chromium (issue 13, item 4): sorting by a header click, bulk
actions with their one confirmation, a job uploaded through the API appearing without a
reload, the running count in the tab title, and the layout: at 1280×800 and 1366×768 no
column or action of the administrator's table is cut; below 1280 px, and at 390 px, the rows
are cards. Uses the harness of tests/browser/test_browser.py (its fixtures and helpers)."""

from __future__ import annotations

import httpx2
import pytest

from app.core.accounts.tokens import Tokens
from app.core.accounts.users import Users
from app.core.db import open_database
from app.core.jobs.queue import Jobs
from app.core.jobs.submissions import submit_path
from app.core.settings import Settings
from scheduler.worker import Worker
from tests.browser.test_browser import browser, new_page, server, shoot, sign_in  # noqa: F401  (fixtures)
from tests.conftest import breast_cancer_frame

pytestmark = pytest.mark.browser

# Every action control of every row, with where it is drawn and where the table's visible
# box ends (a control past that edge is cut or hidden in a sideways scroll).
ACTION_BOXES = """() => {
  const wrap = document.getElementById('jobs-wrap');
  const edge = wrap.getBoundingClientRect();
  return {
    scroll: wrap.scrollWidth, visible: wrap.clientWidth,
    page: document.documentElement.scrollWidth, window: window.innerWidth,
    cards: getComputedStyle(document.querySelector('#jobs-table thead')).position === 'absolute',
    edgeLeft: edge.left, edgeRight: edge.right,
    controls: [...document.querySelectorAll('tr.job .col-actions .btn, tr.job .col-select input, tr.job .file-name')]
      .map(el => { const r = el.getBoundingClientRect();
                   return {text: el.textContent.trim().slice(0, 30), left: r.left, right: r.right, width: r.width,
                           clipped: el.scrollWidth > el.clientWidth + 1}; }),
  };
}"""


def _populate(settings: Settings) -> dict[str, int]:
    """Jobs of alice and the admin in every state, long names and models included, made by the
    real code paths (a real run for PROCESS OK)."""
    db = open_database(settings)
    jobs = Jobs(db)
    users = Users(db)
    alice, admin = users.by_name("alice"), users.by_name("admin")
    work = settings.input_dir.parent / "sources"
    work.mkdir(parents=True, exist_ok=True)
    ids: dict[str, int] = {}

    def add(owner, name: str, rows: int) -> int:  # type: ignore[no-untyped-def]
        path = work / name
        breast_cancer_frame(rows, seed=len(name)).to_csv(path, index=False)
        ids[name] = submit_path(settings, jobs, owner.id, path).id
        return ids[name]

    add(alice, "Exportación clínica norte 2023 — versión final revisada.csv", 420)
    add(admin, "beta-admin.csv", 30)
    Worker(settings, db).drain()
    add(alice, "march <draft>.csv", 120)
    claim = jobs.claim_next("screenshot")
    jobs.fail(claim, "The file does not fit the model: Row 88, column 'mean area': 'n/a?' is not a number.")
    add(alice, "clinic-south-2024.csv", 52_000)
    claim = jobs.claim_next("worker-a")
    jobs.heartbeat(claim, 31_000, 52_000)
    add(alice, "screening-april.csv", 2_300)
    for i in range(3):
        add(alice, f"exportacion-lote-{i}.csv", 10)
    db.close()
    return ids


@pytest.mark.parametrize("size", [(1280, 800), (1366, 768)], ids=["1280x800", "1366x768"])
def test_admin_table_shows_every_column_and_action_on_laptops(browser, server, engine, size) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    base, settings = server(engine, EMBEDDED_WORKER="false")
    _populate(settings)
    width, height = size
    context, page = new_page(browser, base, width=width, height=height)
    try:
        sign_in(page, base, "admin", "admin-password-1")
        boxes = page.evaluate(ACTION_BOXES)
        assert not boxes["cards"], "a table at 1280 px or wider"
        assert boxes["scroll"] <= boxes["visible"], boxes  # no sideways scroll inside the table
        assert boxes["page"] <= boxes["window"], boxes  # nor of the page
        assert len(boxes["controls"]) > 20
        for control in boxes["controls"]:
            assert control["width"] > 0 and not control["clipped"], control
            assert boxes["edgeLeft"] - 0.5 <= control["left"] and control["right"] <= boxes["edgeRight"] + 0.5, control
        headers = page.locator("#jobs-table thead th").all_inner_texts()
        assert [h.strip() for h in headers[1:10]] == ["FILE", "OWNER", "UPLOADED ▼", "STATUS", "PROGRESS", "STARTED",
                                                      "FINISHED", "DURATION", "TRIES"]
        if size == (1280, 800):
            shoot(page, "panel-admin-1280.png", engine, full_page=False)
        # Just below 1280 px the rows become cards, with nothing cut either.
        page.set_viewport_size({"width": 1279, "height": height})
        below = page.evaluate(ACTION_BOXES)
        assert below["cards"] and below["page"] <= below["window"], below
        for control in below["controls"]:
            assert control["right"] <= below["window"] and not control["clipped"], control
    finally:
        context.close()


def test_phone_cards_keep_the_select_box_and_actions(browser, server, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    base, settings = server(engine, EMBEDDED_WORKER="false")
    _populate(settings)
    context, page = new_page(browser, base, width=390, height=844)
    try:
        sign_in(page, base, "admin", "admin-password-1")
        boxes = page.evaluate(ACTION_BOXES)
        assert boxes["cards"] and boxes["page"] <= boxes["window"], boxes
        for control in boxes["controls"]:
            assert 0 <= control["left"] and control["right"] <= boxes["window"] and not control["clipped"], control
    finally:
        context.close()


def test_sort_by_header_search_without_accents_and_bulk_archive(browser, server, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    base, settings = server(engine, EMBEDDED_WORKER="false")
    _populate(settings)
    context, page = new_page(browser, base, width=1440, height=1000)
    try:
        sign_in(page, base)
        page.locator("th a.sort[data-sort=file]").click()
        page.wait_for_url("**/jobs?sort=file&dir=asc")
        names = page.locator("tr.job .file-name").all_inner_texts()
        assert names == sorted(names, key=lambda n: n.lower().replace("ó", "o").replace("í", "i")), names
        assert page.locator("th[aria-sort=ascending]").inner_text().startswith("FILE")
        page.locator("th a.sort[data-sort=file]").click()
        page.wait_for_url("**/jobs?sort=file&dir=desc")
        assert page.locator("tr.job .file-name").all_inner_texts() == names[::-1]

        # The search keeps the sort and ignores accents and case.
        page.get_by_label("Search by file name").fill("EXPORTACION")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**/jobs?sort=file&dir=desc&q=EXPORTACION")
        found = page.locator("tr.job .file-name").all_inner_texts()
        assert len(found) == 4 and found[-1].startswith("Exportación clínica"), found

        # Select two rows: one confirmation naming the count, then they are archived.
        page.locator("tr.job .select-job").nth(0).check()
        page.locator("tr.job .select-job").nth(1).check()
        assert page.locator("#bulk-count").inner_text() == "2 files selected."
        questions: list[str] = []
        page.once("dialog", lambda d: (questions.append(d.message), d.accept()))
        page.locator("#bulk-form").get_by_role("button", name="Archive").click()
        page.wait_for_load_state()
        assert questions == ["Archive 2 files?"]
        assert "2 files archived." in page.locator(".flash-success").inner_text()
        assert page.locator("tr.job").count() == 2

        # Select all on the page, then "all matching": the dialog counts them all.
        page.locator("#select-page").check()
        page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
        page.locator("#bulk-form").get_by_role("button", name="Delete").click()
        assert questions[-1] == "Delete 2 files? Their results are removed too; this cannot be undone."
        assert page.locator("tr.job").count() == 2  # dismissed: nothing happened
        shoot(page, "panel-bulk.png", engine, full_page=False)
    finally:
        context.close()


def test_select_all_matching_the_filter_across_pages(browser, server, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    base, settings = server(engine, EMBEDDED_WORKER="false")
    db = open_database(settings)
    jobs = Jobs(db)
    alice = Users(db).by_name("alice")
    for i in range(40):
        jobs.create(alice.id, f"lote-{i:02d}.csv", f"upload-lote-{i}.csv", 10, 1)
    jobs.create(alice.id, "keep.csv", "upload-keep.csv", 10, 1)
    db.close()
    context, page = new_page(browser, base, width=1366, height=768)
    try:
        sign_in(page, base)
        page.goto(base + "/jobs?q=lote")
        assert page.locator("#bulk-all").is_hidden()
        page.locator("#select-page").check()
        page.locator("#bulk-all").click()
        assert page.locator("#bulk-count").inner_text() == "All 40 files matching this filter are selected."
        questions: list[str] = []
        page.once("dialog", lambda d: (questions.append(d.message), d.accept()))
        page.locator("#bulk-form").get_by_role("button", name="Delete").click()
        page.wait_for_load_state()
        assert questions == ["Delete 40 files? Their results are removed too; this cannot be undone."]
        assert "40 files deleted" in page.locator(".flash-success").inner_text()
        page.goto(base + "/jobs")
        assert page.locator("tr.job .file-name").all_inner_texts() == ["keep.csv"]
    finally:
        context.close()


def test_an_api_upload_appears_live_and_the_title_counts_running_jobs(browser, server, engine, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    base, settings = server(engine, EMBEDDED_WORKER="false")
    context, page = new_page(browser, base, width=1280, height=800)
    try:
        sign_in(page, base)
        assert page.locator("#jobs-empty").is_visible()
        page.evaluate("window.__sameDocument = true")
        assert page.title() == "Your files · Beyond"
        # An upload through the API (the JSON API with a token) while the page is open.
        db = open_database(settings)
        alice = Users(db).by_name("alice")
        token = Tokens(db).create(alice.id, "browser-test")[0]
        source = tmp_path / "desde-la-api.csv"
        breast_cancer_frame(20).to_csv(source, index=False)
        with source.open("rb") as handle:
            answer = httpx2.post(base + "/api/jobs", headers={"Authorization": f"Bearer {token}"},
                                files={"file": ("desde-la-api.csv", handle, "text/csv")}, timeout=30)
        assert answer.status_code in (201, 202), answer.text
        job_id = answer.json()["id"]
        page.locator(f"#job-{job_id}").wait_for(timeout=10_000)
        assert page.evaluate("window.__sameDocument") is True  # inserted, not reloaded
        assert page.locator("#jobs-empty").is_hidden() and page.locator("#new-jobs").is_hidden()
        assert page.locator(f"#job-{job_id} .select-job").is_visible()
        claim = Jobs(db).claim(job_id, "worker-test")
        assert claim is not None
        page.wait_for_function("() => document.title === '(1) Your files · Beyond'", timeout=10_000)
        Jobs(db).fail(claim, "stopped by the test")
        # The notice is a toast fixed in the window, wherever the page is scrolled.
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        notice = page.locator("#notices .notice")
        notice.wait_for(timeout=10_000)
        box = notice.bounding_box()
        assert box and 0 <= box["y"] and box["y"] + box["height"] <= 800 and box["x"] + box["width"] <= 1280
        page.wait_for_function("() => document.title === 'Your files · Beyond'", timeout=10_000)
        db.close()
    finally:
        context.close()


def test_docs_render_the_openapi_description_offline(browser, server, engine) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    base, settings = server(engine, EMBEDDED_WORKER="false")
    context, page = new_page(browser, base, width=1366, height=768)
    outside: list[str] = []
    problems: list[str] = []

    def only_local(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(base):
            route.continue_()
        else:  # no network beyond this server: a CDN would fail here
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        sign_in(page, base)
        page.goto(base + "/tokens")
        page.get_by_role("link", name="API documentation").click()
        page.wait_for_url(base + "/docs")
        page.locator(".swagger-ui .opblock").first.wait_for(timeout=20_000)
        spec = page.evaluate("() => fetch('/openapi.json').then(r => r.json())")
        operations = sum(len([m for m in ops if m in ("get", "post", "delete", "put", "patch")])
                         for ops in spec["paths"].values())
        assert page.locator(".swagger-ui .opblock").count() == operations
        assert spec["info"]["title"] in page.locator(".swagger-ui .info .title").inner_text()
        assert page.locator(".swagger-ui .opblock-summary-path", has_text="/api/jobs").count() >= 1
        assert outside == [] and problems == [], (outside, problems)
        shoot(page, "api-docs.png", engine, full_page=False)
    finally:
        context.close()


def test_joblist_screenshots_are_in_the_docs() -> None:
    """docs/panel.md shows these; `UPDATE_SCREENSHOTS=1` runs of the tests above refresh them."""
    from tests.browser.test_browser import SCREENSHOTS

    text = (SCREENSHOTS.parent / "panel.md").read_text(encoding="utf-8")
    for name in ("panel-admin-1280.png", "panel-bulk.png", "api-docs.png"):
        assert (SCREENSHOTS / name).is_file() and f"screenshots/{name}" in text, name
