"""User management over HTTP on SQLite and MariaDB (issue 13, item 6): delete a user with their
jobs and files after a confirmation that counts them, or keep the jobs under another user;
change a role; disable with a confirmation; unlock; invitation links (48 h, once, stored
hashed); the forced password change of accounts an administrator gave a password; and the
last administrator, who can never be demoted, disabled or deleted."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from app.core.accounts.admin import hash_invitation
from app.core.accounts.tokens import Tokens
from app.core.db import db_time_text
from app.core.jobs.listing import JobFilter, JobList
from tests.panel_helpers import csrf_of, flashes_of, login
from tests.support.sql import raw


@pytest.fixture
def boss(app, admin):  # type: ignore[no-untyped-def]
    client = TestClient(app)
    return client, login(client, "admin", "admin-password-1")


def make_job(settings, jobs, owner, name: str, result: bool = False):  # type: ignore[no-untyped-def]
    """A job with its uploaded file (and a result file) on disk, as a real run leaves them."""
    settings.input_dir.mkdir(parents=True, exist_ok=True)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    path_up = f"upload-{owner.id}-{name}"
    (settings.input_dir / path_up).write_text("a\n1\n", encoding="utf-8")
    job = jobs.create(owner.id, name, path_up, 4, 1)
    if result:
        claim = jobs.claim(job.id, "test")
        (settings.output_dir / f"result-{job.id}.xlsx").write_bytes(b"PK")
        jobs.complete(claim, f"result-{job.id}.xlsx", None, 1, "v1")
    return jobs.get(job.id)


def stored(settings) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(p.name for d in (settings.input_dir, settings.output_dir) if d.exists() for p in d.iterdir())


def test_delete_counts_jobs_and_files_then_removes_them_all(boss, settings, db, jobs, users, alice) -> None:  # type: ignore[no-untyped-def]
    client, csrf = boss
    carol = users.create("carol", "carol-password-1")
    make_job(settings, jobs, alice, "one.csv", result=True)
    make_job(settings, jobs, alice, "two.csv")
    keep = make_job(settings, jobs, carol, "carols.csv")
    Tokens(db).create(alice.id, "script")
    page = client.get(f"/admin/users/{alice.id}/delete").text
    assert "alice has <strong>2 jobs</strong> with <strong>3 stored files</strong>" in html.unescape(page)
    assert 'value="delete" checked' in page and f'value="{carol.id}"' in page
    done = client.post(f"/admin/users/{alice.id}/delete", data={"csrf_token": csrf, "keep": "delete"})
    assert "User alice deleted with 2 jobs and 3 files." in flashes_of(done.text)
    assert users.by_id(alice.id) is None
    assert [j.id for j in JobList(jobs.db).page(JobFilter(owner_id=None, archived=None))] == [keep.id]
    assert stored(settings) == [keep.path_up]
    assert raw(db, "SELECT COUNT(*) AS n FROM api_tokens WHERE user_id = ?", (alice.id,))[0]["n"] == 0


def test_delete_can_keep_the_jobs_under_another_user(boss, settings, db, jobs, users, alice) -> None:  # type: ignore[no-untyped-def]
    client, csrf = boss
    carol = users.create("carol", "carol-password-1")
    mine = [make_job(settings, jobs, alice, f"{i}.csv", result=True) for i in range(2)]
    before = stored(settings)
    done = client.post(f"/admin/users/{alice.id}/delete", data={"csrf_token": csrf, "keep": str(carol.id)})
    assert "User alice deleted; their 2 jobs now belong to carol." in flashes_of(done.text)
    assert [jobs.get(j.id).owner_name for j in mine] == ["carol", "carol"]
    assert stored(settings) == before  # nothing removed


def test_delete_is_refused_while_a_job_runs_and_for_bad_choices(boss, settings, db, jobs, users, alice, admin) -> None:  # type: ignore[no-untyped-def]
    client, csrf = boss
    job = make_job(settings, jobs, alice, "running.csv")
    jobs.claim(job.id, "worker")
    answer = client.post(f"/admin/users/{alice.id}/delete", data={"csrf_token": csrf, "keep": "delete"})
    assert any("alice has 1 file being processed right now" in f for f in flashes_of(answer.text))
    answer = client.post(f"/admin/users/{alice.id}/delete", data={"csrf_token": csrf, "keep": "maybe"})
    assert "Choose whether the jobs are deleted or kept under another user." in flashes_of(answer.text)
    answer = client.post(f"/admin/users/{alice.id}/delete", data={"csrf_token": csrf, "keep": "424242"})
    assert "No such user." in flashes_of(answer.text)
    answer = client.post(f"/admin/users/{admin.id}/delete", data={"csrf_token": csrf, "keep": "delete"})
    assert "You cannot delete your own account." in flashes_of(answer.text)
    assert users.by_id(alice.id) is not None and jobs.get(job.id) is not None
    assert client.get("/admin/users/999999/delete").status_code == 404


def test_the_last_admin_cannot_be_demoted_disabled_or_deleted(app, db, users, admin, alice) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    csrf = login(client, "admin", "admin-password-1")
    answer = client.post(f"/admin/users/{admin.id}/role", data={"csrf_token": csrf, "role": "user"})
    assert any("admin is the last active administrator and cannot be made a regular user" in f
               for f in flashes_of(answer.text))
    assert users.by_id(admin.id).is_admin
    # A second administrator: now the first may step down, and the second is then the last.
    client.post(f"/admin/users/{alice.id}/role", data={"csrf_token": csrf, "role": "admin"})
    assert users.by_id(alice.id).is_admin
    other = TestClient(app)
    other_csrf = login(other, "alice", "alice-password-1")
    answer = client.post(f"/admin/users/{admin.id}/role", data={"csrf_token": csrf, "role": "user"},
                         follow_redirects=False)
    assert answer.headers["location"] == "/jobs" and not users.by_id(admin.id).is_admin
    for action, data in (("role", {"role": "user"}), ("disable", {}), ("delete", {"keep": "delete"})):
        answer = other.post(f"/admin/users/{alice.id}/{action}", data={"csrf_token": other_csrf, **data})
        assert answer.status_code == 200, action
    assert users.by_id(alice.id).is_admin and users.by_id(alice.id).is_active
    # A disabled administrator does not count as the one left.
    other.post(f"/admin/users/{admin.id}/role", data={"csrf_token": other_csrf, "role": "admin"})
    other.post(f"/admin/users/{admin.id}/disable", data={"csrf_token": other_csrf})
    assert not users.by_id(admin.id).is_active
    answer = other.post(f"/admin/users/{alice.id}/role", data={"csrf_token": other_csrf, "role": "user"})
    assert any("alice is the last active administrator" in f for f in flashes_of(answer.text))


def test_role_change_and_disable_ask_first_and_end_sessions(app, boss, users, alice) -> None:  # type: ignore[no-untyped-def]
    client, csrf = boss
    page = client.get("/admin/users").text
    assert "data-confirm=\"Disable alice? They are signed out" in page
    assert f'href="/admin/users/{alice.id}/delete"' in page
    hers = TestClient(app)
    login(hers, "alice", "alice-password-1")
    client.post(f"/admin/users/{alice.id}/role", data={"csrf_token": csrf, "role": "admin"})
    assert users.by_id(alice.id).is_admin
    assert hers.get("/admin/users", follow_redirects=False).status_code == 303  # signed out by the change
    client.post(f"/admin/users/{alice.id}/disable", data={"csrf_token": csrf})
    assert not users.by_id(alice.id).is_active


def test_unlock_is_shown_for_a_throttled_user_and_forgets_the_failures(boss, users, alice) -> None:  # type: ignore[no-untyped-def]
    client, csrf = boss
    for _ in range(3):
        assert users.authenticate("alice", "wrong-password", client="192.0.2.7") is None
    page = client.get("/admin/users").text
    assert f'id="failures-{alice.id}">3 in' in page and f'action="/admin/users/{alice.id}/unlock"' in page
    answer = client.post(f"/admin/users/{alice.id}/unlock", data={"csrf_token": csrf})
    assert "alice unlocked: 3 failed sign-ins forgotten." in flashes_of(answer.text)
    assert f'id="failures-{alice.id}"' not in answer.text


def test_a_user_created_with_a_password_must_choose_their_own(app, boss, users) -> None:  # type: ignore[no-untyped-def]
    client, csrf = boss
    client.post("/admin/users", data={"csrf_token": csrf, "username": "dora", "password": "given-password-1"})
    assert users.by_name("dora").must_change_password
    dora = TestClient(app)
    token = csrf_of(dora.get("/login").text)
    signed = dora.post("/login", data={"username": "dora", "password": "given-password-1", "csrf_token": token})
    assert signed.url.path == "/account" and 'id="must-change"' in signed.text
    for path in ("/jobs", "/tokens", "/models", "/jobs/updates"):
        assert dora.get(path, follow_redirects=False).headers["location"] == "/account#password", path
    csrf_d = csrf_of(signed.text)
    same = dora.post("/account", data={"csrf_token": csrf_d, "action": "password", "current_password": "given-password-1",
                                       "new_password": "given-password-1", "repeat_password": "given-password-1"})
    assert same.status_code == 400 and "not the one the administrator set" in html.unescape(same.text)
    changed = dora.post("/account", data={"csrf_token": csrf_d, "action": "password",
                                          "current_password": "given-password-1", "new_password": "doras-own-pw-1",
                                          "repeat_password": "doras-own-pw-1"})
    assert changed.status_code == 200 and not users.by_name("dora").must_change_password
    assert dora.get("/jobs").status_code == 200
    # An administrator's reset of someone else's password asks for a new one again.
    client.post(f"/admin/users/{users.by_name('dora').id}/password", data={"csrf_token": csrf, "password": "reset-pw-123"})
    assert users.by_name("dora").must_change_password


def test_invitation_link_works_once_for_48_hours_and_is_stored_hashed(app, boss, db, users) -> None:  # type: ignore[no-untyped-def]
    client, csrf = boss
    answer = client.post("/admin/users/invite", data={"csrf_token": csrf, "username": "Eva", "email": "eva@example.org"})
    assert answer.headers["cache-control"] == "no-store"
    link = html.unescape(re.search(r'id="invite-link" class="token-value" value="([^"]+)"', answer.text).group(1))
    assert link.startswith("http://testserver/invite/inv_")
    token = link.rsplit("/", 1)[1]
    [row] = raw(db, "SELECT token_hash, expires_at, created_at FROM invitations")
    assert row["token_hash"] == hash_invitation(token) and token not in str(row)
    assert "Eva" in client.get("/admin/users").text and link not in client.get("/admin/users").text  # shown once

    eva = TestClient(app)
    page = eva.get(f"/invite/{token}")
    assert page.status_code == 200 and "Welcome, Eva" in page.text
    form = {"csrf_token": csrf_of(page.text), "password": "evas-password-1", "repeat_password": "evas-other-pw"}
    assert "The two passwords differ." in eva.post(f"/invite/{token}", data=form).text
    assert users.by_name("eva") is None
    form["repeat_password"] = "evas-password-1"
    joined = eva.post(f"/invite/{token}", data=form)
    assert joined.url.path == "/jobs" and "Welcome, Eva: your account is ready." in flashes_of(joined.text)
    created = users.by_name("eva")
    assert created and created.email == "eva@example.org" and not created.is_admin and not created.must_change_password
    again = TestClient(app).get(f"/invite/{token}")
    assert again.status_code == 404 and "This link does not work" in again.text
    assert TestClient(app).get("/invite/inv_made-up").status_code == 404

    # Expired after 48 hours (by the database clock), and withdrawable before.
    answer = client.post("/admin/users/invite", data={"csrf_token": csrf, "username": "fede"})
    late = re.search(r'/invite/(inv_[^"]+)"', answer.text).group(1)
    expires = raw(db, "SELECT expires_at, created_at FROM invitations WHERE username = ?", ("fede",))[0]
    assert str(expires["expires_at"])[:13] == db_time_text(
        _parse(expires["created_at"]) + timedelta(hours=48))[:13]
    raw(db, "UPDATE invitations SET expires_at = ? WHERE username = ?", ("2000-01-01 00:00:00.000", "fede"))
    assert TestClient(app).get(f"/invite/{late}").status_code == 404
    client.post("/admin/users/invite", data={"csrf_token": csrf, "username": "gabi"})
    [pending] = raw(db, "SELECT id FROM invitations WHERE username = ?", ("gabi",))
    answer = client.post(f"/admin/invitations/{pending['id']}/revoke", data={"csrf_token": csrf})
    assert "Invitation withdrawn: its link no longer works." in flashes_of(answer.text)
    refused = client.post("/admin/users/invite", data={"csrf_token": csrf, "username": "EVA"})
    assert refused.status_code == 400 and "already exists" in html.unescape(refused.text)


def _parse(value):  # type: ignore[no-untyped-def]
    from app.core.db import parse_time

    return parse_time(value)


# -- invitations live no longer than their issuer's rights (issue 22, M3) ------------------------------
def _invite(client, csrf: str, username: str, is_admin: bool = True) -> str:  # type: ignore[no-untyped-def]
    answer = client.post("/admin/users/invite", data={"csrf_token": csrf, "username": username,
                                                     **({"is_admin": "on"} if is_admin else {})})
    return re.search(r'/invite/(inv_[^"]+)"', answer.text).group(1)


@pytest.mark.parametrize("change", ["role", "disable", "delete"])
def test_an_issuers_open_invitations_are_withdrawn_when_they_lose_their_rights(  # type: ignore[no-untyped-def]
        app, boss, db, users, alice, change) -> None:
    client, csrf = boss
    client.post(f"/admin/users/{alice.id}/role", data={"csrf_token": csrf, "role": "admin"})
    hers = TestClient(app)
    her_csrf = login(hers, "alice", "alice-password-1")
    tokens = [_invite(hers, her_csrf, "mallory"), _invite(hers, her_csrf, "trudy", is_admin=False)]
    mine = _invite(client, csrf, "walter")
    data = {"role": {"role": "user"}, "disable": {}, "delete": {"keep": "delete"}}[change]
    assert client.post(f"/admin/users/{alice.id}/{change}", data={"csrf_token": csrf, **data}).status_code == 200
    assert [r["username"] for r in raw(db, "SELECT username FROM invitations")] == ["walter"]
    for token in tokens:
        page = TestClient(app).get(f"/invite/{token}")
        assert page.status_code == 404 and "This link does not work" in page.text
    assert users.by_name("mallory") is None
    entries = raw(db, "SELECT detail FROM audit_log WHERE action = 'user.invite_revoke'")
    why = {"role": "made a regular user", "disable": "disabled", "delete": "deleted"}[change]
    assert [e["detail"] for e in entries] == [f"2 open invitations of alice withdrawn: {why}"]
    assert TestClient(app).get(f"/invite/{mine}").status_code == 200  # another administrator's link stays


def test_an_invitation_whose_issuer_lost_their_rights_is_refused_even_if_not_withdrawn(  # type: ignore[no-untyped-def]
        app, boss, db, users, alice) -> None:
    client, csrf = boss
    client.post(f"/admin/users/{alice.id}/role", data={"csrf_token": csrf, "role": "admin"})
    hers = TestClient(app)
    token = _invite(hers, login(hers, "alice", "alice-password-1"), "mallory")
    invitee = TestClient(app)
    page = invitee.get(f"/invite/{token}")
    assert page.status_code == 200
    # Demoted behind the application's back (an older version, a restore): the row is still open.
    raw(db, "UPDATE users SET is_admin = 0 WHERE id = ?", (alice.id,))
    assert len(raw(db, "SELECT id FROM invitations WHERE used_at IS NULL")) == 1
    again = invitee.get(f"/invite/{token}")
    assert again.status_code == 403
    assert "made by alice, who is no longer an active administrator" in html.unescape(again.text)
    form = {"csrf_token": csrf_of(page.text), "password": "mallory-pass-1", "repeat_password": "mallory-pass-1"}
    refused = invitee.post(f"/invite/{token}", data=form)
    assert refused.status_code == 403 and "no longer an active administrator" in html.unescape(refused.text)
    assert users.by_name("mallory") is None
    assert len(raw(db, "SELECT id FROM invitations WHERE used_at IS NULL")) == 1  # not used up by the refusal
