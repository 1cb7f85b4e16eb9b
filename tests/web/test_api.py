"""The article's endpoints over the API: health at /, credentials, /process_file, /process_all.
Every test runs on SQLite and on MariaDB (the `engine` fixture)."""

from __future__ import annotations

import base64
from datetime import datetime

import pytest
from starlette.testclient import TestClient

from app.core.accounts.tokens import Tokens
from app.core.jobs.records import Status
from app.web import create_app
from tests.conftest import assert_json_error as assert_error
from tests.conftest import basic_auth as basic
from tests.conftest import free_port
from tests.support.sql import raw

PROTECTED = [
    ("GET", "/process_file?id=1"), ("POST", "/process_file?id=1"), ("GET", "/process_all"), ("POST", "/process_all"),
    ("GET", "/api/jobs"), ("POST", "/api/jobs"), ("GET", "/api/jobs/1"), ("DELETE", "/api/jobs/1"),
    ("GET", "/api/jobs/1/result"), ("POST", "/api/jobs/1/retry"), ("POST", "/api/jobs/1/archive"),
    ("POST", "/api/jobs/1/unarchive"),
]


# -- health ----------------------------------------------------------------------------------
def test_health_needs_no_credentials(api_client, engine):  # type: ignore[no-untyped-def]
    response = api_client.get("/")
    assert response.status_code == 200
    body = response.json()
    assert body["MySAMPLE"] == "It works!"
    assert body["database"] == "ok" and body["database_engine"] == engine
    assert body["version"] and body["model_version"]


def test_health_is_503_with_the_same_shape_when_the_database_is_down(engine, make_settings, tmp_path):  # type: ignore[no-untyped-def]
    if engine == "sqlite":
        settings = make_settings("sqlite", SQLITE_PATH=str(tmp_path))  # a directory: cannot be opened
    else:
        settings = make_settings("mysql", PORT=str(free_port()))  # nothing listens there
    with TestClient(create_app(settings)) as client:
        response = client.get("/")
        assert response.status_code == 503
        body = response.json()
        assert body["MySAMPLE"] == "It works!" and body["database"] == "unavailable"
        assert body["database_engine"] == engine
        # Authenticated calls cannot even check the token: 503 JSON, not a 500.
        down = client.get("/api/jobs", headers={"Authorization": "Bearer byd_whatever"})
        assert_error(down, 503, "database")
        assert down.headers["retry-after"]


def test_health_reports_a_missing_model_as_null(settings, db, tmp_path):  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings.replace(model_path=tmp_path / "nothing"), db)) as client:
        body = client.get("/").json()
    assert body["database"] == "ok" and body["model_version"] is None


# -- credentials -------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_credentials_is_401_json_with_www_authenticate(api_client, method, path):  # type: ignore[no-untyped-def]
    response = api_client.request(method, path)
    assert_error(response, 401, "Bearer")
    # Bearer only: a Basic challenge would open the browser's own password prompt.
    assert response.headers["www-authenticate"] == 'Bearer realm="beyond"'


@pytest.mark.parametrize("header", [
    "Bearer byd_not-a-real-token", "Bearer ", "Bearer " + "x" * 500, "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon").decode(), "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
    "Digest username=admin", "admin-password-1",
])
def test_bad_credentials_are_401(api_client, admin, header):  # type: ignore[no-untyped-def]
    assert_error(api_client.get("/process_all", headers={"Authorization": header}), 401)


def test_basic_and_bearer_both_work_and_a_revoked_token_stops(api_client, admin, db):  # type: ignore[no-untyped-def]
    assert api_client.get("/process_all", headers=basic("admin", "admin-password-1")).status_code == 200
    assert_error(api_client.get("/process_all", headers=basic("admin", "wrong-password")), 401)
    tokens = Tokens(db)
    token, token_id = tokens.create(admin.id, "ci")
    headers = {"Authorization": f"Bearer {token}"}
    assert api_client.get("/process_all", headers=headers).status_code == 200
    assert tokens.list_for(admin.id)[0].last_used_at is not None
    assert tokens.revoke(token_id, admin.id)
    assert_error(api_client.get("/process_all", headers=headers), 401)


def test_a_disabled_user_token_is_refused(api_client, alice, users, bearer):  # type: ignore[no-untyped-def]
    headers = bearer(alice)
    assert api_client.get("/api/jobs", headers=headers).status_code == 200
    users.set_active(alice.id, False)
    assert_error(api_client.get("/api/jobs", headers=headers), 401)


@pytest.mark.parametrize("path", ["/process_file?id=1", "/process_all"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_process_endpoints_need_an_admin(api_client, alice, bearer, method, path):  # type: ignore[no-untyped-def]
    assert_error(api_client.request(method, path, headers=bearer(alice)), 403, "administrator")
    assert_error(api_client.request(method, path, headers=basic("alice", "alice-password-1")), 403)


@pytest.mark.parametrize("path", ["/process_file?id=1", "/process_all"])
@pytest.mark.parametrize("sent", [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"},
                                  {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"}],
                         ids=["fetch-site", "foreign-origin", "null-origin", "fetch-site-wins"])
def test_process_endpoints_refuse_cross_site_requests(api_client, admin, db, path, sent):  # type: ignore[no-untyped-def]
    # Credentials a browser would add by itself (saved Basic ones) do not help another site.
    refused = api_client.get(path, headers={**basic("admin", "admin-password-1"), **sent})
    assert_error(refused, 403, "another site")
    assert "www-authenticate" not in refused.headers
    assert raw(db, "SELECT action FROM audit_log WHERE action IN ('job.process', 'queue.process')") == []  # nothing ran
    # The same request from this site's own pages, or from a program, is answered.
    for own in ({"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}, {"Sec-Fetch-Site": "none"}, {}):
        answer = api_client.get("/process_all", headers={**basic("admin", "admin-password-1"), **own})
        assert answer.status_code == 200, own


# -- /process_file -------------------------------------------------------------------------------
@pytest.mark.procs
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_process_file_runs_the_job_and_answers_the_article_shape(  # type: ignore[no-untyped-def]
        api_client, settings, jobs, admin, alice, bearer, submit_job, method):
    job = submit_job(alice, rows=37)
    response = api_client.request(method, f"/process_file?id={job.id}", headers=bearer(admin))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {"result": "PROCESS OK: 37 rows", "Start": body["Start"], "End": body["End"], "id": job.id,
                    "status": "PROCESS OK"}
    start, end = datetime.fromisoformat(body["Start"]), datetime.fromisoformat(body["End"])
    assert start.tzinfo is not None and start <= end
    done = jobs.get(job.id)
    assert done.status is Status.PROCESS_OK and done.rows_done == 37
    assert (settings.output_dir / done.path_result).is_file()
    assert (settings.output_dir / done.path_result_csv).is_file()


@pytest.mark.parametrize("query", ["", "?id=", "?id=abc", "?id=-1", "?id=1.5", "?id=%201", "?id=1e3",
                                   "?id=" + "9" * 30, "?id=%D9%A7"])
def test_process_file_with_a_missing_or_bad_id_is_400(api_client, admin, bearer, query):  # type: ignore[no-untyped-def]
    body = assert_error(api_client.get("/process_file" + query, headers=bearer(admin)), 400, "'id'")
    assert body["parameter"] == "id"


def test_process_file_bad_force_is_400(api_client, admin, alice, bearer, submit_job):  # type: ignore[no-untyped-def]
    job = submit_job(alice)
    body = assert_error(api_client.get(f"/process_file?id={job.id}&force=maybe", headers=bearer(admin)), 400)
    assert body["parameter"] == "force"


def test_process_file_unknown_id_is_404(api_client, admin, bearer):  # type: ignore[no-untyped-def]
    assert_error(api_client.get("/process_file?id=999999", headers=bearer(admin)), 404, "999999")


def test_process_file_on_a_job_in_process_is_409_even_with_force(api_client, jobs, admin, alice, bearer, submit_job):  # type: ignore[no-untyped-def]
    job = submit_job(alice)
    assert jobs.claim(job.id, "another-host:1:abc") is not None
    for query in ("", "&force=1"):
        body = assert_error(api_client.get(f"/process_file?id={job.id}{query}", headers=bearer(admin)), 409,
                            "already being processed")
        assert body["job_status"] == "IN PROCESS"
    assert jobs.get(job.id).claimed_by == "another-host:1:abc"


@pytest.mark.procs
def test_process_file_on_a_done_job_is_409_unless_forced(  # type: ignore[no-untyped-def]
        api_client, settings, jobs, admin, alice, bearer, submit_job):
    job = submit_job(alice)
    headers = bearer(admin)
    assert api_client.get(f"/process_file?id={job.id}", headers=headers).json()["status"] == "PROCESS OK"
    first = jobs.get(job.id)
    body = assert_error(api_client.get(f"/process_file?id={job.id}", headers=headers), 409, "force=1")
    assert body["job_status"] == "PROCESS OK"
    again = api_client.post(f"/process_file?id={job.id}&force=1", headers=headers)
    assert again.status_code == 200 and again.json()["result"] == "PROCESS OK: 20 rows"
    second = jobs.get(job.id)
    assert second.attempts == first.attempts + 1 and second.path_result != first.path_result
    # The new result replaced the old one: nothing stale is left on disk.
    assert not (settings.output_dir / first.path_result).exists()
    assert (settings.output_dir / second.path_result).is_file()


@pytest.mark.procs
def test_process_file_on_an_error_job_is_409_with_a_hint_unless_forced(  # type: ignore[no-untyped-def]
        api_client, jobs, admin, alice, bearer, submit_job):
    job = submit_job(alice)
    claim = jobs.claim(job.id, "w")
    assert jobs.fail(claim, "the disk was full")
    headers = bearer(admin)
    body = assert_error(api_client.get(f"/process_file?id={job.id}", headers=headers), 409,
                        "the disk was full", "force=1", f"/api/jobs/{job.id}/retry")
    assert body["job_status"] == "ERROR"
    forced = api_client.get(f"/process_file?id={job.id}&force=true", headers=headers)
    assert forced.status_code == 200 and forced.json()["status"] == "PROCESS OK"


@pytest.mark.procs
def test_process_file_reports_a_failed_run_as_status_error(  # type: ignore[no-untyped-def]
        api_client, settings, jobs, admin, alice, bearer, submit_job):
    job = submit_job(alice)
    (settings.input_dir / job.path_up).unlink()  # the stored upload vanished
    response = api_client.get(f"/process_file?id={job.id}", headers=bearer(admin))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ERROR" and body["result"].startswith("ERROR: ") and "upload it again" in body["result"]
    assert jobs.get(job.id).status is Status.ERROR


@pytest.mark.procs
def test_process_endpoints_answer_503_and_claim_nothing_when_the_model_is_missing(  # type: ignore[no-untyped-def]
        settings, db, jobs, admin, alice, bearer, submit_job, tmp_path):
    job = submit_job(alice)  # registers the default model (from MODEL_PATH) in the registry
    from app.core.registry.models import Registry

    deployed = Registry(db, settings).default().directory(settings.models_dir)
    (deployed / "model.joblib").unlink()  # its deployed files are broken now
    broken = settings.replace(model_path=tmp_path / "no-model")
    with TestClient(create_app(broken, db)) as client:
        headers = bearer(admin)
        assert_error(client.get(f"/process_file?id={job.id}", headers=headers), 503, "model")
        assert_error(client.get("/process_all", headers=headers), 503, "model")
    after = jobs.get(job.id)
    assert after.status is Status.PENDING and after.attempts == 0


# -- /process_all --------------------------------------------------------------------------------
@pytest.mark.procs
def test_process_all_runs_every_pending_job_oldest_first(api_client, jobs, admin, alice, bearer, submit_job):  # type: ignore[no-untyped-def]
    headers = bearer(admin)
    done_before = submit_job(alice, rows=5)
    api_client.get(f"/process_file?id={done_before.id}", headers=headers)
    pending = [submit_job(alice, rows=11), submit_job(admin, rows=12), submit_job(alice, rows=13)]
    response = api_client.post("/process_all", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["result"] == [{"id": j.id, "status": "PROCESS OK", "result": f"PROCESS OK: {j.rows_total} rows"}
                              for j in pending]
    assert datetime.fromisoformat(body["Start"]) <= datetime.fromisoformat(body["End"])
    assert all(jobs.get(j.id).status is Status.PROCESS_OK for j in pending)
    # Nothing left: a second call has nothing to do.
    assert api_client.get("/process_all", headers=headers).json()["result"] == []


@pytest.mark.procs
def test_process_all_reports_jobs_that_fail(api_client, settings, admin, alice, bearer, submit_job):  # type: ignore[no-untyped-def]
    good, bad = submit_job(alice), submit_job(alice)
    (settings.input_dir / bad.path_up).unlink()
    body = api_client.get("/process_all", headers=bearer(admin)).json()
    statuses = {entry["id"]: entry["status"] for entry in body["result"]}
    assert statuses == {good.id: "PROCESS OK", bad.id: "ERROR"}


def test_errors_on_api_paths_are_json_even_for_browsers(api_client, admin, bearer):  # type: ignore[no-untyped-def]
    html = {"Accept": "text/html", **bearer(admin)}
    for response in (api_client.get("/process_file?id=x", headers=html), api_client.get("/api/nowhere", headers=html),
                     api_client.put("/process_all", headers=html)):
        assert response.headers["content-type"].startswith("application/json"), response.text
        assert response.json()["error"]

