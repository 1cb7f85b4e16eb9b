"""The audit log on SQLite and MariaDB: built from the app's own route table, so a new route that
changes state or serves a file fails here until it records exactly one entry (or is shown to
be read-only); who / what / which object / address; GET /api/audit and /admin/audit for
administrators only; the log is append-only."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.core.accounts.admin import Accounts
from app.core.accounts.tokens import Tokens
from app.core.db import Database, load_queries
from app.core.events import audit
from app.core.events.audit import AuditFilter, AuditLog
from app.core.events.webhooks import Webhooks
from app.core.jobs.submissions import submit_path
from app.core.registry.models import Registry
from tests.conftest import assert_json_error, basic_auth
from tests.panel_helpers import csrf_of, login
from tests.web.test_security import PASSWORDS, is_api, params_of, processed, routes_of, url

STATE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CLIENT_ADDRESS = "testclient"  # what Starlette's TestClient reports as the peer

# Every route that changes state or hands out a file, with the one action it records. A new
# such route fails test_every_state_changing_route_is_listed until it is added here (and
# records its entry through app/core/events/audit.py).
EXPECTED: dict[tuple[str, str], str] = {
    ("POST", "/login"): audit.SIGNIN_SUCCESS,
    ("POST", "/logout"): audit.SIGNOUT,
    ("POST", "/account"): audit.USER_EMAIL,
    ("POST", "/tokens"): audit.TOKEN_CREATE,
    ("POST", "/tokens/{token_id:int}/revoke"): audit.TOKEN_REVOKE,
    ("POST", "/admin/users"): audit.USER_CREATE,
    ("POST", "/admin/users/{user_id:int}/disable"): audit.USER_DISABLE,
    ("POST", "/admin/users/{user_id:int}/enable"): audit.USER_ENABLE,
    ("POST", "/admin/users/{user_id:int}/password"): audit.USER_PASSWORD,
    ("POST", "/admin/users/{user_id:int}/unlock"): audit.USER_UNLOCK,
    ("POST", "/models/{name}/{version}/activate"): audit.MODEL_ACTIVATE,
    ("POST", "/jobs/upload"): audit.JOB_UPLOAD,
    ("GET", "/jobs/{job_id:int}/result.xlsx"): audit.RESULT_DOWNLOAD,
    ("GET", "/jobs/{job_id:int}/result.csv"): audit.RESULT_DOWNLOAD,
    ("GET", "/jobs/{job_id:int}/original.csv"): audit.INPUT_DOWNLOAD,
    ("POST", "/jobs/{job_id:int}/retry"): audit.JOB_RETRY,
    ("POST", "/jobs/{job_id:int}/archive"): audit.JOB_ARCHIVE,
    ("POST", "/jobs/{job_id:int}/unarchive"): audit.JOB_UNARCHIVE,
    ("POST", "/jobs/{job_id:int}/delete"): audit.JOB_DELETE,
    ("GET", "/process_file"): audit.JOB_PROCESS,
    ("POST", "/process_file"): audit.JOB_PROCESS,
    ("GET", "/process_all"): audit.QUEUE_PROCESS,
    ("POST", "/process_all"): audit.QUEUE_PROCESS,
    ("POST", "/api/jobs"): audit.JOB_UPLOAD,
    ("DELETE", "/api/jobs/{id}"): audit.JOB_DELETE,
    ("GET", "/api/jobs/{id}/result"): audit.RESULT_DOWNLOAD,
    ("POST", "/api/jobs/{id}/retry"): audit.JOB_RETRY,
    ("POST", "/api/jobs/{id}/archive"): audit.JOB_ARCHIVE,
    ("POST", "/api/jobs/{id}/unarchive"): audit.JOB_UNARCHIVE,
    ("POST", "/models/deploy"): audit.MODEL_DEPLOY,
    ("POST", "/api/models"): audit.MODEL_DEPLOY,
    ("POST", "/webhooks"): audit.WEBHOOK_CREATE,
    ("POST", "/webhooks/{webhook_id:int}/delete"): audit.WEBHOOK_DELETE,
    ("POST", "/api/webhooks"): audit.WEBHOOK_CREATE,
    ("DELETE", "/api/webhooks/{webhook_id}"): audit.WEBHOOK_DELETE,
    ("POST", "/admin/users/{user_id:int}/role"): audit.USER_ROLE,
    ("POST", "/admin/users/{user_id:int}/delete"): audit.USER_DELETE,
    ("POST", "/admin/users/invite"): audit.USER_INVITE,
    ("POST", "/admin/invitations/{invitation_id:int}/revoke"): audit.USER_INVITE_REVOKE,
    ("POST", "/invite/{token}"): audit.USER_CREATE,
    ("POST", "/jobs/bulk"): audit.JOB_ARCHIVE,
    ("POST", "/jobs/{job_id:int}/cancel"): audit.JOB_CANCEL,
    ("POST", "/api/jobs/{id}/cancel"): audit.JOB_CANCEL,
}


def entries_after(db: Database, last_id: int) -> list[audit.Entry]:
    return [e for e in AuditLog(db).list(limit=1000) if e.id > last_id]


def last_entry_id(db: Database) -> int:
    newest = AuditLog(db).list(limit=1)  # newest first
    return newest[0].id if newest else 0


@pytest.fixture
def bob(users):  # type: ignore[no-untyped-def]
    return users.create("bob", PASSWORDS["bob"])


@pytest.fixture
def clients(app) -> Iterator[Callable[..., tuple[TestClient, str]]]:  # type: ignore[no-untyped-def]
    opened: list[TestClient] = []

    def make(user=None) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        if user is None:
            return client, csrf_of(client.get("/login").text)
        return client, login(client, user.username, PASSWORDS[user.username])

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def test_every_state_changing_route_is_listed(app) -> None:  # type: ignore[no-untyped-def]
    """Every POST/PUT/PATCH/DELETE route has its audit action in EXPECTED (and EXPECTED names
    no route that does not exist)."""
    present = {(method, route.path) for method, route in routes_of(app)}
    for method, path in present:
        if method in STATE_METHODS:
            assert (method, path) in EXPECTED, (
                f"{method} {path} changes state: record its action through app/core/events/audit.py and list it in "
                "tests/core/test_audit.py EXPECTED")
    assert set(EXPECTED) <= present, sorted(set(EXPECTED) - present)


@pytest.mark.procs
def test_every_state_changing_or_serving_route_leaves_exactly_one_entry(  # type: ignore[no-untyped-def]
        app, clients, settings, db, jobs, users, make_csv, alice, admin, bearer, tmp_path) -> None:
    """Walk the route table as an administrator: each listed route, made to succeed, adds
    exactly one entry naming the admin, the action, the object and the client's address; every
    other GET (pages, polls, reads) adds none."""
    registry = Registry(db, settings)
    model = registry.default()  # registered before the walk (its deploy is the system's entry)
    archive = shutil.make_archive(str(tmp_path / "model"), "zip", root_dir=settings.model_path)
    model_zip = {"archive": ("model.zip", Path(archive).read_bytes(), "application/zip")}
    # The walk's webhooks point at 127.0.0.1 (tests reach nothing else), so allow private targets.
    settings = settings.replace(webhook_allow_private=True)
    app.state.settings = settings
    api = bearer(admin)
    panel, csrf = clients(admin)
    checked: list[tuple[str, str]] = []
    accounts = Accounts(db, settings)
    # Deleting alice and signing out (which ends every session of the user, the walk's own
    # too) come last.
    last = {"/admin/users/{user_id:int}/delete": 1, "/logout": 2}
    for method, route in sorted(routes_of(app), key=lambda r: last.get(r[1].path, 0) if r[0] == "POST" else 0):
        key = (method, route.path)
        names = params_of(route)
        # State for this request, made before the count starts.
        target_id = 0
        if names & {"job_id", "id"}:
            fail = route.path.endswith("/retry")
            target_id = processed(settings, db, jobs, make_csv, alice, name=f"walk-{len(checked)}.csv", fail=fail).id
            if route.path.endswith("/unarchive"):
                jobs.set_archived(target_id, True)
            if route.path.endswith("/cancel"):  # only a waiting or running job can be cancelled
                target_id = submit_path(settings, jobs, alice.id, make_csv(5, name=f"walk-{len(checked)}.csv")).id
        token_id = Tokens(db).create(admin.id, "to revoke")[1] if "token_id" in names else 0
        hook_id = (Webhooks(db, settings.replace(webhook_allow_private=True))
                   .create(admin, "http://127.0.0.1:9/hook", ["job.succeeded"])[0].id if "webhook_id" in names else 0)
        invitation_id, invite_token = 0, "inv_nobody-has-this"
        if names & {"invitation_id", "token"}:
            invite_token = accounts.invite(f"guest{len(checked)}", False, None, admin)
            invitation_id = accounts.pending()[0].id
        path = url(route, job_id=target_id, id=target_id, token_id=token_id, user_id=alice.id,
                   name=model.name, version=model.version, webhook_id=hook_id, invitation_id=invitation_id,
                   token=invite_token)
        actor_name = "admin"
        if route.path == "/jobs/duplicate":
            path += "?sha256=" + "0" * 64  # the upload form's question: read-only
        if route.path == "/process_file":
            target_id = submit_path(settings, jobs, alice.id, make_csv(5, name="to-process.csv")).id
            path += f"?id={target_id}"
        client, form_csrf = panel, csrf
        if key in (("POST", "/login"), ("POST", "/logout"), ("POST", "/invite/{token}")):
            client, form_csrf = clients(admin if key == ("POST", "/logout") else None)
        if key == ("POST", "/invite/{token}"):
            actor_name = accounts.pending()[0].username  # the new colleague creates their account
        bulk_target = 0
        if key == ("POST", "/jobs/bulk"):
            bulk_target = processed(settings, db, jobs, make_csv, alice, name="walk-bulk.csv").id
        kwargs: dict[str, Any] = {"headers": api if is_api(route) else {}, "follow_redirects": False}
        upload = {"file": ("walk.csv", make_csv(5, name="walk-upload.csv").read_bytes(), "text/csv")}
        if method == "POST" and not is_api(route):
            form = {"csrf_token": form_csrf, **FORMS.get(route.path, {})}
            if route.path == "/admin/users":
                form["username"] = "carol"
            if bulk_target:
                form.update(action="archive", ids=str(bulk_target), confirmed="1")
            if route.path == "/admin/users/{user_id:int}/delete":
                form["keep"] = str(admin.id)  # alice's jobs move to admin: one entry, the deletion
            kwargs["data"] = form
            if route.path == "/jobs/upload":
                kwargs["files"] = upload
            elif route.path == "/models/deploy":
                kwargs["data"] = {**form, "name": "zipped-panel"}
                kwargs["files"] = model_zip
        elif key == ("POST", "/api/jobs"):
            kwargs["files"] = upload
        elif key == ("POST", "/api/models"):
            kwargs.update(data={"name": "zipped-api"}, files=model_zip)
        elif key == ("POST", "/api/webhooks"):
            kwargs["json"] = {"url": "http://127.0.0.1:9/hook", "events": ["job.succeeded"]}
        last = last_entry_id(db)
        response = client.request(method, path, **kwargs)
        assert response.status_code < 400, (key, response.status_code, response.text[:300])
        new = entries_after(db, last)
        if key not in EXPECTED:
            assert method == "GET", key
            assert new == [], f"GET {route.path} is read-only but recorded {[e.action for e in new]}"
            continue
        assert len(new) == 1, f"{method} {route.path} recorded {[(e.action, e.actor) for e in new]}"
        entry = new[0]
        assert entry.action == EXPECTED[key], (key, entry)
        assert entry.actor == actor_name and entry.address == CLIENT_ADDRESS, (key, entry)
        assert entry.at is not None
        expected_object = None
        if target_id or bulk_target:
            expected_object = ("job", str(target_id or bulk_target))
        elif token_id:
            expected_object = ("token", str(token_id))
        elif "user_id" in names:
            expected_object = ("user", "alice")
        elif "version" in names:
            expected_object = ("model", f"{model.name}/{model.version}")
        if expected_object:
            assert (entry.object_type, entry.object_id) == expected_object, (key, entry)
        checked.append(key)
    assert set(checked) == set(EXPECTED), sorted(set(EXPECTED) - set(checked))


# The form fields that make each panel POST succeed (its CSRF token is added).
FORMS: dict[str, dict[str, str]] = {
    "/login": {"username": "admin", "password": PASSWORDS["admin"]},
    "/account": {"action": "email", "email": "admin@example.org", "notify_email": "on"},
    "/tokens": {"name": "my script"},
    "/admin/users": {"password": "carol-password-1"},
    "/admin/users/{user_id:int}/password": {"password": "alice-password-2"},
    "/webhooks": {"url": "http://127.0.0.1:9/hook", "events": "job.succeeded"},
    "/admin/users/{user_id:int}/role": {"role": "admin"},
    "/admin/users/invite": {"username": "dave"},
    "/invite/{token}": {"password": "guest-password-1", "repeat_password": "guest-password-1"},
}


# -- who downloaded what ---------------------------------------------------------------------------
def test_an_admin_reads_a_users_download_in_the_audit_log(  # type: ignore[no-untyped-def]
        clients, settings, db, jobs, make_csv, alice, admin, bearer) -> None:
    job = processed(settings, db, jobs, make_csv, alice, name="ventas marzo.csv")
    alice_api = bearer(alice)
    panel, _ = clients(alice)
    assert panel.get(f"/api/jobs/{job.id}/result", headers=alice_api).status_code == 200
    assert panel.get(f"/jobs/{job.id}/result.csv").status_code == 200

    boss = bearer(admin)
    answer = panel.get("/api/audit", params={"actor": "ALICE", "action": "result.download"}, headers=boss)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == 2
    for entry in body["entries"]:
        assert entry["actor"] == "alice" and entry["object_type"] == "job" and entry["object_id"] == str(job.id)
        assert entry["address"] == CLIENT_ADDRESS and entry["at"]
    assert {e["detail"] for e in body["entries"]} == {"xlsx of ventas marzo.csv", "csv of ventas marzo.csv"}
    # The job's whole story, by object.
    story = panel.get("/api/audit", params={"object_type": "job", "object_id": str(job.id)}, headers=boss).json()
    assert [e["action"] for e in story["entries"]] == ["result.download", "result.download", "job.upload"]

    # Administrators only: 403 for alice, 401 without credentials.
    assert_json_error(panel.get("/api/audit", headers=alice_api), 403, "administrator")
    assert_json_error(panel.get("/api/audit", headers={"Authorization": ""}), 401)

    # The panel page, with its filters.
    admin_panel, _ = clients(admin)
    page = admin_panel.get("/admin/audit", params={"user": "alice", "action": "result.download"})
    assert page.status_code == 200
    assert page.text.count('id="entry-') == 2 and "ventas marzo.csv" in page.text
    assert panel.get("/admin/audit").status_code == 403


def test_audit_filters_by_date_range_and_rejects_bad_parameters(  # type: ignore[no-untyped-def]
        clients, db, alice, admin, bearer, settings) -> None:
    boss = bearer(admin)
    panel, _ = clients(admin)
    actor = audit.Actor("alice", "10.0.0.7")
    for _ in range(3):
        audit.record(db, actor, audit.TOKEN_CREATE, "token", 1)
    entries = AuditLog(db).list(AuditFilter(actor="alice", action=audit.TOKEN_CREATE))
    assert len(entries) == 3 and entries[0].address == "10.0.0.7"
    today = entries[0].at
    assert today is not None
    day = today.date().isoformat()
    params = {"actor": "alice", "action": "token.create"}
    assert panel.get("/api/audit", params={**params, "since": day, "until": day}, headers=boss).json()["total"] == 3
    assert panel.get("/api/audit", params={**params, "until": "2001-01-01"}, headers=boss).json()["total"] == 0
    assert panel.get("/api/audit", params={**params, "since": "8999-01-01T00:00:00Z"}, headers=boss).json()["total"] == 0
    page = panel.get("/api/audit", params={**params, "limit": "2", "offset": "2"}, headers=boss).json()
    assert page["total"] == 3 and len(page["entries"]) == 1
    for bad in ({"since": "yesterday"}, {"until": "2026-13-01"}, {"action": "job.explode"}, {"limit": "0"},
                {"actor": ""}):
        body = assert_json_error(panel.get("/api/audit", params=bad, headers=boss), 400)
        assert body["parameter"] == next(iter(bad))
    # The panel's date filter is lenient but says what is wrong.
    wrong = panel.get("/admin/audit", params={"from": "soon"})
    assert wrong.status_code == 400 and "“From”" in wrong.text
    # The panel's days are the server's TIME_ZONE days (the API's are UTC's): they differ for
    # some hours of each day, so the entries' local day, not their UTC one.
    local_day = today.astimezone(settings.zone).date().isoformat()
    assert panel.get("/admin/audit", params={"from": local_day, "to": local_day, "user": "alice"}
                     ).text.count('id="entry-') == 3


def test_sign_in_failures_and_successes_are_recorded_once(  # type: ignore[no-untyped-def]
        clients, db, alice, bearer) -> None:
    client, csrf = clients()
    last = last_entry_id(db)
    bad = client.post("/login", data={"username": "alice", "password": "wrong-password", "csrf_token": csrf})
    assert bad.status_code == 400
    unknown = client.post("/login", data={"username": "mallory", "password": "x" * 9, "csrf_token": csrf})
    assert unknown.status_code == 400
    # A wrong HTTP Basic password is a failed sign-in too; a right one on each API call is not audited.
    assert client.get("/api/jobs", headers=basic_auth("alice", "wrong-password")).status_code == 401
    assert client.get("/api/jobs", headers=basic_auth("alice", PASSWORDS["alice"])).status_code == 200
    new = entries_after(db, last)
    assert [(e.action, e.actor, e.address) for e in reversed(new)] == [
        ("signin.failure", "alice", CLIENT_ADDRESS),
        ("signin.failure", "mallory", CLIENT_ADDRESS),
        ("signin.failure", "alice", CLIENT_ADDRESS),
    ]
    assert [e.detail for e in reversed(new)] == ["via form: unknown user or wrong password"] * 2 + \
        ["via basic: unknown user or wrong password"]


def test_the_log_is_append_only() -> None:
    """No query updates or deletes audit_log, and the module offers no way to."""
    for name, query in load_queries().items():
        assert not re.search(r"\b(UPDATE|DELETE\s+FROM|REPLACE\s+INTO|TRUNCATE(\s+TABLE)?)\s+audit_log\b", query, re.I), name
    public = {n for n in dir(AuditLog) if not n.startswith("_")}
    assert public == {"list", "count"}
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record(None, audit.SYSTEM, "job.vanish")  # type: ignore[arg-type]
