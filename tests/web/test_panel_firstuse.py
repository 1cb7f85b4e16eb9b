"""A first-time user's panel over HTTP on SQLite and MariaDB (issue 22): GET /jobs/upload, a
reload of the tokens page after creating one, the create-user form after an error, names with
accented letters, the docs page's calls as the signed-in user, the model-quality page's
times, and the setup banner's pointer to where your own password is changed."""

from __future__ import annotations

import html
import re

import pytest
from starlette.testclient import TestClient

from app.core.accounts.tokens import Tokens
from app.core.accounts.users import Users
from app.core.db import open_database
from app.core.jobs.submissions import submit_path
from app.core.settings import load_settings
from app.web import create_app
from scheduler.worker import Worker
from tests.conftest import breast_cancer_frame, run_cli
from tests.panel_helpers import csrf_of, flashes_of, login

TOKEN_VALUE = re.compile(r'id="new-token-value" class="token-value" value="([^"]+)"')


@pytest.fixture
def as_alice(client, alice):  # type: ignore[no-untyped-def]
    return client, login(client, "alice", "alice-password-1")


@pytest.fixture
def boss(app, admin):  # type: ignore[no-untyped-def]
    client = TestClient(app)
    return client, login(client, "admin", "admin-password-1")


def test_get_of_the_upload_address_leads_to_the_upload_form(as_alice) -> None:  # type: ignore[no-untyped-def]
    client, _ = as_alice
    answer = client.get("/jobs/upload", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/jobs"
    assert 'id="upload-form"' in client.get("/jobs/upload").text
    signed_out = TestClient(client.app).get("/jobs/upload", follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")


def test_a_new_token_is_shown_once_and_a_reload_creates_no_second(as_alice, db, alice) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    created = client.post("/tokens", data={"csrf_token": csrf, "name": "nightly"}, follow_redirects=False)
    assert created.status_code == 303 and created.headers["location"] == "/tokens"  # post/redirect/get
    assert "byd_" not in created.text and "byd_" not in created.headers.get("location", "")
    shown = client.get("/tokens")
    token = html.unescape(TOKEN_VALUE.search(shown.text).group(1))
    assert Tokens(db).authenticate(token) is not None and f"Bearer {token}" in html.unescape(shown.text)
    again = client.get("/tokens")  # the browser's reload repeats the GET, never the POST
    assert token not in again.text and not TOKEN_VALUE.search(again.text)
    assert [t.name for t in Tokens(db).list_for(alice.id)] == ["nightly"]
    refused = client.post("/tokens", data={"csrf_token": csrf, "name": " "})
    assert refused.status_code == 400 and len(Tokens(db).list_for(alice.id)) == 1


def test_a_refused_new_user_keeps_every_field_but_the_password(boss, users) -> None:  # type: ignore[no-untyped-def]
    client, csrf = boss
    refused = client.post("/admin/users", data={"csrf_token": csrf, "username": "ana maria", "password": "ana-password-1",
                                                "email": "ana@example.org", "is_admin": "on"})
    assert refused.status_code == 400 and "no spaces" in html.unescape(refused.text)
    form = re.search(r'<form method="post" action="/admin/users" .*?</form>', refused.text, re.S).group(0)
    assert 'id="new-username" name="username" value="ana maria"' in form
    assert re.search(r'id="new-email"[^>]*value="ana@example.org"', form)
    assert re.search(r'id="new-admin"[^>]*checked', form)
    assert "ana-password-1" not in refused.text
    invited = client.post("/admin/users/invite", data={"csrf_token": csrf, "username": "bad name",
                                                       "email": "bad@example.org", "is_admin": "on"})
    assert invited.status_code == 400
    assert re.search(r'id="invite-email"[^>]*value="bad@example.org"', invited.text)
    assert re.search(r'id="invite-admin"[^>]*checked', invited.text)
    assert users.by_name("ana maria") is None


def test_an_accented_name_is_created_and_signs_in_from_the_forms(app, boss, users) -> None:  # type: ignore[no-untyped-def]
    client, csrf = boss
    done = client.post("/admin/users", data={"csrf_token": csrf, "username": "Lucía", "password": "lucia-password-1"})
    assert done.status_code == 200 and "User Lucía created." in flashes_of(done.text)[0]
    lucia = TestClient(app)
    token = csrf_of(lucia.get("/login").text)
    signed = lucia.post("/login", data={"username": "LUCÍA", "password": "lucia-password-1", "csrf_token": token})
    assert signed.url.path == "/account" and "Lucía" in signed.text  # her first sign-in: her own password first
    twin = client.post("/admin/users", data={"csrf_token": csrf, "username": "lucía", "password": "other-password-1"})
    assert twin.status_code == 400 and "already exists" in html.unescape(twin.text)


def test_the_api_answers_the_signed_in_user_when_the_csrf_header_comes_along(as_alice, alice, submit_job) -> None:  # type: ignore[no-untyped-def]
    client, csrf = as_alice
    job = submit_job(alice)
    mine = client.get("/api/jobs", headers={"X-CSRF-Token": csrf})
    assert mine.status_code == 200 and [j["id"] for j in mine.json()["jobs"]] == [job.id]
    # The cookie alone (what another site can make a browser send) is not enough.
    assert client.get("/api/jobs").status_code == 401
    assert client.get("/api/jobs", headers={"X-CSRF-Token": "not-the-token"}).status_code == 403
    assert client.delete(f"/api/jobs/{job.id}", headers={"X-CSRF-Token": "not-the-token"}).status_code == 403
    anonymous = TestClient(client.app)
    assert anonymous.get("/api/jobs", headers={"X-CSRF-Token": csrf}).status_code == 401
    # The docs page carries the token for its "Try it out" only for a signed-in user.
    assert f'data-csrf="{csrf}"' in client.get("/docs").text
    assert 'data-csrf=""' in anonymous.get("/docs").text


def test_model_quality_page_shows_local_times_and_labels_its_phone_cards(as_alice, settings, db, jobs, alice, tmp_path) -> None:  # type: ignore[no-untyped-def]
    client, _ = as_alice
    path = tmp_path / "clean.csv"
    breast_cancer_frame(200, seed=1).to_csv(path, index=False)
    job = submit_path(settings, jobs, alice.id, path)
    Worker(settings, db).drain()
    done = jobs.get(job.id)
    page = client.get(f"/models/{settings.default_model}/quality").text
    row = re.search(rf'<tr data-job-id="{job.id}">(.*?)</tr>', page, re.S).group(1)
    local = done.date_result.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")
    assert settings.time_zone != "UTC" and f">{local}</time>" in row, row
    assert "+00:00<" not in row and done.date_result.isoformat() not in re.sub(r'datetime="[^"]*"', "", row)
    labels = re.findall(r'<td data-label="([^"]+)"', row)
    assert labels == ["File", "Version", "Finished", "Quality", "Rows", "Flagged"]


def test_setup_banner_points_to_where_your_own_password_is_changed(make_config, engine) -> None:  # type: ignore[no-untyped-def]
    config, _ = make_config(engine)
    done = run_cli(config, "-m", "app", "setup")
    assert done.returncode == 0, done.stderr
    password = re.search(r"created user 'admin' with password: (\S+)", done.stdout).group(1)
    assert "Users page" not in done.stdout
    place = re.search(r"(/\w+)#(\w+)", done.stdout)
    assert place, done.stdout
    # The page the banner names is where the admin changes their own password, with the one shown.
    settings = load_settings(config_path=config, environ={})
    db = open_database(settings)
    try:
        with TestClient(create_app(settings, db)) as client:
            login(client, "admin", password)
            page = client.get(place.group(1)).text
            form = re.search(rf'id="{place.group(2)}".*?</form>', page, re.S)
            assert form and 'name="current_password"' in form.group(0)
            changed = client.post(place.group(1), data={"csrf_token": csrf_of(page), "action": "password",
                                                        "current_password": password, "new_password": "admins-own-pw-1",
                                                        "repeat_password": "admins-own-pw-1"})
            assert changed.status_code == 200 and "admins-own-pw-1" not in changed.text
        assert Users(db).authenticate("admin", "admins-own-pw-1") is not None
    finally:
        db.close()


def test_the_session_does_not_reach_the_api_before_an_imposed_password_is_replaced(app, boss, users) -> None:  # type: ignore[no-untyped-def]
    client, csrf = boss
    client.post("/admin/users", data={"csrf_token": csrf, "username": "dora", "password": "given-password-1"})
    dora = TestClient(app)
    token = csrf_of(dora.get("/login").text)
    signed = dora.post("/login", data={"username": "dora", "password": "given-password-1", "csrf_token": token})
    assert signed.url.path == "/account"
    dora_csrf = csrf_of(signed.text)
    assert dora.get("/api/jobs", headers={"X-CSRF-Token": dora_csrf}).status_code == 401
    dora.post("/account", data={"csrf_token": dora_csrf, "action": "password", "current_password": "given-password-1",
                                "new_password": "doras-own-pw-1", "repeat_password": "doras-own-pw-1"})
    fresh = csrf_of(dora.get("/jobs").text)  # the change started a new session
    assert dora.get("/api/jobs", headers={"X-CSRF-Token": fresh}).status_code == 200
