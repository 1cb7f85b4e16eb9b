"""The JSON jobs API: submit, list, read, result, retry, archive, delete - and who may see what.
Every test runs on SQLite and on MariaDB (the `engine` fixture)."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from starlette.testclient import TestClient

from app.core.jobs.listing import JobFilter, JobList
from app.core.jobs.records import Status
from app.web import create_app
from tests.conftest import assert_json_error as assert_error
from tests.conftest import basic_auth as basic


@pytest.fixture
def bob(users):  # type: ignore[no-untyped-def]
    return users.create("bob", "bob-password-1")


@pytest.fixture
def process(settings, db):  # type: ignore[no-untyped-def]
    """process(job) -> the job after a real run (the Worker the API and cron use)."""
    from scheduler.worker import Worker

    def run(job):  # type: ignore[no-untyped-def]
        worker = Worker(settings, db)
        return worker.run_claim(worker.claim(job.id))

    return run


def upload(client, headers, content: bytes, name: str = "patients.csv"):  # type: ignore[no-untyped-def]
    return client.post("/api/jobs", headers=headers, files={"file": (name, content, "text/csv")})


def leftovers(settings) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(p.name for p in settings.input_dir.glob("*")) if settings.input_dir.exists() else []


# -- POST /api/jobs ----------------------------------------------------------------------------
def test_submit_creates_a_pending_job(api_client, settings, jobs, alice, bearer, make_csv):  # type: ignore[no-untyped-def]
    content = make_csv(42).read_bytes()
    response = upload(api_client, bearer(alice), content, name="../../etc/março.csv")
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/jobs/{body['id']}"
    assert body["status"] == "PENDING" and body["owner"] == "alice" and body["file_name"] == "março.csv"
    assert body["rows_total"] == 42 and body["file_size"] == len(content) and body["has_result"] is False
    assert body["links"] == {"self": f"/api/jobs/{body['id']}", "result": None, "result_csv": None}
    stored = settings.input_dir / jobs.get(body["id"]).path_up
    assert stored.read_bytes() == content


def test_submit_an_invalid_file_is_422_with_the_problems_and_stores_nothing(  # type: ignore[no-untyped-def]
        api_client, settings, jobs, alice, bearer):
    response = upload(api_client, bearer(alice), b"name,age\nann,3\nbo,4\n")
    body = assert_error(response, 422, "not accepted")
    assert body["total_errors"] >= 1 and body["errors"]
    for problem in body["errors"]:
        assert set(problem) == {"row", "column", "message"} and problem["message"]
    assert leftovers(settings) == [] and JobList(jobs.db).count(JobFilter()) == 0


def test_submit_points_at_the_bad_row_and_column(api_client, alice, bearer, make_csv):  # type: ignore[no-untyped-def]
    lines = make_csv(5).read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index("mean radius")] = "twelve"
    lines[3] = ",".join(cells)
    body = assert_error(upload(api_client, bearer(alice), "\n".join(lines).encode()), 422)
    assert any(p["row"] == 4 and p["column"] == "mean radius" for p in body["errors"]), body


def test_submit_too_large_is_413_and_stores_nothing(settings, db, users, bearer, make_csv):  # type: ignore[no-untyped-def]
    settings = settings.replace(upload_limit=2048)
    alice = users.create("alice", "alice-password-1")
    with TestClient(create_app(settings, db)) as client:
        body = assert_error(upload(client, bearer(alice), make_csv(200).read_bytes()), 413, "2.0 KB")
        assert body["limit_bytes"] == 2048
    assert leftovers(settings) == []


@pytest.mark.parametrize(("kwargs", "words"), [
    ({}, "multipart/form-data"),
    ({"content": b"patient_id\n1\n", "headers": {"content-type": "text/csv"}}, "multipart/form-data"),
    ({"data": {"other": "x"}, "files": {"not_file": ("a.csv", b"x", "text/csv")}}, "No file"),
    ({"content": b"--xyz\r\ngarbage", "headers": {"content-type": "multipart/form-data; boundary=xyz"}}, ""),
])
def test_submit_without_a_file_part_is_400(api_client, settings, alice, bearer, kwargs, words):  # type: ignore[no-untyped-def]
    headers = {**bearer(alice), **kwargs.pop("headers", {})}
    assert_error(api_client.post("/api/jobs", headers=headers, **kwargs), 400, words)
    assert leftovers(settings) == []


def test_submit_without_credentials_is_401_and_stores_nothing(api_client, settings, make_csv):  # type: ignore[no-untyped-def]
    assert_error(upload(api_client, {}, make_csv(5).read_bytes()), 401)
    assert leftovers(settings) == []


def test_submit_with_basic_auth(api_client, alice, make_csv):  # type: ignore[no-untyped-def]
    response = upload(api_client, basic("alice", "alice-password-1"), make_csv(3).read_bytes())
    assert response.status_code == 201 and response.json()["owner"] == "alice"


def test_submit_when_the_model_is_missing_is_503(settings, db, alice, bearer, make_csv, tmp_path):  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings.replace(model_path=tmp_path / "none"), db)) as client:
        assert_error(upload(client, bearer(alice), make_csv(3).read_bytes()), 503, "model")
    assert leftovers(settings) == []


# -- GET /api/jobs ------------------------------------------------------------------------------
def test_list_is_paginated_newest_first(api_client, alice, bearer, submit_job):  # type: ignore[no-untyped-def]
    made = [submit_job(alice, rows=3) for _ in range(5)]
    headers = bearer(alice)
    body = api_client.get("/api/jobs", headers=headers).json()
    assert body["total"] == 5 and body["limit"] == 50 and body["offset"] == 0
    assert [j["id"] for j in body["jobs"]] == [j.id for j in reversed(made)]
    page = api_client.get("/api/jobs?limit=2&offset=2", headers=headers).json()
    assert [j["id"] for j in page["jobs"]] == [made[2].id, made[1].id]
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 2
    assert api_client.get("/api/jobs?offset=99", headers=headers).json()["jobs"] == []
    assert len(api_client.get("/api/jobs?limit=200", headers=headers).json()["jobs"]) == 5


def test_list_filters_by_exact_status_and_archived(api_client, jobs, alice, bearer, submit_job, process):  # type: ignore[no-untyped-def]
    done, waiting, running = process(submit_job(alice)), submit_job(alice), submit_job(alice)
    jobs.claim(running.id, "w")
    headers = bearer(alice)

    def ids(query: str) -> list[int]:
        response = api_client.get("/api/jobs" + query, headers=headers)
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()["jobs"]]

    assert ids("?status=PROCESS%20OK") == [done.id]
    assert ids("?status=IN+PROCESS") == [running.id]
    assert ids("?status=PENDING") == [waiting.id]
    assert ids("?status=ERROR") == []
    jobs.set_archived(done.id, True)
    assert ids("") == [running.id, waiting.id]
    assert ids("?archived=true") == [done.id]
    assert ids("?archived=0&status=PROCESS%20OK") == []


def test_list_search_ignores_case_and_accents_like_the_panel(api_client, settings, jobs, alice, bob, bearer,
                                                            make_csv):  # type: ignore[no-untyped-def]
    from app.core.jobs.submissions import submit_path

    def submit(user, name):  # type: ignore[no-untyped-def]
        return submit_path(settings, jobs, user.id, make_csv(3, name=name))

    accented, plain, other = submit(alice, "Résumé Mars.csv"), submit(alice, "resume-avril.csv"), submit(alice, "Bilan.csv")
    submit(bob, "RESUME bob.csv")
    headers = bearer(alice)

    def listed(query: str) -> tuple[list[int], int]:
        response = api_client.get("/api/jobs" + query, headers=headers)
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()["jobs"]], response.json()["total"]

    assert listed("?search=R%C3%89SUM%C3%89") == ([plain.id, accented.id], 2)  # RÉSUMÉ
    assert listed("?search=resume&limit=1") == ([plain.id], 2)
    assert listed("?search=sume%20m") == ([accented.id], 1)
    assert listed("?search=%25") == ([], 0)  # a literal %, not a wildcard
    model = api_client.get(f"/api/jobs/{other.id}", headers=headers).json()["model"]
    assert listed(f"?model={model}&search=bilan") == ([other.id], 1)
    assert listed("?model=no-such-model") == ([], 0)


@pytest.mark.parametrize(("query", "parameter"), [
    ("limit=abc", "limit"), ("limit=0", "limit"), ("limit=201", "limit"), ("limit=-5", "limit"),
    ("limit=1.5", "limit"), ("offset=-1", "offset"), ("offset=x", "offset"), ("offset=" + "1" * 40, "offset"),
    ("status=BOGUS", "status"), ("status=pending", "status"), ("status=PROCESS_OK", "status"),
    ("archived=maybe", "archived"), ("search=", "search"), ("search=%20", "search"), ("model=", "model"),
    ("search=" + "x" * 256, "search"),
])
def test_list_bad_parameters_are_400_naming_it(api_client, alice, bearer, query, parameter):  # type: ignore[no-untyped-def]
    body = assert_error(api_client.get(f"/api/jobs?{query}", headers=bearer(alice)), 400, f"'{parameter}'")
    assert body["parameter"] == parameter


# -- ownership ---------------------------------------------------------------------------------------
def test_users_see_only_their_own_jobs_and_admins_see_all(api_client, admin, alice, bob, bearer, submit_job):  # type: ignore[no-untyped-def]
    mine, theirs = submit_job(alice), submit_job(bob)
    listed = api_client.get("/api/jobs", headers=bearer(alice)).json()
    assert [j["id"] for j in listed["jobs"]] == [mine.id] and listed["total"] == 1
    everything = api_client.get("/api/jobs", headers=bearer(admin)).json()
    assert {j["id"] for j in everything["jobs"]} == {mine.id, theirs.id}
    assert api_client.get(f"/api/jobs/{theirs.id}", headers=bearer(admin)).json()["owner"] == "bob"


@pytest.mark.parametrize(("method", "suffix"), [
    ("GET", ""), ("GET", "/result"), ("GET", "/result?format=csv"), ("POST", "/retry"), ("POST", "/archive"),
    ("POST", "/unarchive"), ("DELETE", ""),
])
def test_another_users_job_is_404_and_untouched(  # type: ignore[no-untyped-def]
        api_client, settings, jobs, alice, bob, bearer, submit_job, process, method, suffix):
    theirs = process(submit_job(bob))
    unknown = assert_error(api_client.request(method, f"/api/jobs/999999{suffix}", headers=bearer(alice)), 404)
    hidden = assert_error(api_client.request(method, f"/api/jobs/{theirs.id}{suffix}", headers=bearer(alice)), 404)
    # Someone else's job and no job at all read the same, so ids reveal nothing.
    assert hidden["error"].replace(str(theirs.id), "N") == unknown["error"].replace("999999", "N")
    after = jobs.get(theirs.id)
    assert after == theirs
    assert (settings.output_dir / after.path_result).is_file()


# -- GET /api/jobs/{id} ------------------------------------------------------------------------------
def test_get_job_shows_progress_times_and_model(api_client, alice, bearer, submit_job, process):  # type: ignore[no-untyped-def]
    job = submit_job(alice, rows=9)
    headers = bearer(alice)
    waiting = api_client.get(f"/api/jobs/{job.id}", headers=headers).json()
    assert waiting["status"] == "PENDING" and waiting["progress"] == 0 and waiting["started_at"] is None
    process(job)
    done = api_client.get(f"/api/jobs/{job.id}", headers=headers).json()
    assert done["status"] == "PROCESS OK" and done["rows_done"] == done["rows_total"] == 9 and done["progress"] == 1
    assert done["started_at"] and done["finished_at"] and done["duration_seconds"] >= 0
    assert done["model_version"] and done["has_result"] is True
    assert done["links"] == {"self": f"/api/jobs/{job.id}", "result": f"/api/jobs/{job.id}/result",
                             "result_csv": f"/api/jobs/{job.id}/result?format=csv"}


@pytest.mark.parametrize("path", ["/api/jobs/abc", "/api/jobs/-1", "/api/jobs/1.0", "/api/jobs/" + "7" * 25,
                                  "/api/jobs/abc/result", "/api/jobs/abc/retry"])
def test_a_bad_job_id_is_400_naming_it(api_client, alice, bearer, path):  # type: ignore[no-untyped-def]
    method = "POST" if path.endswith("retry") else "GET"
    body = assert_error(api_client.request(method, path, headers=bearer(alice)), 400, "'id'")
    assert body["parameter"] == "id"


# -- GET /api/jobs/{id}/result -------------------------------------------------------------------------
def test_result_xlsx_and_csv(api_client, alice, bearer, submit_job, process):  # type: ignore[no-untyped-def]
    job = process(submit_job(alice, rows=12))
    headers = bearer(alice)
    xlsx = api_client.get(f"/api/jobs/{job.id}/result", headers=headers)
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="in-12-predictions.xlsx"' in xlsx.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("row_id", "patient_id") and rows[0][-3:] == ("prediction", "probability", "row_status")
    assert len(rows) == 13
    as_csv = api_client.get(f"/api/jobs/{job.id}/result?format=csv", headers=headers)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert table[0][-3:] == ["prediction", "probability", "row_status"] and len(table) == 13
    assert [r[-3] for r in table[1:]] == [r[-3] for r in rows[1:]]


@pytest.mark.parametrize("fmt", ["pdf", "XLSX", "xls"])
def test_result_bad_format_is_400(api_client, alice, bearer, submit_job, process, fmt):  # type: ignore[no-untyped-def]
    job = process(submit_job(alice))
    body = assert_error(api_client.get(f"/api/jobs/{job.id}/result?format={fmt}", headers=bearer(alice)), 400)
    assert body["parameter"] == "format"


def test_result_before_it_is_ready_is_409(api_client, jobs, alice, bearer, submit_job):  # type: ignore[no-untyped-def]
    job = submit_job(alice)
    headers = bearer(alice)
    body = assert_error(api_client.get(f"/api/jobs/{job.id}/result", headers=headers), 409, "poll")
    assert body["job_status"] == "PENDING"
    claim = jobs.claim(job.id, "w")
    assert assert_error(api_client.get(f"/api/jobs/{job.id}/result", headers=headers), 409)["job_status"] == "IN PROCESS"
    jobs.fail(claim, "bad luck")
    body = assert_error(api_client.get(f"/api/jobs/{job.id}/result?format=csv", headers=headers), 409, "retry")
    assert body["job_status"] == "ERROR"


def test_result_file_gone_from_disk_is_404(api_client, settings, alice, bearer, submit_job, process):  # type: ignore[no-untyped-def]
    job = process(submit_job(alice))
    (settings.output_dir / job.path_result).unlink()
    assert_error(api_client.get(f"/api/jobs/{job.id}/result", headers=bearer(alice)), 404, "no longer")
    assert api_client.get(f"/api/jobs/{job.id}/result?format=csv", headers=bearer(alice)).status_code == 200


# -- retry / archive / delete ---------------------------------------------------------------------------
def test_retry_puts_an_error_job_back_in_the_queue(api_client, jobs, alice, bearer, submit_job):  # type: ignore[no-untyped-def]
    job = submit_job(alice)
    headers = bearer(alice)
    body = assert_error(api_client.post(f"/api/jobs/{job.id}/retry", headers=headers), 409, "Only a job in ERROR")
    assert body["job_status"] == "PENDING"
    jobs.fail(jobs.claim(job.id, "w"), "bad luck")
    again = api_client.post(f"/api/jobs/{job.id}/retry", headers=headers)
    assert again.status_code == 200
    assert again.json()["status"] == "PENDING" and again.json()["error"] is None and again.json()["attempts"] == 0
    assert jobs.get(job.id).status is Status.PENDING


def test_archive_and_unarchive(api_client, alice, bearer, submit_job):  # type: ignore[no-untyped-def]
    job = submit_job(alice)
    headers = bearer(alice)
    archived = api_client.post(f"/api/jobs/{job.id}/archive", headers=headers)
    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert api_client.get("/api/jobs", headers=headers).json()["total"] == 0
    assert api_client.get("/api/jobs?archived=true", headers=headers).json()["total"] == 1
    back = api_client.post(f"/api/jobs/{job.id}/unarchive", headers=headers)
    assert back.status_code == 200 and back.json()["archived"] is False
    assert api_client.get("/api/jobs", headers=headers).json()["total"] == 1


def test_delete_removes_the_row_the_upload_and_the_results(  # type: ignore[no-untyped-def]
        api_client, settings, jobs, alice, bearer, submit_job, process):
    job = process(submit_job(alice))
    files = [settings.input_dir / job.path_up, settings.output_dir / job.path_result,
             settings.output_dir / job.path_result_csv]
    assert all(f.is_file() for f in files)
    headers = bearer(alice)
    response = api_client.delete(f"/api/jobs/{job.id}", headers=headers)
    assert response.status_code == 200 and response.json() == {"id": job.id, "deleted": True}
    assert jobs.get(job.id) is None and not any(f.exists() for f in files)
    assert_error(api_client.delete(f"/api/jobs/{job.id}", headers=headers), 404)
    assert_error(api_client.get(f"/api/jobs/{job.id}", headers=headers), 404)


def test_delete_while_in_process_is_409(api_client, settings, jobs, alice, bearer, submit_job):  # type: ignore[no-untyped-def]
    job = submit_job(alice)
    jobs.claim(job.id, "w")
    body = assert_error(api_client.delete(f"/api/jobs/{job.id}", headers=bearer(alice)), 409, "being processed")
    assert body["job_status"] == "IN PROCESS"
    assert jobs.get(job.id) is not None and (settings.input_dir / job.path_up).is_file()


def test_wrong_method_is_405_json_listing_the_allowed_ones(api_client, alice, bearer):  # type: ignore[no-untyped-def]
    response = api_client.put("/api/jobs/1", headers=bearer(alice))
    assert_error(response, 405)
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "DELETE"}


def test_huge_but_valid_numbers_are_answered_not_crashed(api_client, alice, bearer):  # type: ignore[no-untyped-def]
    headers = bearer(alice)
    big = "9" * 18  # the largest the API accepts: still fits a signed 64-bit integer
    assert_error(api_client.get(f"/api/jobs/{big}", headers=headers), 404)
    page = api_client.get(f"/api/jobs?offset={big}", headers=headers)
    assert page.status_code == 200 and page.json()["jobs"] == []


def test_result_download_name_survives_quotes_and_accents(  # type: ignore[no-untyped-def]
        api_client, settings, jobs, alice, bearer, make_csv, process):
    content = make_csv(3).read_bytes()
    created = upload(api_client, bearer(alice), content, name='março "final".csv')
    assert created.status_code == 201
    job = process(jobs.get(created.json()["id"]))
    response = api_client.get(f"/api/jobs/{job.id}/result", headers=bearer(alice))
    assert response.status_code == 200
    # (the client sends the quote as %22, as browsers do; either way it stays inside the header value)
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename*=utf-8''mar%C3%A7o%20") and '"' not in disposition
    assert disposition.endswith("-predictions.xlsx")
