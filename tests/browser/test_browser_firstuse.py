"""A first-time user's panel in headless Chromium (issue 22): the API docs page under the
panel's top bar, whose "Try it out" works for the signed-in user and whose colours pass
axe-core's contrast rule. Uses the harness of tests/browser/test_browser.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from app.core.accounts.users import Users
from app.core.db import open_database
from app.core.jobs.queue import Jobs
from app.core.jobs.submissions import submit_path
from app.core.settings import Settings
from scheduler.worker import Worker
from tests.browser.test_browser import new_page, server, sign_in  # noqa: F401  (fixtures)
from tests.conftest import breast_cancer_frame

pytestmark = pytest.mark.browser


def axe_violations(page, rules: list[str] | None = None) -> list[dict]:  # type: ignore[no-untyped-def]
    """axe-core's violations on the page as drawn now (every rule, or only ``rules``), each
    with the first few elements it names."""
    options = {"resultTypes": ["violations"], **({"runOnly": {"type": "rule", "values": rules}} if rules else {})}
    found = Axe().run(page, options=options).response["violations"]
    return [{"id": v["id"], "count": len(v["nodes"]),
             "nodes": [(n["target"], n.get("failureSummary", "")[:160]) for n in v["nodes"][:4]]} for v in found]


def test_docs_page_has_the_panel_bar_its_try_it_out_runs_as_the_user_and_passes_contrast(  # type: ignore[no-untyped-def]
        scrollbar_browser, server, engine) -> None:  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    base, _ = server(engine, EMBEDDED_WORKER="false")
    context, page = new_page(scrollbar_browser, base, 1280, 800)
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


# -- layouts at 1280×800, 1366×768 and 390 px ------------------------------------------------------------
LAPTOPS = pytest.mark.parametrize("size", [(1280, 800), (1366, 768)], ids=["1280x800", "1366x768"])

# Where the page draws an element, against the window.
BOX = """(selector) => { const r = document.querySelector(selector).getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: window.innerHeight, width: window.innerWidth}; }"""


@pytest.fixture(scope="module")
def scrollbar_browser():  # type: ignore[no-untyped-def]
    """Chromium with real scrollbars, as a user's (Playwright hides them by default): a page
    taller than the window loses their width, 15 px at 1280, to the vertical one."""
    from playwright.sync_api import sync_playwright

    from tests.browser.test_browser import CHROMIUM, LAUNCH_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS,
                                              ignore_default_args=["--hide-scrollbars"])
        yield chromium
        chromium.close()


def history(settings: Settings, tmp_path: Path, count: int = 2) -> None:
    """A returning user's earlier files, processed by the real worker."""
    db = open_database(settings)
    jobs = Jobs(db)
    alice = Users(db).by_name("alice")
    for i in range(count):
        path = tmp_path / f"earlier-{i}.csv"
        breast_cancer_frame(50, seed=i).to_csv(path, index=False)
        submit_path(settings, jobs, alice.id, path)
    Worker(settings, db).drain()
    db.close()


@LAPTOPS
def test_an_upload_its_message_and_its_row_fill_the_first_screen_and_the_message_stays_true(  # type: ignore[no-untyped-def]
        scrollbar_browser, server, tmp_path, size) -> None:  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    base, settings = server("sqlite", EMBEDDED_WORKER="true")  # its worker runs the upload
    history(settings, tmp_path)
    width, height = size
    context, page = new_page(scrollbar_browser, base, width, height)
    try:
        sign_in(page, base)
        source = tmp_path / "clinic_north_2024-03.final.csv"
        breast_cancer_frame(2_000, seed=7).to_csv(source, index=False)
        page.set_input_files("#file-input", str(source))
        page.get_by_role("button", name="Upload and check").click()
        page.wait_for_url(base + "/jobs#job-*")
        job_id = page.evaluate("location.hash").removeprefix("#job-")
        page.wait_for_selector(f"#job-{job_id}")
        flash, row = page.evaluate(BOX, ".flash-success"), page.evaluate(BOX, f"#job-{job_id}")
        # The first screen, as it loads: the upload's message and the new file's whole row.
        assert page.evaluate("window.scrollY") == 0
        assert 0 <= flash["top"] and flash["bottom"] <= height, flash
        assert 0 <= row["top"] and row["bottom"] <= height, (row, page.evaluate(BOX, ".upload-card"))
        # It ends while the page stays open: no text on it says it is still waiting.
        page.wait_for_function(f"() => document.querySelector('#job-{job_id} [data-field=status]').textContent.trim()"
                               " === 'PROCESS OK'", timeout=90_000)
        assert "accepted (2,000 rows)" in page.locator(".flash-success").inner_text()
        assert "waiting" not in page.locator("main").inner_text().lower()
    finally:
        context.close()


# Where a name's lines break: the character before each break (text nodes only, <wbr> included).
LINE_BREAKS = """(selector) => [...document.querySelectorAll(selector)].map(el => {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  const chars = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange(); range.setStart(node, i); range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (rect) { chars.push({ch: node.data[i], top: Math.round(rect.top)}); }
    }
  }
  const before = [];
  for (let i = 1; i < chars.length; i++) { if (chars[i].top > chars[i - 1].top + 2) { before.push(chars[i - 1].ch); } }
  const cell = el.closest('td, h1, dd, li') || el.parentElement;
  return {text: el.textContent, before: before, right: el.getBoundingClientRect().right,
          cellRight: cell.getBoundingClientRect().right, overflow: el.scrollWidth > cell.clientWidth + 1};
})"""
LONG_NAMES = ["Exportacion_clinica_norte_2023_version_final_revisada.csv",
              "resultados.laboratorio.central.2024.enero.febrero.csv",
              "screening-april-2024-hospital-del-sur-segunda-ronda.csv"]


@pytest.mark.parametrize("width", [1280, 390])
def test_long_file_names_wrap_between_their_parts(scrollbar_browser, server, tmp_path, width) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    base, settings = server("sqlite", EMBEDDED_WORKER="false")
    db = open_database(settings)
    alice = Users(db).by_name("alice")
    ids = []
    for name in LONG_NAMES:
        path = tmp_path / name
        breast_cancer_frame(20, seed=1).to_csv(path, index=False)
        ids.append(submit_path(settings, Jobs(db), alice.id, path).id)
    db.close()
    context, page = new_page(scrollbar_browser, base, width, 800)
    try:
        sign_in(page, base)
        names = []
        for where, selector in (("/jobs", "tr.job .file-name"), (f"/jobs/{ids[0]}", "h1.job-title")):
            page.goto(base + where)
            names += page.evaluate(LINE_BREAKS, selector)
        assert sorted(n["text"] for n in names) == sorted([*LONG_NAMES, LONG_NAMES[0]]), names
        assert sum(1 for n in names if n["before"]) >= 3, names  # in the list's column they wrap
        for name in names:
            assert set(name["before"]) <= set("_.- "), name  # never mid-word
            assert not name["overflow"] and name["right"] <= name["cellRight"] + 0.5, name
    finally:
        context.close()


def test_the_phone_menu_shows_every_link_of_an_administrator(scrollbar_browser, server) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    base, _ = server("sqlite", EMBEDDED_WORKER="false")
    context, page = new_page(scrollbar_browser, base, 390, 844)
    try:
        sign_in(page, base, "admin", "admin-password-1")
        links = page.evaluate("""() => [...document.querySelectorAll('.mainnav a')].map(a => {
            const r = a.getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return {text: a.textContent.trim(), left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                    seen: hit === a || a.contains(hit)}; })""")
        assert [link["text"] for link in links] == ["Files", "Models", "API tokens", "Webhooks", "Users", "Audit log", "Queue"]
        for link in links:  # each one whole on the screen, none behind a sideways scroll
            assert link["seen"] and 0 <= link["left"] and link["right"] <= 390 and link["bottom"] <= 844, link
        page.get_by_role("link", name="Queue").click()
        page.wait_for_url(base + "/admin/queue")
    finally:
        context.close()


# Every table's box against its content, and every button against the table's visible edge.
FITS = """() => {
  const page = {scroll: document.documentElement.scrollWidth, visible: document.documentElement.clientWidth};
  const wraps = [...document.querySelectorAll('.table-wrap')].map(wrap => {
    const edge = wrap.getBoundingClientRect();
    const cut = [...wrap.querySelectorAll('.btn, input, select, a')].filter(el => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && (r.right > edge.right + 0.5 || r.left < edge.left - 0.5 || el.scrollWidth > el.clientWidth + 1);
    }).map(el => el.textContent.trim().slice(0, 30) || el.outerHTML.slice(0, 60));
    return {id: wrap.id || wrap.querySelector('table').className, scroll: wrap.scrollWidth, visible: wrap.clientWidth, cut: cut};
  });
  return {page: page, wraps: wraps};
}"""


@LAPTOPS
def test_admin_lists_fit_their_cards_with_a_real_scrollbar(scrollbar_browser, server, tmp_path, size) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    from tests.browser.test_browser_joblist import _populate

    base, settings = server("sqlite", EMBEDDED_WORKER="false")
    _populate(settings)
    # A file far from the training data: its row carries the widest badge, rows flagged.
    db = open_database(settings)
    shifted = breast_cancer_frame(900, seed=3)
    shifted["mean area"] *= 1.8
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    submit_path(settings, Jobs(db), Users(db).by_name("alice").id, tmp_path / "shifted.csv")
    Worker(settings, db).drain()
    Users(db).create("maria.fernanda.gonzalez-etxeberria@laboratorio-central.example.org"[:64], "maria-password-1",
                     email="maria.fernanda.gonzalez-etxeberria@laboratorio-central.example.org")
    db.close()
    width, height = size
    context, page = new_page(scrollbar_browser, base, width, height)
    try:
        sign_in(page, base, "admin", "admin-password-1")
        assert page.locator("[data-field=quality]").count() >= 1
        for where in ("/jobs", "/admin/users", "/admin/audit", "/admin/queue", "/models", "/tokens", "/webhooks"):
            page.goto(base + where)
            fits = page.evaluate(FITS)
            assert fits["page"]["scroll"] <= fits["page"]["visible"], (where, fits)
            for wrap in fits["wraps"]:
                assert wrap["scroll"] <= wrap["visible"] and not wrap["cut"], (where, wrap)
    finally:
        context.close()


def test_the_upload_help_lists_the_columns_of_the_model_selected(scrollbar_browser, server, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    from app.core.registry.models import Registry
    from tests.browser.test_browser_models import churn_zip
    from tests.model.test_typed_inputs import FEATURES, churn_frame

    base, settings = server("sqlite", EMBEDDED_WORKER="false")
    db = open_database(settings)
    Registry(db, settings).deploy_archive(churn_zip(tmp_path), "churn", activate=True)
    db.close()
    context, page = new_page(scrollbar_browser, base, 1280, 800)
    try:
        sign_in(page, base)
        help_ = page.locator("#columns-help")
        assert page.locator("#model-select").input_value() == "breast-cancer"
        assert "30 columns of model breast-cancer" in help_.locator("summary").inner_text()
        help_.locator("summary").click()
        assert "mean radius" in page.locator("#column-list").all_inner_texts()[0]
        # Chosen by hand: the help (and the template link) follow.
        page.locator("#model-select").select_option("churn")
        assert f"{len(FEATURES)} columns of model churn" in help_.locator("summary").inner_text()
        assert page.locator("#column-list li").all_inner_texts() == FEATURES
        assert page.locator("[data-template-for=churn]").is_visible()
        assert not page.locator("[data-template-for=breast-cancer]").is_visible()
        # Chosen by the form for a file that fits another model: the help follows that too.
        page.locator("#model-select").select_option("breast-cancer")
        source = tmp_path / "customers.csv"
        churn_frame(30, seed=5).to_csv(source, index=False)
        page.set_input_files("#file-input", str(source))
        page.wait_for_function("() => document.querySelector('#model-select').value === 'churn'")
        assert page.locator("#column-list li").all_inner_texts() == FEATURES
    finally:
        context.close()


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["1280x800", "390"])
def test_every_panel_screen_has_no_axe_violation(scrollbar_browser, server, tmp_path, size) -> None:  # type: ignore[no-untyped-def]  # noqa: F811 (fixtures of tests/browser/test_browser.py)
    """The issue's 11 screens stay at 0 axe-core violations (every rule) after these changes;
    /docs is held to the contrast rule above (Swagger UI's own markup breaks structural ones)."""
    from tests.browser.test_browser_joblist import _populate

    base, settings = server("sqlite", EMBEDDED_WORKER="false")
    ids = _populate(settings)
    job = ids["Exportación clínica norte 2023 — versión final revisada.csv"]
    context, page = new_page(scrollbar_browser, base, *size)
    try:
        page.goto(base + "/login")
        assert axe_violations(page) == [], "/login"
        sign_in(page, base, "admin", "admin-password-1")
        for where in ("/jobs", f"/jobs/{job}", f"/jobs/{job}/quality", "/models", f"/models/{settings.default_model}/quality",
                      "/tokens", "/webhooks", "/account", "/admin/users", "/admin/audit", "/admin/queue"):
            page.goto(base + where)
            page.locator("details").evaluate_all("all => all.forEach(d => d.open = true)")  # folded help too
            assert axe_violations(page) == [], where
    finally:
        context.close()
