"""Panel sign-in, sign-out, account, API tokens and the admin user list, over HTTP, on SQLite and
MariaDB (every test takes the `settings`/`db` fixtures, which are parametrized by engine)."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from app.core.accounts.throttle import Policy
from app.core.accounts.tokens import Tokens
from app.web import create_app
from tests.panel_helpers import csrf_of, flashes_of, login

BAD_LOGIN = "Unknown user name or wrong password."


def new_client(app, **kwargs) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, **kwargs)


# -- sign in ------------------------------------------------------------------------------------------
def test_anonymous_pages_lead_to_login(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/jobs", "/tokens", "/account", "/admin/users", "/jobs/1/result.xlsx"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    deep = client.get("/jobs?page=2&status=ERROR", follow_redirects=False)
    assert deep.headers["location"] == "/login?next=%2Fjobs%3Fpage%3D2%26status%3DERROR"
    browser = client.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert browser.status_code == 303 and browser.headers["location"] == "/login"
    assert client.get("/jobs/updates").status_code == 401


def test_login_page_is_accessible_and_carries_csrf(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login")
    assert page.status_code == 200
    assert '<label for="username">' in page.text and '<label for="password">' in page.text
    assert 'autocomplete="current-password"' in page.text
    assert csrf_of(page.text)
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_login_sets_a_hardened_session_cookie(client, alice) -> None:  # type: ignore[no-untyped-def]
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": "alice", "password": "alice-password-1", "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/jobs"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("beyond_session=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # HTTPS=false: a Secure cookie would never come back
    assert "Max-Age=28800" in cookie  # SESSION_HOURS=8
    assert "alice" in client.get("/jobs").text
    assert client.get("/", headers={"Accept": "text/html"}, follow_redirects=False).headers["location"] == "/jobs"


def test_cookie_is_secure_when_https_is_on(make_settings, engine, db, alice) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(engine).replace(https=True)
    https_app = create_app(settings, db)
    with TestClient(https_app, base_url="https://testserver") as client:
        token = csrf_of(client.get("/login").text)
        response = client.post("/login", data={"username": "alice", "password": "alice-password-1",
                                               "csrf_token": token}, follow_redirects=False)
        cookie = response.headers["set-cookie"].lower()
        assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert client.get("/jobs", follow_redirects=False).status_code == 200


def test_bad_login_says_the_same_for_unknown_user_wrong_password_and_disabled(client, users, alice) -> None:  # type: ignore[no-untyped-def]
    bob = users.create("bob", "bob-password-1")
    users.set_active(bob.id, False)
    answers = []
    for username, password in (("nobody", "whatever-123"), ("alice", "wrong-password"), ("bob", "bob-password-1")):
        token = csrf_of(client.get("/login").text)
        response = client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                               follow_redirects=False)
        assert response.status_code == 400
        assert BAD_LOGIN in response.text
        assert "set-cookie" not in response.headers or "uid" not in response.headers["set-cookie"]
        answers.append(re.sub(r'value="[^"]*"', "", response.text))  # minus the echoed name and token
    assert answers[0].replace("nobody", "") == answers[1].replace("alice", "") == answers[2].replace("bob", "")
    assert client.get("/jobs", follow_redirects=False).status_code == 303  # still signed out


def test_login_without_or_with_a_wrong_csrf_token_is_403(client, alice) -> None:  # type: ignore[no-untyped-def]
    client.get("/login")
    for data in ({"username": "alice", "password": "alice-password-1"},
                 {"username": "alice", "password": "alice-password-1", "csrf_token": "forged"}):
        response = client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 403 and "CSRF" in response.text
    assert client.get("/jobs", follow_redirects=False).status_code == 303


def test_login_is_throttled_after_repeated_failures(client, alice) -> None:  # type: ignore[no-untyped-def]
    token = csrf_of(client.get("/login").text)
    for _ in range(Policy.free_per_pair):
        bad = client.post("/login", data={"username": "alice", "password": "nope-nope", "csrf_token": token})
        assert bad.status_code == 400
    blocked = client.post("/login", data={"username": "alice", "password": "alice-password-1", "csrf_token": token},
                          follow_redirects=False)
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0
    # Throttling is per user name, so it tells nothing about whether the name exists.
    for _ in range(Policy.free_per_pair):
        client.post("/login", data={"username": "ghost", "password": "nope-nope", "csrf_token": token})
    ghost = client.post("/login", data={"username": "ghost", "password": "x", "csrf_token": token})
    assert ghost.status_code == 429


def test_login_redirects_only_to_this_site(client, alice) -> None:  # type: ignore[no-untyped-def]
    for target, expected in (("/jobs?status=ERROR", "/jobs?status=ERROR"), ("//evil.example/x", "/jobs"),
                             ("https://evil.example/", "/jobs"), ("/\\evil.example", "/jobs")):
        c = TestClient(client.app)
        page = c.get("/login", params={"next": target})
        response = c.post("/login", data={"username": "alice", "password": "alice-password-1",
                                          "csrf_token": csrf_of(page.text), "next": target}, follow_redirects=False)
        assert response.headers["location"] == expected, target


# -- sign out -----------------------------------------------------------------------------------------
def test_logout_needs_csrf_and_ends_the_session_for_copied_cookies(app, alice) -> None:  # type: ignore[no-untyped-def]
    client = new_client(app)
    token = login(client, "alice", "alice-password-1")
    stolen = dict(client.cookies)
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.get("/jobs", follow_redirects=False).status_code == 200  # still signed in
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert "You are signed out." in flashes_of(client.get("/login").text)
    assert client.get("/jobs", follow_redirects=False).status_code == 303
    replay = new_client(app, cookies=stolen)
    assert replay.get("/jobs", follow_redirects=False).status_code == 303  # the old cookie is dead


def test_get_never_signs_out(client, alice) -> None:  # type: ignore[no-untyped-def]
    login(client, "alice", "alice-password-1")
    assert client.get("/logout", follow_redirects=False).status_code == 405
    assert client.get("/jobs", follow_redirects=False).status_code == 200


# -- account --------------------------------------------------------------------------------------------
def test_account_email_setting(client, users, alice) -> None:  # type: ignore[no-untyped-def]
    token = login(client, "alice", "alice-password-1")
    assert client.get("/account").status_code == 200
    saved = client.post("/account", data={"csrf_token": token, "action": "email", "email": "alice@example.org",
                                          "notify_email": "on"})
    assert saved.status_code == 200 and "E-mail settings saved." in saved.text
    stored = users.by_id(alice.id)
    assert stored.email == "alice@example.org" and stored.notify_email
    bad = client.post("/account", data={"csrf_token": token, "action": "email", "email": "not an address"})
    assert bad.status_code == 400 and "does not look like an e-mail" in bad.text
    missing = client.post("/account", data={"csrf_token": token, "action": "email", "email": "", "notify_email": "on"})
    assert missing.status_code == 400
    assert client.post("/account", data={"action": "email", "email": "x@y.z"}).status_code == 403
    client.post("/account", data={"csrf_token": token, "action": "email", "email": ""})
    assert users.by_id(alice.id).notify_email is False


def test_account_password_change_keeps_this_session_and_ends_others(app, users, alice) -> None:  # type: ignore[no-untyped-def]
    here, elsewhere = new_client(app), new_client(app)
    token = login(here, "alice", "alice-password-1")
    login(elsewhere, "alice", "alice-password-1")
    wrong = here.post("/account", data={"csrf_token": token, "action": "password", "current_password": "nope",
                                        "new_password": "brand-new-pass", "repeat_password": "brand-new-pass"})
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    differ = here.post("/account", data={"csrf_token": token, "action": "password", "current_password": "alice-password-1",
                                         "new_password": "brand-new-pass", "repeat_password": "brand-new-pasX"})
    assert differ.status_code == 400 and "differ" in differ.text
    short = here.post("/account", data={"csrf_token": token, "action": "password", "current_password": "alice-password-1",
                                        "new_password": "short", "repeat_password": "short"})
    assert short.status_code == 400 and "at least 8" in short.text
    done = here.post("/account", data={"csrf_token": token, "action": "password", "current_password": "alice-password-1",
                                       "new_password": "brand-new-pass", "repeat_password": "brand-new-pass"})
    assert done.status_code == 200 and "Password changed" in done.text
    assert here.get("/jobs", follow_redirects=False).status_code == 200
    assert elsewhere.get("/jobs", follow_redirects=False).status_code == 303
    assert users.authenticate("alice", "brand-new-pass") is not None


# -- API tokens --------------------------------------------------------------------------------------------
def test_tokens_are_shown_once_listed_and_revocable(client, db, alice) -> None:  # type: ignore[no-untyped-def]
    csrf = login(client, "alice", "alice-password-1")
    assert "You have no tokens yet." in client.get("/tokens").text
    created = client.post("/tokens", data={"csrf_token": csrf, "name": "nightly <import>"})  # then the redirect's GET
    assert [r.status_code for r in created.history] == [303] and created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    secret = re.search(r'id="new-token-value" class="token-value" value="([^"]+)"', created.text).group(1)
    assert secret.startswith("byd_") and "shown <strong>only once</strong>" in created.text
    assert "nightly &lt;import&gt;" in created.text and "nightly <import>" not in created.text
    listing = client.get("/tokens").text
    assert secret not in listing and secret[:12] in listing and "never" in listing  # last used: never
    assert Tokens(db).authenticate(secret).username == "alice"
    assert secret not in str(client.cookies.get("beyond_session"))
    [info] = Tokens(db).list_for(alice.id)
    assert client.post(f"/tokens/{info.id}/revoke").status_code == 403  # no CSRF
    revoked = client.post(f"/tokens/{info.id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 200 and "Token revoked" in revoked.text and "revoked" in revoked.text
    assert Tokens(db).authenticate(secret) is None
    assert client.post(f"/tokens/{info.id}/revoke", data={"csrf_token": csrf}).status_code == 404  # already
    empty = client.post("/tokens", data={"csrf_token": csrf, "name": "  "})
    assert empty.status_code == 400 and "Give the token a name" in empty.text


def test_tokens_of_another_user_are_404(client, db, users, alice) -> None:  # type: ignore[no-untyped-def]
    bob = users.create("bob", "bob-password-1")
    _, bob_token_id = Tokens(db).create(bob.id, "bob's")
    csrf = login(client, "alice", "alice-password-1")
    assert client.post(f"/tokens/{bob_token_id}/revoke", data={"csrf_token": csrf}).status_code == 404
    assert "bob&#39;s" not in client.get("/tokens").text
    assert Tokens(db).list_for(bob.id)[0].revoked_at is None


def test_token_last_used_is_shown(client, db, alice) -> None:  # type: ignore[no-untyped-def]
    csrf = login(client, "alice", "alice-password-1")
    created = client.post("/tokens", data={"csrf_token": csrf, "name": "cli"})
    secret = re.search(r'class="token-value" value="([^"]+)"', created.text).group(1)
    Tokens(db).authenticate(secret)
    assert "never" not in client.get("/tokens").text.split("Your tokens")[1]


# -- administrators ------------------------------------------------------------------------------------------
def test_admin_pages_are_403_for_users(client, alice, users) -> None:  # type: ignore[no-untyped-def]
    other = users.create("carol", "carol-password-1")
    csrf = login(client, "alice", "alice-password-1")
    assert "/admin/users" not in client.get("/jobs").text  # no menu entry
    assert client.get("/admin/users").status_code == 403
    assert client.post("/admin/users", data={"csrf_token": csrf, "username": "x", "password": "xxxxxxxxxx"}).status_code == 403
    assert client.post(f"/admin/users/{other.id}/disable", data={"csrf_token": csrf}).status_code == 403
    hijack = client.post(f"/admin/users/{other.id}/password", data={"csrf_token": csrf, "password": "hijack-hijack"})
    assert hijack.status_code == 403
    assert users.by_name("x") is None and users.by_id(other.id).is_active


def test_admin_creates_disables_enables_and_resets(app, users, admin, alice) -> None:  # type: ignore[no-untyped-def]
    boss = new_client(app)
    csrf = login(boss, "admin", "admin-password-1")
    page = boss.get("/admin/users")
    assert page.status_code == 200 and "alice" in page.text and "(you)" in page.text
    assert boss.post("/admin/users", data={"username": "dave", "password": "dave-password-1"}).status_code == 403
    created = boss.post("/admin/users", data={"csrf_token": csrf, "username": "dave", "password": "dave-password-1",
                                              "email": "dave@example.org", "is_admin": "on"})
    assert created.status_code == 200 and "User dave created." in created.text
    dave = users.by_name("dave")
    assert dave.is_admin and dave.email == "dave@example.org"
    dup = boss.post("/admin/users", data={"csrf_token": csrf, "username": "dave", "password": "dave-password-1"})
    assert dup.status_code == 400 and "already exists" in dup.text
    bad = boss.post("/admin/users", data={"csrf_token": csrf, "username": "has space", "password": "dave-password-1"})
    assert bad.status_code == 400

    victim = new_client(app)
    login(victim, "alice", "alice-password-1")
    disabled = boss.post(f"/admin/users/{alice.id}/disable", data={"csrf_token": csrf})
    assert disabled.status_code == 200 and "disabled" in disabled.text
    assert victim.get("/jobs", follow_redirects=False).status_code == 303  # signed out at once
    again = new_client(app)
    token = csrf_of(again.get("/login").text)
    refused = again.post("/login", data={"username": "alice", "password": "alice-password-1", "csrf_token": token})
    assert refused.status_code == 400 and BAD_LOGIN in refused.text
    boss.post(f"/admin/users/{alice.id}/enable", data={"csrf_token": csrf})
    assert users.by_id(alice.id).is_active

    login(victim, "alice", "alice-password-1")
    short = boss.post(f"/admin/users/{alice.id}/password", data={"csrf_token": csrf, "password": "short"})
    assert "at least 8" in short.text
    reset = boss.post(f"/admin/users/{alice.id}/password", data={"csrf_token": csrf, "password": "reset-by-admin"})
    assert reset.status_code == 200 and "New password set for alice" in reset.text
    assert victim.get("/jobs", follow_redirects=False).status_code == 303
    assert users.authenticate("alice", "reset-by-admin") is not None

    itself = boss.post(f"/admin/users/{admin.id}/disable", data={"csrf_token": csrf})
    assert "cannot disable your own account" in itself.text and users.by_id(admin.id).is_active
    assert boss.post("/admin/users/999999/disable", data={"csrf_token": csrf}).status_code == 404
    own_reset = boss.post(f"/admin/users/{admin.id}/password", data={"csrf_token": csrf, "password": "admin-password-2"})
    assert own_reset.status_code == 200
    assert boss.get("/admin/users", follow_redirects=False).status_code == 200  # still signed in


def test_user_names_are_escaped_on_the_admin_page(client, users, admin) -> None:  # type: ignore[no-untyped-def]
    users.create("x@evil", "password-123", email="<img src=x onerror=alert(1)>@example.org")
    login(client, "admin", "admin-password-1")
    page = client.get("/admin/users").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
