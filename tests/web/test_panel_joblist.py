"""The job list over HTTP on SQLite and MariaDB (issue 13, item 4): search that ignores case and
accents, whitelisted sorting kept in the URL, filters by owner / model / upload date, bulk
retry / archive / delete over selected rows or "all N matching" with one confirmation, and
new jobs handed to the 2 s poll for live insertion."""

from __future__ import annotations

import html
import re

import pytest
from starlette.testclient import TestClient

from app.core.jobs.bulk import BULK_ACTIONS
from app.core.jobs.listing import JobFilter, JobList
from app.core.jobs.records import Status
from app.core.textfold import fold
from tests.panel_helpers import flashes_of, job_rows, login
from tests.support.sql import raw


@pytest.fixture
def bob(users):  # type: ignore[no-untyped-def]
    return users.create("bob", "bob-password-1")


def make_job(settings, jobs, owner, name: str, model: str | None = None, with_file: bool = False):  # type: ignore[no-untyped-def]
    """A job row as an upload makes it (jobs.create), with its uploaded file on disk if asked."""
    path_up = f"upload-{owner.id}-{abs(hash(name)) % 10**9}-{len(name)}.csv"
    if with_file:
        settings.input_dir.mkdir(parents=True, exist_ok=True)
        (settings.input_dir / path_up).write_text("a,b\n1,2\n", encoding="utf-8")
    return jobs.create(owner.id, name, path_up, 10, 1, model_name=model, model_version="v1" if model else None)


def fail(jobs, job_id: int) -> None:  # type: ignore[no-untyped-def]
    claim = jobs.claim(job_id, "test-worker")
    assert claim is not None
    jobs.fail(claim, "boom")


def signed_in(app, name: str) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    return client, login(client, name, f"{name}-password-1")


# -- search ----------------------------------------------------------------------------------------
def test_fold_drops_accents_and_case() -> None:
    assert fold("Exportación MARZO") == "exportacion marzo"
    assert fold("Ñandú_Straße.CSV") == "nandu_strasse.csv"
    assert fold("ｅｘｐｏｒｔ") == "export"  # NFKD also unfolds full-width letters


def test_search_ignores_case_and_accents_on_both_engines(app, settings, db, jobs, alice) -> None:  # type: ignore[no-untyped-def]
    accented = make_job(settings, jobs, alice, "Exportación marzo.csv")
    upper = make_job(settings, jobs, alice, "EXPORTACIÓN-abril.csv")
    plain = make_job(settings, jobs, alice, "exportacion_mayo.csv")
    make_job(settings, jobs, alice, "ventas.csv")
    client, _ = signed_in(app, "alice")
    expected = [plain.id, upper.id, accented.id]
    for query in ("exportacion", "EXPORTACION", "exportación", "Exportación", "xportaci"):
        assert job_rows(client.get("/jobs", params={"q": query}).text) == expected, query
    assert job_rows(client.get("/jobs", params={"q": "ón mar"}).text) == [accented.id]
    assert job_rows(client.get("/jobs", params={"q": "on_"}).text) == [plain.id]  # _ is literal
    page = client.get("/jobs", params={"q": "nothing-like-it"}).text
    assert job_rows(page) == [] and "No files match." in page


def test_names_stored_before_the_key_are_found_after_the_fill(app, settings, db, jobs, alice) -> None:  # type: ignore[no-untyped-def]
    old = make_job(settings, jobs, alice, "Señal ÁREA Report.csv")
    raw(db, "UPDATE wp_records SET file_key = NULL WHERE id = ?", (old.id,))  # a row from before migration 010
    client, _ = signed_in(app, "alice")
    # Meanwhile LOWER(file_name) stands in: ASCII case is ignored, accents not yet.
    assert job_rows(client.get("/jobs", params={"q": "report"}).text) == [old.id]
    assert job_rows(client.get("/jobs", params={"q": "senal"}).text) == []
    assert JobList(db).fill_file_keys() == 1
    assert raw(db, "SELECT file_key FROM wp_records WHERE id = ?", (old.id,)) == [{"file_key": "senal area report.csv"}]
    assert job_rows(client.get("/jobs", params={"q": "senal area"}).text) == [old.id]
    assert JobList(db).fill_file_keys() == 0


# -- sorting -------------------------------------------------------------------------------------------
def test_sorting_is_whitelisted_kept_in_links_and_stable(app, settings, db, jobs, alice, bob, admin) -> None:  # type: ignore[no-untyped-def]
    b = make_job(settings, jobs, bob, "beta.csv")
    a = make_job(settings, jobs, alice, "Álvaro.csv")
    c = make_job(settings, jobs, alice, "cesar.csv")
    fail(jobs, a.id)
    client, _ = signed_in(app, "admin")
    assert job_rows(client.get("/jobs").text) == [c.id, a.id, b.id]  # newest first
    assert job_rows(client.get("/jobs?sort=uploaded&dir=asc").text) == [b.id, a.id, c.id]
    assert job_rows(client.get("/jobs?sort=file&dir=asc").text) == [a.id, b.id, c.id]  # 'Á' sorts as 'a'
    assert job_rows(client.get("/jobs?sort=file&dir=desc").text) == [c.id, b.id, a.id]
    assert job_rows(client.get("/jobs?sort=owner&dir=asc").text) == [c.id, a.id, b.id]  # alice (newest first), bob
    assert job_rows(client.get("/jobs?sort=status&dir=asc").text) == [a.id, c.id, b.id]  # ERROR, then PENDING
    # Anything not on the list is the default order, never SQL.
    for bad in ("id;DROP TABLE users", "file_name", "1"):
        assert job_rows(client.get("/jobs", params={"sort": bad, "dir": "asc"}).text) == [c.id, a.id, b.id]
    assert job_rows(client.get("/jobs", params={"sort": "file", "dir": "sideways"}).text) == [c.id, a.id, b.id]
    assert raw(db, "SELECT COUNT(*) AS n FROM users")[0]["n"] == 3

    page = client.get("/jobs?sort=file&dir=asc&status=ERROR").text
    # The sorted column's header links to the other direction, keeping the filter; aria-sort says it.
    assert 'aria-sort="ascending"' in page
    links = [html.unescape(h) for h in re.findall(r'<a class="sort" href="([^"]+)" data-sort="file"', page)]
    assert links == ["/jobs?status=ERROR&sort=file&dir=desc"]
    # Pages and filters keep the sort.
    assert 'name="sort" value="file"' in page and 'name="dir" value="asc"' in page


def test_pages_of_a_sorted_list_do_not_overlap(app, settings, db, jobs, alice) -> None:  # type: ignore[no-untyped-def]
    made = [make_job(settings, jobs, alice, "same-name.csv") for _ in range(30)]
    client, _ = signed_in(app, "alice")
    first = job_rows(client.get("/jobs?sort=file&dir=asc").text)
    second = job_rows(client.get("/jobs?sort=file&dir=asc&page=2").text)
    assert len(first) == 25 and len(second) == 5
    assert sorted(first + second) == sorted(j.id for j in made)  # ties broken by id: no row twice


# -- filters --------------------------------------------------------------------------------------------
def test_filters_by_owner_model_and_upload_dates(app, settings, db, jobs, alice, bob, admin) -> None:  # type: ignore[no-untyped-def]
    a1 = make_job(settings, jobs, alice, "a1.csv", model="churn")
    a2 = make_job(settings, jobs, alice, "a2.csv", model="risk")
    b1 = make_job(settings, jobs, bob, "b1.csv", model="churn")
    # Upload times in UTC; the panel's zone (America/Montevideo, UTC-3) decides the day.
    raw(db, "UPDATE wp_records SET date_up = ? WHERE id = ?", ("2026-03-01 12:00:00.000", a1.id))
    raw(db, "UPDATE wp_records SET date_up = ? WHERE id = ?", ("2026-03-02 02:00:00.000", a2.id))  # 1 March, 23:00 local
    raw(db, "UPDATE wp_records SET date_up = ? WHERE id = ?", ("2026-03-05 12:00:00.000", b1.id))
    boss, _ = signed_in(app, "admin")
    assert job_rows(boss.get(f"/jobs?owner={bob.id}").text) == [b1.id]
    assert job_rows(boss.get("/jobs?model=churn").text) == [b1.id, a1.id]
    assert job_rows(boss.get(f"/jobs?model=churn&owner={alice.id}").text) == [a1.id]
    assert job_rows(boss.get("/jobs?from=2026-03-01&to=2026-03-01").text) == [a2.id, a1.id]
    assert job_rows(boss.get("/jobs?from=2026-03-02").text) == [b1.id]
    assert job_rows(boss.get("/jobs?to=2026-03-04").text) == [a2.id, a1.id]
    # Nonsense dates are ignored, like every other panel parameter.
    assert job_rows(boss.get("/jobs?from=2026-02-30&to=yesterday").text) == [b1.id, a2.id, a1.id]
    page = boss.get(f"/jobs?owner={bob.id}&model=churn").text
    assert "of bob for model churn" in html.unescape(page)
    assert '<option value="churn" selected>' in page

    # A user's own list ignores an owner filter: they only ever see theirs.
    alice_client, _ = signed_in(app, "alice")
    assert job_rows(alice_client.get(f"/jobs?owner={bob.id}").text) == [a2.id, a1.id]
    assert 'id="f-owner"' not in alice_client.get("/jobs").text


# -- bulk actions --------------------------------------------------------------------------------------
def test_bulk_delete_of_selected_rows_confirms_the_count_then_removes_files(app, settings, db, jobs, alice, bob) -> None:  # type: ignore[no-untyped-def]
    mine = [make_job(settings, jobs, alice, f"del-{i}.csv", with_file=True) for i in range(3)]
    keep = make_job(settings, jobs, alice, "keep.csv", with_file=True)
    theirs = make_job(settings, jobs, bob, "bobs.csv", with_file=True)
    client, csrf = signed_in(app, "alice")
    ids = [str(j.id) for j in mine] + [str(theirs.id)]
    form = {"csrf_token": csrf, "action": "delete", "ids": ids, "next": "/jobs?q=del"}
    ask = client.post("/jobs/bulk", data=form)
    assert ask.status_code == 200
    assert "Delete 4 files? Their results are removed too; this cannot be undone." in html.unescape(ask.text)
    assert len(JobList(jobs.db).page(JobFilter(owner_id=None, archived=None))) == 5  # nothing happened yet
    done = client.post("/jobs/bulk", data={**form, "confirmed": "1"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/jobs?q=del"
    page = client.get("/jobs").text
    assert "3 files deleted, with their stored files. 1 file no longer in your list." in flashes_of(page)
    everyone = JobList(jobs.db).page(JobFilter(owner_id=None, archived=None))
    assert [j.id for j in everyone] == [theirs.id, keep.id]  # bob's is untouched
    assert sorted(p.name for p in settings.input_dir.iterdir()) == sorted([keep.path_up, theirs.path_up])


def test_bulk_over_all_matching_the_filter(app, settings, db, jobs, alice, bob, admin) -> None:  # type: ignore[no-untyped-def]
    reports = [make_job(settings, jobs, alice, f"Informe {i}.csv") for i in range(30)]
    other = make_job(settings, jobs, alice, "otro.csv")
    bobs = make_job(settings, jobs, bob, "informe de bob.csv")
    client, csrf = signed_in(app, "alice")
    page = client.get("/jobs?q=informe").text
    assert len(job_rows(page)) == 25 and 'data-total="30"' in page and "Select all 30 matching this filter" in page
    form = {"csrf_token": csrf, "action": "archive", "scope": "all", "q": "informe", "next": "/jobs?q=informe"}
    ask = client.post("/jobs/bulk", data=form)
    assert "Archive 30 files?" in html.unescape(ask.text)
    assert "30 files archived." in flashes_of(client.post("/jobs/bulk", data={**form, "confirmed": "1"}).text)
    archived = JobList(jobs.db).page(JobFilter(owner_id=alice.id, archived=True), limit=100)
    assert {j.id for j in archived} == {j.id for j in reports}
    assert not jobs.get(other.id).archived and not jobs.get(bobs.id).archived  # outside alice's filter

    # An administrator's "all matching" covers every owner the filter does.
    boss, boss_csrf = signed_in(app, "admin")
    form = {"csrf_token": boss_csrf, "action": "unarchive", "scope": "all", "q": "informe", "archived": "1",
            "confirmed": "1"}
    assert "30 files back in the main list." in flashes_of(boss.post("/jobs/bulk", data=form).text)
    assert JobList(jobs.db).count(JobFilter(owner_id=None, archived=True)) == 0


def test_bulk_retry_counts_what_it_skipped(app, settings, db, jobs, alice) -> None:  # type: ignore[no-untyped-def]
    failed = [make_job(settings, jobs, alice, f"f{i}.csv") for i in range(2)]
    waiting = make_job(settings, jobs, alice, "waiting.csv")
    for job in failed:
        fail(jobs, job.id)
    client, csrf = signed_in(app, "alice")
    form = {"csrf_token": csrf, "action": "retry", "ids": [str(j.id) for j in [*failed, waiting]], "confirmed": "1"}
    assert ("2 files queued again. 1 file skipped: only files that ended in ERROR or were cancelled can be retried."
            in flashes_of(client.post("/jobs/bulk", data=form).text))
    assert [jobs.get(j.id).status for j in failed] == [Status.PENDING, Status.PENDING]


def test_bulk_cancel_stops_waiting_and_running_jobs_and_skips_ended_ones(  # type: ignore[no-untyped-def]
        app, settings, db, jobs, alice) -> None:
    waiting = make_job(settings, jobs, alice, "waiting.csv")
    running = make_job(settings, jobs, alice, "running.csv")
    claim = jobs.claim(running.id, "test-worker")
    assert claim is not None
    ended = make_job(settings, jobs, alice, "ended.csv")
    fail(jobs, ended.id)
    client, csrf = signed_in(app, "alice")
    form = {"csrf_token": csrf, "action": "cancel", "ids": [str(j.id) for j in (waiting, running, ended)],
            "confirmed": "1"}
    assert ("2 files cancelled. 1 file skipped: only waiting or running files can be cancelled."
            in flashes_of(client.post("/jobs/bulk", data=form).text))
    assert [jobs.get(j.id).status for j in (waiting, running, ended)] == [Status.CANCELLED, Status.CANCELLED,
                                                                           Status.ERROR]
    assert not jobs.heartbeat(claim, 1, 1)  # the running job's worker is fenced out
    # each cancel is in the audit log as alice's
    from app.core.events.audit import AuditLog
    cancels = [e for e in AuditLog(db).list(limit=50) if e.action == "job.cancel"]
    assert sorted(e.object_id for e in cancels) == sorted([str(waiting.id), str(running.id)])
    assert {e.actor for e in cancels} == {"alice"}


def test_a_running_job_is_skipped_by_bulk_delete(app, settings, db, jobs, alice) -> None:  # type: ignore[no-untyped-def]
    running = make_job(settings, jobs, alice, "running.csv", with_file=True)
    idle = make_job(settings, jobs, alice, "idle.csv", with_file=True)
    assert jobs.claim(running.id, "w") is not None
    client, csrf = signed_in(app, "alice")
    answer = client.post("/jobs/bulk", data={"csrf_token": csrf, "action": "delete", "scope": "all", "confirmed": "1"})
    assert ("1 file deleted, with their stored files. 1 file skipped: being processed right now."
            in flashes_of(answer.text))
    assert jobs.get(running.id) is not None and jobs.get(idle.id) is None
    assert (settings.input_dir / running.path_up).exists()


def test_bulk_refuses_bad_requests_with_a_message(app, settings, db, jobs, alice) -> None:  # type: ignore[no-untyped-def]
    job = make_job(settings, jobs, alice, "x.csv")
    client, csrf = signed_in(app, "alice")
    assert client.post("/jobs/bulk", data={"action": "delete", "ids": [str(job.id)], "confirmed": "1"}).status_code == 403
    answer = client.post("/jobs/bulk", data={"csrf_token": csrf, "action": "explode", "ids": [str(job.id)], "confirmed": "1"})
    assert "Unknown bulk action; choose one of: Retry, Cancel, Archive, Unarchive, Delete." in flashes_of(answer.text)
    answer = client.post("/jobs/bulk", data={"csrf_token": csrf, "action": "delete", "ids": ["abc", "99999999999999999999"]})
    assert any("No files were selected" in f for f in flashes_of(answer.text))
    assert jobs.get(job.id) is not None
    # An open redirect through next= is refused like everywhere else.
    out = client.post("/jobs/bulk", data={"csrf_token": csrf, "action": "archive", "ids": [str(job.id)],
                                          "confirmed": "1", "next": "//evil.example"}, follow_redirects=False)
    assert out.headers["location"] == "/jobs"
    assert set(BULK_ACTIONS) == {"retry", "cancel", "archive", "unarchive", "delete"}


# -- live insertion -----------------------------------------------------------------------------------
def test_updates_hand_over_new_jobs_matching_the_page(app, settings, db, jobs, alice, bob) -> None:  # type: ignore[no-untyped-def]
    first = make_job(settings, jobs, alice, "first.csv")
    client, _ = signed_in(app, "alice")
    page = client.get("/jobs?q=ventas").text
    assert 'data-live-insert="1"' in page and 'data-query="q=ventas"' in page
    newest = int(re.search(r'data-newest-id="(\d+)"', page).group(1))
    assert newest == first.id
    via_api = make_job(settings, jobs, alice, "Ventas API.csv")  # as an API upload would make it
    make_job(settings, jobs, alice, "other.csv")
    make_job(settings, jobs, bob, "ventas de bob.csv")
    body = client.get("/jobs/updates", params={"after": newest, "q": "ventas"}).json()
    assert [j["id"] for j in body["new_jobs"]] == [via_api.id]
    assert f'id="job-{via_api.id}"' in body["new_jobs"][0]["row_html"]
    assert 'class="select-job"' in body["new_jobs"][0]["row_html"]
    # A page sorted otherwise, or a later page, gets the banner instead (no rows handed over).
    assert client.get("/jobs/updates", params={"after": newest, "sort": "file", "dir": "asc"}).json()["new_jobs"] == []
    assert 'data-live-insert=""' in client.get("/jobs?sort=file&dir=asc").text
    assert client.get("/jobs/updates", params={"after": "x"}).json()["new_jobs"] == []


def test_title_counts_running_jobs(app, settings, db, jobs, alice) -> None:  # type: ignore[no-untyped-def]
    one, two = make_job(settings, jobs, alice, "one.csv"), make_job(settings, jobs, alice, "two.csv")
    client, _ = signed_in(app, "alice")
    assert "<title>Your files · Beyond</title>" in client.get("/jobs").text
    jobs.claim(one.id, "w")
    jobs.claim(two.id, "w")
    assert "<title>(2) Your files · Beyond</title>" in client.get("/jobs").text
