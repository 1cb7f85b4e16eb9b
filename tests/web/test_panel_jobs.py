"""The job panel over HTTP on SQLite and MariaDB: upload (accepted, each kind of rejection, too
large, CSRF), the list (owner/admin scope, filters, search, archive view, 10,000 jobs), live
updates, downloads and the actions, and other people's job ids (404 everywhere)."""

from __future__ import annotations

import csv
import html
import io
import re
import time
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from starlette.testclient import TestClient

from app.core.jobs.listing import JobFilter, JobList
from app.core.jobs.records import Status
from app.core.jobs.submissions import submit_path
from app.web import create_app
from scheduler.worker import Worker
from tests.conftest import breast_cancer_frame
from tests.hostile_cases import HOSTILE_CASES, HOSTILE_DIR
from tests.panel_helpers import bulk_insert_jobs, flashes_of, job_rows, login, problems_of

XSS_NAME = "<script>alert(1)</script>.csv"


@pytest.fixture
def bob(users):  # type: ignore[no-untyped-def]
    return users.create("bob", "bob-password-1")


@pytest.fixture
def as_alice(client, alice):  # type: ignore[no-untyped-def]
    """(client signed in as alice, her CSRF token)."""
    return client, login(client, "alice", "alice-password-1")


def upload(client: TestClient, csrf: str | None, name: str, content: bytes, **kwargs):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf} if csrf is not None else {}
    return client.post("/jobs/upload", data=data, files={"file": (name, content, "text/csv")}, **kwargs)


def stored_files(settings) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(p.name for p in settings.input_dir.iterdir()) if settings.input_dir.exists() else []


def submit(settings, jobs, user, make_csv, rows: int = 20, name: str = "in.csv"):  # type: ignore[no-untyped-def]
    return submit_path(settings, jobs, user.id, make_csv(rows, name=name))


def process_all(settings, db) -> None:  # type: ignore[no-untyped-def]
    Worker(settings, db).drain()


# -- upload ---------------------------------------------------------------------------------------------
def test_upload_accepts_a_valid_csv_and_shows_it_pending(as_alice, settings, jobs, make_csv) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    content = make_csv(40).read_bytes()
    response = upload(client, csrf, "Ventas marzo.csv", content, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/jobs#job-")
    [job] = JobList(jobs.db).page(JobFilter(owner_id=None))
    assert job.status is Status.PENDING and job.file_name == "Ventas marzo.csv" and job.rows_total == 40
    # Stored under a generated name, never the user's, and byte for byte.
    assert stored_files(settings) == [job.path_up] and job.path_up.startswith("upload-")
    assert (settings.input_dir / job.path_up).read_bytes() == content
    page = client.get("/jobs").text
    assert "“Ventas marzo.csv” accepted (40 rows)" in " ".join(flashes_of(page))
    assert job_rows(page) == [job.id]
    assert 'data-status="PENDING"' in page and ">PENDING</span>" in page
    assert "0 / 40 rows" in page


@pytest.mark.parametrize("case", [c for c in HOSTILE_CASES if not c.accepted], ids=lambda c: c.filename)
def test_each_kind_of_bad_file_is_rejected_with_its_problem_and_nothing_stored(as_alice, settings, jobs, case) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    response = upload(client, csrf, case.filename, (HOSTILE_DIR / case.filename).read_bytes())
    assert response.status_code == 422
    messages = [m for _, _, m in problems_of(response.text)]
    assert any(case.message in m for m in messages), (case.message, messages)
    assert "Nothing was stored" in response.text
    assert JobList(jobs.db).count(JobFilter(owner_id=None)) == 0 and stored_files(settings) == []


@pytest.mark.parametrize("case", [c for c in HOSTILE_CASES if c.accepted], ids=lambda c: c.filename)
def test_every_accepted_format_becomes_a_job(as_alice, jobs, case) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    response = upload(client, csrf, case.filename, (HOSTILE_DIR / case.filename).read_bytes(), follow_redirects=False)
    assert response.status_code == 303, problems_of(response.text)
    assert JobList(jobs.db).count(JobFilter(owner_id=None)) == 1


def test_problems_name_row_and_column_first_20_and_the_total(as_alice, settings, jobs) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    frame_csv = io.StringIO()
    frame = breast_cancer_frame(30)
    frame["mean area"] = "n/a?"  # 30 bad cells, rows 2..31
    frame.to_csv(frame_csv, index=False)
    response = upload(client, csrf, "bad.csv", frame_csv.getvalue().encode())
    assert response.status_code == 422
    rows = problems_of(response.text)
    assert len(rows) == 20
    assert rows[0] == ("2", "mean area", "Row 2, column 'mean area': 'n/a?' is not a number.")
    assert rows[19][0] == "21"
    assert "Showing the first 20 of 30 problems." in response.text
    assert "“bad.csv”" in response.text and "30 problems found" in response.text
    missing = upload(client, csrf, "few.csv", b"patient,mean radius\nP1,1\n")
    first = problems_of(missing.text)[0]
    assert first[0] == "1" and first[1] == "mean texture" and "Missing column 'mean texture'" in first[2]
    assert JobList(jobs.db).count(JobFilter(owner_id=None)) == 0 and stored_files(settings) == []


def test_oversize_upload_is_413_and_leaves_nothing(make_settings, engine, db, alice, jobs, make_csv) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(engine, UPLOAD_LIMIT="20K")
    with TestClient(create_app(settings, db)) as client:
        csrf = login(client, "alice", "alice-password-1")
        big = make_csv(200).read_bytes()  # ~45 KB
        assert len(big) > 20 * 1024
        response = upload(client, csrf, "big.csv", big)  # caught while streaming
        assert response.status_code == 413
        assert "larger than the upload limit of 20.0 KB" in response.text
        huge = upload(client, csrf, "huge.csv", big * 10)  # refused on Content-Length alone
        assert huge.status_code == 413
        assert 'data-limit="20480"' in response.text  # the page checks the size before sending too
    assert JobList(jobs.db).count(JobFilter(owner_id=None)) == 0 and stored_files(settings) == []


def test_upload_without_csrf_is_403_and_discards_the_file(as_alice, settings, jobs, make_csv) -> None:  # type: ignore[no-untyped-def]
    client, _ = as_alice
    for token in (None, "forged"):
        response = upload(client, token, "a.csv", make_csv(10).read_bytes())
        assert response.status_code == 403 and "CSRF" in response.text
    assert JobList(jobs.db).count(JobFilter(owner_id=None)) == 0 and stored_files(settings) == []


def test_upload_without_a_file_or_signed_out(client, as_alice, settings, jobs, make_csv) -> None:  # type: ignore[no-untyped-def]
    signed_in, csrf = as_alice
    nothing = signed_in.post("/jobs/upload", data={"csrf_token": csrf}, files={"other": ("x.txt", b"x")})
    assert nothing.status_code == 400 and "No file was sent" in nothing.text
    anonymous = TestClient(client.app)
    response = upload(anonymous, "x", "a.csv", make_csv(5).read_bytes(), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert JobList(jobs.db).count(JobFilter(owner_id=None)) == 0 and stored_files(settings) == []


def test_file_names_are_escaped_everywhere(as_alice, jobs, alice, make_csv) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    # Through an upload the name loses everything up to its last "/" (it is a path to the
    # browser), and what is left is still shown as text.
    uploaded = upload(client, csrf, XSS_NAME, make_csv(5).read_bytes())
    assert "script&gt;.csv" in uploaded.text and "<script>alert" not in uploaded.text
    # The full name, as another entrance (CLI, API) could store it:
    job = jobs.create(alice.id, XSS_NAME, "upload-x.csv", 10, 1)
    page = client.get("/jobs").text
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in page
    rejected = upload(client, csrf, "<img src=x onerror=alert(1)>.csv", b"<b>x</b>,y\n1,2\n")
    assert rejected.status_code == 422
    assert "<img src=x" not in rejected.text and "<b>x</b>" not in rejected.text
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in rejected.text
    updates = client.get("/jobs/updates").json()
    item = [j for j in updates["jobs"] if j["id"] == job.id][0]
    assert "<script>alert(1)" not in item["row_html"] and "&lt;script&gt;" in item["row_html"]
    assert item["file_name"] == XSS_NAME  # JSON carries the real name; the page sets it as text


# -- the list ------------------------------------------------------------------------------------------------
def test_users_see_their_own_jobs_admins_see_all_with_owner(app, settings, jobs, make_csv, alice, bob, admin) -> None:  # type: ignore[no-untyped-def]
    a = submit(settings, jobs, alice, make_csv, name="alice-file.csv")
    b = submit(settings, jobs, bob, make_csv, name="bob-file.csv")
    alice_client = TestClient(app)
    login(alice_client, "alice", "alice-password-1")
    page = alice_client.get("/jobs").text
    assert job_rows(page) == [a.id] and "bob-file.csv" not in page
    assert "data-sort=\"owner\"" not in page and "Your files" in page
    admin_client = TestClient(app)
    login(admin_client, "admin", "admin-password-1")
    page = admin_client.get("/jobs").text
    assert job_rows(page) == [b.id, a.id]  # newest first
    assert "data-sort=\"owner\"" in page and "All files" in page
    assert '<td data-label="Owner">bob</td>' in page


def test_filter_search_and_archived_view(as_alice, settings, db, jobs, make_csv, alice) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    first = submit(settings, jobs, alice, make_csv, name="report_2024%.csv")
    second = submit(settings, jobs, alice, make_csv, name="report-2025.csv")
    third = submit(settings, jobs, alice, make_csv, name="other.csv")
    claim = jobs.claim_next("test-worker")
    assert claim.job.id == first.id
    jobs.fail(claim, "boom")
    assert job_rows(client.get("/jobs?status=ERROR").text) == [first.id]
    assert job_rows(client.get("/jobs?status=PENDING").text) == [third.id, second.id]
    assert job_rows(client.get("/jobs?status=nonsense").text) == [third.id, second.id, first.id]
    assert job_rows(client.get("/jobs?q=report").text) == [second.id, first.id]
    assert job_rows(client.get("/jobs", params={"q": "2024%"}).text) == [first.id]  # % is literal
    assert job_rows(client.get("/jobs", params={"q": "report_"}).text) == [first.id]  # _ is literal
    page = client.get("/jobs?q=%3Cb%3E").text
    assert "matching “&lt;b&gt;”" in page and "No files match." in page

    archived = client.post(f"/jobs/{third.id}/archive", data={"csrf_token": csrf, "next": "/jobs?status=PENDING"},
                           follow_redirects=False)
    assert archived.status_code == 303 and archived.headers["location"] == "/jobs?status=PENDING"
    assert job_rows(client.get("/jobs").text) == [second.id, first.id]
    view = client.get("/jobs?archived=1").text
    assert job_rows(view) == [third.id] and "Unarchive" in view and "Back to current files" in view
    client.post(f"/jobs/{third.id}/unarchive", data={"csrf_token": csrf})
    assert job_rows(client.get("/jobs").text) == [third.id, second.id, first.id]
    assert job_rows(client.get("/jobs?archived=1").text) == []


def test_status_counts_and_times_in_the_configured_zone(make_settings, engine, db, alice, jobs, make_csv) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(engine, TIME_ZONE="Asia/Tokyo")
    job = submit(settings, jobs, alice, make_csv)
    with TestClient(create_app(settings, db)) as client:
        login(client, "alice", "alice-password-1")
        page = client.get("/jobs").text
    tokyo = job.date_up.astimezone(settings.zone)
    assert f'title="{tokyo:%Y-%m-%d %H:%M:%S}">{tokyo:%Y-%m-%d} <span class="clock">{tokyo:%H:%M}</span></time>' in page
    assert "times shown in Asia/Tokyo" in page
    assert re.search(r'PENDING <span class="count">1</span>', page)


@pytest.mark.timing
def test_pagination_stays_fast_with_10000_jobs(app, db, alice, bob, admin) -> None:  # type: ignore[no-untyped-def]
    bulk_insert_jobs(db, alice.id, 10_000)
    bulk_insert_jobs(db, bob.id, 30, file_name="bob.csv")
    client = TestClient(app)
    login(client, "alice", "alice-password-1")
    timings = {}
    for page_number in (1, 2, 200, 400):
        started = time.perf_counter()
        response = client.get(f"/jobs?page={page_number}")
        timings[page_number] = time.perf_counter() - started
        assert response.status_code == 200
        ids = job_rows(response.text)
        assert len(ids) == 25 and ids == sorted(ids, reverse=True)
        assert f"page {page_number} of 400" in response.text
    assert max(timings.values()) < 1.5, timings
    last = client.get("/jobs?page=999").text  # past the end: the last page
    assert "page 400 of 400" in last and len(job_rows(last)) == 25
    assert 'rel="next"' not in last and 'rel="prev"' in last
    started = time.perf_counter()
    found = client.get("/jobs?q=bulk-09999").text
    assert time.perf_counter() - started < 1.5 and len(job_rows(found)) == 1
    started = time.perf_counter()
    assert client.get("/jobs/updates").status_code == 200
    assert time.perf_counter() - started < 1.5
    boss = TestClient(app)
    login(boss, "admin", "admin-password-1")
    started = time.perf_counter()
    page = boss.get("/jobs?page=401").text
    assert time.perf_counter() - started < 1.5 and "page 401 of 402" in page


# -- live updates -------------------------------------------------------------------------------------------------
def test_updates_report_progress_and_finished_jobs(as_alice, settings, db, jobs, make_csv, alice, bob) -> None:  # type: ignore[no-untyped-def]
    client, _ = as_alice
    mine = submit(settings, jobs, alice, make_csv, rows=200)
    theirs = submit(settings, jobs, bob, make_csv)
    page = client.get("/jobs").text
    since = html.unescape(re.search(r'data-since="([^"]+)"', page).group(1))
    first = client.get("/jobs/updates", params={"since": since})
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    body = first.json()
    assert [j["id"] for j in body["jobs"]] == [mine.id]  # never bob's
    assert body["finished"] == [] and body["newest_id"] == mine.id
    assert f'id="job-{mine.id}"' in body["jobs"][0]["row_html"]

    claim = jobs.claim_next("w")
    assert claim.job.id == mine.id
    jobs.heartbeat(claim, 80, 200)
    running = client.get("/jobs/updates", params={"since": body["now"]}).json()
    [item] = running["jobs"]
    assert item["status"] == "IN PROCESS" and item["rows_done"] == 80 and item["rows_total"] == 200
    assert item["display"]["rows"] == "80 / 200" and item["display"]["started"]
    assert item["display"]["duration"].endswith("s")
    assert 'value="80"' in item["row_html"] and 'max="200"' in item["row_html"]

    jobs.complete(claim, "x.xlsx", "x.csv", 200, "v1")
    done = client.get("/jobs/updates", params={"since": running["now"]}).json()
    assert [f["id"] for f in done["finished"]] == [mine.id]
    assert done["finished"][0]["status"] == "PROCESS OK"
    assert done["finished"][0]["result_url"] == f"/jobs/{mine.id}/result.xlsx"
    assert "Download .xlsx" in done["jobs"][0]["row_html"]
    assert done["counts"] == {"PENDING": 0, "IN PROCESS": 0, "PROCESS OK": 1, "ERROR": 0, "CANCELLED": 0}
    later = client.get("/jobs/updates", params={"since": done["now"]}).json()
    assert later["finished"] == [] and later["jobs"] == []
    assert theirs.id not in [j["id"] for j in later["jobs"]]
    assert client.get("/jobs/updates", params={"since": "garbage"}).status_code == 200


def test_admin_updates_cover_everyone_but_notices_only_their_own(app, settings, db, jobs, make_csv, alice, admin) -> None:  # type: ignore[no-untyped-def]
    submit(settings, jobs, alice, make_csv)
    boss = TestClient(app)
    login(boss, "admin", "admin-password-1")
    before = boss.get("/jobs/updates").json()
    assert len(before["jobs"]) == 1
    claim = jobs.claim_next("w")
    jobs.fail(claim, "model exploded <b>")
    after = boss.get("/jobs/updates", params={"since": before["now"]}).json()
    assert [j["status"] for j in after["jobs"]] == ["ERROR"] and after["finished"] == []
    assert "model exploded &lt;b&gt;" in after["jobs"][0]["row_html"]


# -- downloads ------------------------------------------------------------------------------------------------------
def test_downloads_of_a_processed_job(as_alice, settings, db, jobs, make_csv) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    content = make_csv(30).read_bytes()
    upload(client, csrf, "Ñandú; v2.csv", content)
    [job] = JobList(jobs.db).page(JobFilter(owner_id=None))
    pending = client.get(f"/jobs/{job.id}/result.xlsx")
    assert pending.status_code == 409 and "has no result yet" in pending.text and "PENDING" in pending.text
    assert client.get(f"/jobs/{job.id}/result.csv").status_code == 409
    process_all(settings, db)
    assert jobs.get(job.id).status is Status.PROCESS_OK

    xlsx = client.get(f"/jobs/{job.id}/result.xlsx")
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = xlsx.headers["content-disposition"]
    assert disposition == ("attachment; filename=\"Nandu_ v2-result.xlsx\"; "
                           "filename*=UTF-8''%C3%91and%C3%BA_%20v2-result.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:2] == ("row_id", "patient_id") and "prediction" in rows[0] and len(rows) == 31
    book.close()

    result_csv = client.get(f"/jobs/{job.id}/result.csv")
    assert result_csv.status_code == 200 and result_csv.headers["content-type"].startswith("text/csv")
    parsed = list(csv.reader(io.StringIO(result_csv.content.decode("utf-8-sig"))))
    assert parsed[0][-3:] == ["prediction", "probability", "row_status"] and len(parsed) == 31
    original = client.get(f"/jobs/{job.id}/original.csv")
    assert original.content == content
    assert "filename*=UTF-8''%C3%91and%C3%BA_%20v2.csv" in original.headers["content-disposition"]
    page = client.get("/jobs").text
    assert f'href="/jobs/{job.id}/result.xlsx"' in page and "PROCESS OK" in page


def test_download_names_are_safe_in_a_header() -> None:
    from app.web.panel.jobs import content_disposition, download_name

    assert download_name("ventas.CSV", "-result.xlsx") == "ventas-result.xlsx"
    assert download_name('a"b\\c/d:e\r\nX-Evil: 1.csv', ".csv") == "a_b_c_d_e_X-Evil_ 1.csv"
    assert download_name("...", "-result.csv") == "result-result.csv"
    header = content_disposition('naïve "quoted"\r\n.csv')
    assert "\r" not in header and "\n" not in header and header.count('"') == 2
    assert header.startswith('attachment; filename="naive _quoted_')


def test_missing_files_and_unknown_ids_are_404(as_alice, settings, jobs, make_csv, alice) -> None:  # type: ignore[no-untyped-def]
    client, _ = as_alice
    job = submit(settings, jobs, alice, make_csv)
    (settings.input_dir / job.path_up).unlink()
    gone = client.get(f"/jobs/{job.id}/original.csv")
    assert gone.status_code == 404 and "no longer stored" in gone.text
    assert client.get("/jobs/999999/original.csv").status_code == 404
    assert client.get("/jobs/abc/original.csv").status_code == 404


def test_another_users_job_is_404_everywhere(as_alice, settings, db, jobs, make_csv, bob) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    theirs = submit(settings, jobs, bob, make_csv, name="secret-plan.csv")
    process_all(settings, db)
    for path in ("result.xlsx", "result.csv", "original.csv"):
        response = client.get(f"/jobs/{theirs.id}/{path}")
        assert response.status_code == 404 and "secret-plan" not in response.text, path
    for action in ("retry", "archive", "unarchive", "delete"):
        response = client.post(f"/jobs/{theirs.id}/{action}", data={"csrf_token": csrf})
        assert response.status_code == 404, action
    assert jobs.get(theirs.id) is not None and not jobs.get(theirs.id).archived
    assert "secret-plan" not in client.get("/jobs").text
    assert "secret-plan" not in client.get("/jobs/updates", params={"since": "2000-01-01T00:00:00"}).text


def test_admin_may_act_on_anyones_job(app, settings, db, jobs, make_csv, alice, admin) -> None:  # type: ignore[no-untyped-def]
    job = submit(settings, jobs, alice, make_csv)
    process_all(settings, db)
    boss = TestClient(app)
    csrf = login(boss, "admin", "admin-password-1")
    assert boss.get(f"/jobs/{job.id}/result.xlsx").status_code == 200
    assert boss.post(f"/jobs/{job.id}/archive", data={"csrf_token": csrf}).status_code == 200
    assert jobs.get(job.id).archived


# -- actions --------------------------------------------------------------------------------------------------------
def test_retry_only_for_failed_jobs(as_alice, settings, db, jobs, make_csv, alice) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    job = submit(settings, jobs, alice, make_csv)
    not_failed = client.post(f"/jobs/{job.id}/retry", data={"csrf_token": csrf})
    assert "only files that ended in ERROR or were cancelled can be retried" in not_failed.text
    claim = jobs.claim_next("w")
    jobs.fail(claim, "disk full")
    page = client.get("/jobs").text
    assert "disk full" in page and f'action="/jobs/{job.id}/retry"' in page
    assert client.post(f"/jobs/{job.id}/retry").status_code == 403  # CSRF
    assert jobs.get(job.id).status is Status.ERROR
    done = client.post(f"/jobs/{job.id}/retry", data={"csrf_token": csrf})
    assert done.status_code == 200 and "was put back in the queue" in done.text
    again = jobs.get(job.id)
    assert again.status is Status.PENDING and again.error_message is None and again.attempts == 0
    process_all(settings, db)
    assert jobs.get(job.id).status is Status.PROCESS_OK


def test_delete_removes_the_row_and_every_file(as_alice, settings, db, jobs, make_csv, alice) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    job = submit(settings, jobs, alice, make_csv)
    process_all(settings, db)
    done = jobs.get(job.id)
    files = [settings.input_dir / done.path_up, settings.output_dir / done.path_result,
             settings.output_dir / done.path_result_csv]
    assert all(p.is_file() for p in files)
    assert client.post(f"/jobs/{job.id}/delete").status_code == 403
    response = client.post(f"/jobs/{job.id}/delete", data={"csrf_token": csrf, "next": "https://evil.example/"},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/jobs"
    assert jobs.get(job.id) is None and not any(p.exists() for p in files)
    assert "and its files were deleted" in " ".join(flashes_of(client.get("/jobs").text))
    assert client.post(f"/jobs/{job.id}/delete", data={"csrf_token": csrf}).status_code == 404


def test_a_running_job_cannot_be_deleted(as_alice, settings, jobs, make_csv, alice) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    job = submit(settings, jobs, alice, make_csv)
    claim = jobs.claim_next("w")
    response = client.post(f"/jobs/{job.id}/delete", data={"csrf_token": csrf})
    assert response.status_code == 200
    assert "is being processed right now and cannot be deleted" in " ".join(flashes_of(response.text))
    assert jobs.get(job.id).status is Status.IN_PROCESS
    assert (settings.input_dir / job.path_up).is_file()
    jobs.fail(claim, "x")
    client.post(f"/jobs/{job.id}/delete", data={"csrf_token": csrf})
    assert jobs.get(job.id) is None


def test_every_post_needs_the_csrf_token(app, settings, jobs, make_csv, db, admin, alice) -> None:  # type: ignore[no-untyped-def]
    from app.core.accounts.tokens import Tokens

    job = submit(settings, jobs, alice, make_csv)
    _, token_id = Tokens(db).create(admin.id, "t")
    client = TestClient(app)
    login(client, "admin", "admin-password-1")
    posts = [f"/jobs/{job.id}/{action}" for action in ("retry", "archive", "unarchive", "delete")] + [
        "/logout", "/account", "/tokens", f"/tokens/{token_id}/revoke", "/admin/users",
        f"/admin/users/{alice.id}/disable", f"/admin/users/{alice.id}/enable", f"/admin/users/{alice.id}/password",
    ]
    for path in posts:
        for data in ({}, {"csrf_token": "forged"}):
            response = client.post(path, data={**data, "password": "new-password-1", "name": "x", "username": "eve"})
            assert response.status_code == 403, (path, data)
    upload_response = upload(client, None, "a.csv", make_csv(5).read_bytes())
    assert upload_response.status_code == 403
    assert jobs.get(job.id) is not None and Tokens(db).list_for(admin.id)[0].revoked_at is None
    assert client.get("/jobs", follow_redirects=False).status_code == 200  # not even signed out


def test_get_never_changes_state(as_alice, settings, jobs, make_csv, alice) -> None:  # type: ignore[no-untyped-def]
    client, _ = as_alice
    job = submit(settings, jobs, alice, make_csv)
    for action in ("retry", "archive", "unarchive", "delete"):
        assert client.get(f"/jobs/{job.id}/{action}").status_code == 405
    again = jobs.get(job.id)
    assert again is not None and again.status is Status.PENDING and not again.archived


def test_pages_carry_security_headers_and_no_inline_script(as_alice) -> None:  # type: ignore[no-untyped-def]
    client, _ = as_alice
    for path in ("/jobs", "/tokens", "/account", "/login"):
        response = client.get(path)
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        assert response.headers["cache-control"] == "no-store"
        assert re.search(r"<script(?![^>]*\bsrc=)", response.text) is None, path  # every script is a file
        assert " style=" not in response.text and "<style" not in response.text, path
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/app.css").status_code == 200


def test_error_pages_for_panel_routes_are_html(as_alice) -> None:  # type: ignore[no-untyped-def]
    client, _ = as_alice
    response = client.get("/jobs/424242/result.xlsx")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert "There is no such file in your list." in response.text


def test_a_processed_job_shows_every_row_done(as_alice, settings, db, jobs, make_csv, alice) -> None:  # type: ignore[no-untyped-def]
    client, _ = as_alice
    small_chunks = settings.replace(chunk_rows=100)
    job = submit(small_chunks, jobs, alice, make_csv, rows=500)
    process_all(small_chunks, db)
    final = jobs.get(job.id)
    assert final.status is Status.PROCESS_OK and final.rows_done == 500
    page = client.get("/jobs").text
    assert "500 / 500 rows" in page and 'value="500"' in page and 'max="500"' in page


def test_upload_names_with_paths_are_reduced_to_the_base_name(as_alice, jobs, make_csv) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    upload(client, csrf, "../../etc/passwd.csv", make_csv(5).read_bytes())
    upload(client, csrf, "C:\\Users\\x\\datos.csv", make_csv(5).read_bytes())
    names = sorted(j.file_name for j in JobList(jobs.db).page(JobFilter(owner_id=None)))
    assert names == ["datos.csv", "passwd.csv"]
    job = [j for j in JobList(jobs.db).page(JobFilter(owner_id=None)) if j.file_name == "datos.csv"][0]
    assert not Path(job.path_up).is_absolute() and "/" not in job.path_up
    assert isinstance(job.date_up, datetime)
