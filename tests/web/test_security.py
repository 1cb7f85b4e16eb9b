"""Security tests on SQLite and MariaDB, built from the apps' own route tables so a new route
cannot be forgotten: another user's ids are 404 on every panel route and API call; every panel
POST needs the CSRF token; session cookie flags; a cookie from before logout is dead on every
route; login throttling; SQL-injection strings in every parameter change nothing; passwords,
tokens and session cookies never reach the logs (in process, and from a real server's log with
uvicorn's access lines, at DEBUG level)."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from app.core.accounts.throttle import Policy, name_key
from app.core.accounts.tokens import Tokens
from app.core.accounts.users import Users, is_username, normal_username
from app.core.db import Database, open_database
from app.core.events.webhooks import Webhooks
from app.core.jobs.listing import JobFilter, JobList
from app.core.jobs.records import Job, Status
from app.core.jobs.submissions import display_name, submit_path
from app.web import create_app
from scheduler.worker import Worker
from tests.conftest import assert_json_error, basic_auth
from tests.panel_helpers import csrf_of, login

TABLES = ("schema_version", "users", "api_tokens", "wp_records", "login_failures", "webhooks", "webhook_deliveries")
# Path parameters naming something a user owns (another user's is 404), and those naming a
# user (administrators only: 403 for everyone else). A new parameter must be added here.
OWNED_PARAMS = {"job_id": "job", "id": "job", "token_id": "token", "webhook_id": "webhook"}
ADMIN_PARAMS = {"user_id": "user", "invitation_id": "invitation"}
# Path parameters of public pages: an invitation link's token (an unknown one is 404).
PUBLIC_PARAMS = {"token": "inv_nobody-has-this"}
# Path parameters naming a model (seen by every signed-in user; activating one is for
# administrators): an unknown or malformed one is 404. Filled with the default model below.
MODEL_PARAMS = {"name": "breast-cancer", "version": "breast-cancer-logreg-1"}
API_PATHS = ("/api/", "/process_file", "/process_all", "/openapi.json", "/metrics")
PUBLIC_ROUTES = {("GET", "/"), ("GET", "/login"), ("POST", "/login"), ("GET", "/openapi.json"), ("GET", "/docs"),
                 ("GET", "/invite/{token}"), ("POST", "/invite/{token}")}
PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-1", "admin": "admin-password-1"}


# -- the route table ---------------------------------------------------------------------------------
def routes_of(app) -> Iterator[tuple[str, Route]]:  # type: ignore[no-untyped-def]
    """(method, route) for every endpoint of the app; HEAD is GET's twin."""
    for route in app.routes:
        if isinstance(route, Mount):
            assert route.name == "static", f"a new mount {route.path!r}: classify it in tests/web/test_security.py"
            continue
        assert isinstance(route, Route), route
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            yield method, route


def is_api(route: Route) -> bool:
    return route.path.startswith(API_PATHS) or route.path in API_PATHS


def params_of(route: Route) -> set[str]:
    return set(route.param_convertors)


def url(route: Route, **values: Any) -> str:
    values = {**MODEL_PARAMS, **PUBLIC_PARAMS, "invitation_id": 987654321, **values}
    return route.path_format.format(**{name: values[name] for name in params_of(route)})


# -- state snapshots ----------------------------------------------------------------------------------
def table_rows(db: Database, table: str) -> list[dict[str, Any]]:
    # Raw SQL on purpose: the test's own look at the tables, independent of the app's queries.
    with db.transaction(write=False) as tx:
        cursor = db._cursor(tx.conn)
        cursor.execute(f"SELECT * FROM {table} ORDER BY 1")
        rows = [db._row(cursor, r) for r in cursor.fetchall()]
        cursor.close()
    return rows


def snapshot(db: Database, *dirs: Path) -> dict[str, Any]:
    """Every row of every table (minus api_tokens.last_used_at, which each API call touches)
    and every file of the data directories with a hash of its content."""
    state: dict[str, Any] = {}
    for table in TABLES:
        rows = table_rows(db, table)
        if table == "api_tokens":
            rows = [{k: v for k, v in r.items() if k != "last_used_at"} for r in rows]
        state[table] = rows
    for directory in dirs:
        state[str(directory)] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                                 for p in sorted(directory.glob("*"))} if directory.exists() else {}
    return state


# -- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture
def bob(users):  # type: ignore[no-untyped-def]
    return users.create("bob", PASSWORDS["bob"])


@pytest.fixture
def clients(app) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """clients(user=None, **kwargs) -> (TestClient, csrf): signed in through the login form
    when `user` is given; lifespans closed at teardown."""
    opened: list[TestClient] = []

    def make(user=None, **kwargs):  # type: ignore[no-untyped-def]
        client = TestClient(app, **kwargs)
        client.__enter__()
        opened.append(client)
        if user is None:
            return client, csrf_of(client.get("/login").text)
        return client, login(client, user.username, PASSWORDS[user.username])

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def processed(settings, db, jobs, make_csv, user, name: str = "in.csv", fail: bool = False) -> Job:  # type: ignore[no-untyped-def]
    """A job of `user` that a real worker took to PROCESS OK (or, with fail, to ERROR)."""
    job = submit_path(settings, jobs, user.id, make_csv(5, name=name))
    worker = Worker(settings, db)
    claim = worker.claim(job.id)
    if fail:
        jobs.fail(claim, "failed on purpose")
        return jobs.get(job.id)
    return worker.run_claim(claim)


# Panel forms that carry a file (multipart): the field and a file for it.
UPLOADS = {
    "/jobs/upload": {"file": ("upload.csv", b"a,b\n1,2\n", "text/csv")},
    "/models/deploy": {"archive": ("model.zip", b"PK\x05\x06" + b"\0" * 18, "application/zip")},
}


def webhook_of(settings, db, user) -> int:  # type: ignore[no-untyped-def]
    """A webhook of `user` (to a 127.0.0.1 address nobody listens on: nothing is sent here)."""
    allowed = settings.replace(webhook_allow_private=True)
    return Webhooks(db, allowed).create(user, "http://127.0.0.1:9/hook", ["job.succeeded"])[0].id


def call(client: TestClient, method: str, route: Route, path: str, *, csrf: str | None = None,
         headers: dict[str, str] | None = None, **data: str):  # type: ignore[no-untyped-def]
    """One request the way the route expects it: panel POSTs are forms carrying the CSRF
    token (the upload a multipart form with a file), API calls carry `headers`."""
    kwargs: dict[str, Any] = {"headers": headers or {}, "follow_redirects": False}
    if method == "POST" and not is_api(route):
        form = {**data, **({"csrf_token": csrf} if csrf is not None else {})}
        kwargs["data"] = form
        if route.path in UPLOADS:
            kwargs["files"] = UPLOADS[route.path]
    return client.request(method, path, **kwargs)


# -- route coverage ----------------------------------------------------------------------------------
def test_every_route_with_a_path_parameter_is_classified(app) -> None:  # type: ignore[no-untyped-def]
    """The 404 and CSRF tests below walk app.routes; this fails when a route has a parameter
    they would not know how to fill, so a new {id} route cannot slip through untested."""
    seen = set()
    for method, route in routes_of(app):
        unknown = params_of(route) - set(OWNED_PARAMS) - set(ADMIN_PARAMS) - set(MODEL_PARAMS) - set(PUBLIC_PARAMS)
        assert not unknown, (f"{method} {route.path}: classify {unknown} in OWNED_PARAMS, ADMIN_PARAMS, MODEL_PARAMS "
                             "or PUBLIC_PARAMS")
        if params_of(route):
            seen.add((method, route.path))
    # Sanity: the walk really sees the id routes of both apps.
    assert ("GET", "/jobs/{job_id:int}/result.xlsx") in seen and ("DELETE", "/api/jobs/{id}") in seen
    assert ("POST", "/tokens/{token_id:int}/revoke") in seen and ("POST", "/admin/users/{user_id:int}/password") in seen


# -- other people's ids ----------------------------------------------------------------------------------
def test_another_users_ids_are_404_on_every_route_and_change_nothing(  # type: ignore[no-untyped-def]
        app, clients, settings, db, jobs, make_csv, alice, bob, bearer) -> None:
    done = processed(settings, db, jobs, make_csv, bob, name="bob-secret-plan.csv")
    failed = processed(settings, db, jobs, make_csv, bob, name="bob-failed-plan.csv", fail=True)
    _, bob_token = Tokens(db).create(bob.id, "bob's script")
    bob_hook = webhook_of(settings, db, bob)
    panel, csrf = clients(alice)
    api = bearer(alice)
    before = snapshot(db, settings.input_dir, settings.output_dir)
    checked = []
    for method, route in routes_of(app):
        kinds = {OWNED_PARAMS[p] for p in params_of(route) if p in OWNED_PARAMS}
        if not kinds:
            continue
        ids = {"job": [done.id, failed.id], "token": [bob_token], "webhook": [bob_hook]}[kinds.pop()]
        for object_id in [*ids, 987654321]:  # bob's, and one that does not exist
            path = url(route, job_id=object_id, id=object_id, token_id=object_id, webhook_id=object_id)
            response = call(panel, method, route, path, csrf=csrf, headers=api if is_api(route) else None)
            if is_api(route):
                assert_json_error(response, 404)
            else:
                assert response.status_code == 404, (method, path, response.status_code)
            assert "-plan" not in response.text and "bob's script" not in response.text, (method, path)
            checked.append((method, route.path, object_id))
    assert snapshot(db, settings.input_dir, settings.output_dir) == before
    assert len({(m, p) for m, p, _ in checked}) >= 13  # 7 panel routes + 6 API calls today

    # The same requests by the owner are not 404: the URLs above were right.
    owner, owner_csrf = clients(bob)
    owner_api = bearer(bob)
    for method, route in routes_of(app):
        kinds = {OWNED_PARAMS[p] for p in params_of(route) if p in OWNED_PARAMS}
        if not kinds:
            continue
        kind = kinds.pop()
        object_id = processed(settings, db, jobs, make_csv, bob).id if kind == "job" else \
            webhook_of(settings, db, bob) if kind == "webhook" else Tokens(db).create(bob.id, "t")[1]
        path = url(route, job_id=object_id, id=object_id, token_id=object_id, webhook_id=object_id)
        response = call(owner, method, route, path, csrf=owner_csrf, headers=owner_api if is_api(route) else None)
        assert response.status_code not in (403, 404) and response.status_code < 500, (method, path, response.text[:300])


ODD_IDS = ["0", "9" * 18, "9" * 19, "9" * 30, "18446744073709551616", "-1", "1e3", "0x10", "%D9%A1", "%20"]


def test_odd_and_huge_ids_are_a_clean_404_or_400_on_every_route(app, clients, admin, bearer, caplog) -> None:  # type: ignore[no-untyped-def]
    """Ids nobody has, beyond 64 bits, negative or not numbers at all: never a 500 (a
    30-digit number overflows the SQLite driver if it ever reaches a query)."""
    boss, csrf = clients(admin)
    api = bearer(admin)
    for method, route in routes_of(app):
        if not params_of(route):
            continue
        for odd in ODD_IDS:
            path = route.path_format.format(**{p: odd for p in params_of(route)})
            response = call(boss, method, route, path, csrf=csrf, headers=api if is_api(route) else None,
                            password="whatever-123")
            assert response.status_code in ((400, 404) if is_api(route) else (404,)), (method, path, response.status_code)
    assert "unhandled error" not in caplog.text


def test_listings_and_process_file_do_not_reach_another_users_jobs(  # type: ignore[no-untyped-def]
        clients, settings, db, jobs, make_csv, alice, bob, bearer) -> None:
    theirs = processed(settings, db, jobs, make_csv, bob, name="bob-secret-plan.csv")
    panel, _ = clients(alice)
    assert "secret-plan" not in panel.get("/jobs").text and f"job-{theirs.id}" not in panel.get("/jobs").text
    updates = panel.get("/jobs/updates", params={"since": "2000-01-01T00:00:00"}).json()
    assert theirs.id not in [j["id"] for j in updates["jobs"] + updates["finished"]]
    assert panel.get("/jobs", params={"q": theirs.file_name}).text.count(f'id="job-{theirs.id}"') == 0
    api = bearer(alice)
    assert panel.get("/api/jobs", headers=api).json()["total"] == 0
    # The article's endpoints take the id in the query string: administrators only.
    for path in (f"/process_file?id={theirs.id}&force=1", "/process_all"):
        assert_json_error(panel.post(path, headers=api), 403)
    assert jobs.get(theirs.id) == theirs


def test_user_ids_are_for_administrators_only(app, clients, users, alice, bob, admin) -> None:  # type: ignore[no-untyped-def]
    panel, csrf = clients(alice)
    boss, boss_csrf = clients(admin)
    before = users.by_id(bob.id)
    routes = [(m, r) for m, r in routes_of(app) if params_of(r) & set(ADMIN_PARAMS)]
    assert len(routes) >= 3
    for method, route in routes:
        path = url(route, user_id=bob.id)
        response = call(panel, method, route, path, csrf=csrf, password="hijacked-password")
        assert response.status_code == 403 and "administrator" in response.text, (method, path)
        missing = call(boss, method, route, url(route, user_id=987654321), csrf=boss_csrf, password="whatever-123")
        assert missing.status_code == 404, (method, path)
    assert users.by_id(bob.id) == before
    assert users.authenticate("bob", PASSWORDS["bob"]) is not None


# -- CSRF ------------------------------------------------------------------------------------------------
def test_every_panel_post_without_a_valid_csrf_token_is_403_and_changes_nothing(  # type: ignore[no-untyped-def]
        app, clients, settings, db, jobs, make_csv, users, alice, admin) -> None:
    job = processed(settings, db, jobs, make_csv, alice, fail=True)
    _, token_id = Tokens(db).create(admin.id, "admin's script")
    hook_id = webhook_of(settings, db, admin)
    boss, boss_csrf = clients(admin)
    _, alice_csrf = clients(alice)
    anonymous, _ = clients()
    posts = [(m, r) for m, r in routes_of(app) if m == "POST" and not is_api(r)]
    assert len(posts) >= 14
    # Data that would change something if the token were right.
    data = {"password": "new-password-1", "username": "eve", "name": "stolen", "action": "email",
            "email": "eve@example.org", "current_password": PASSWORDS["admin"], "new_password": "new-password-1",
            "repeat_password": "new-password-1"}
    before = snapshot(db, settings.input_dir, settings.output_dir)
    for _, route in posts:
        path = url(route, job_id=job.id, id=job.id, token_id=token_id, user_id=alice.id, webhook_id=hook_id)
        client = anonymous if route.path == "/login" else boss
        attempts = [
            {"csrf": None},
            {"csrf": "forged-" + boss_csrf[7:]},
            {"csrf": alice_csrf},  # a real token, of another session
            {"csrf": None, "headers": {"X-CSRF-Token": "forged"}},
            {"csrf": "", "headers": {"X-CSRF-Token": alice_csrf}},
        ]
        for attempt in attempts:
            login_data = {"username": "admin", "password": PASSWORDS["admin"]} if route.path == "/login" else {}
            response = call(client, "POST", route, path, csrf=attempt["csrf"], headers=attempt.get("headers"),
                            **{**data, **login_data})
            assert response.status_code == 403 and "CSRF" in response.text, (path, attempt, response.status_code)
    assert snapshot(db, settings.input_dir, settings.output_dir) == before
    assert anonymous.get("/jobs", follow_redirects=False).status_code == 303  # the login did not happen
    assert boss.get("/jobs", follow_redirects=False).status_code == 200  # nor the logout

    # The same posts with the right token (in the form, or in the header the page's script
    # uses) go through: the 403s above were the CSRF check and nothing else.
    order = sorted(posts, key=lambda p: p[1].path == "/logout")  # sign out last
    for _, route in order:
        path = url(route, job_id=job.id, id=job.id, token_id=token_id, user_id=alice.id, webhook_id=hook_id)
        if route.path == "/login":
            fresh, fresh_csrf = clients()
            response = call(fresh, "POST", route, path, csrf=fresh_csrf, username="admin", password=PASSWORDS["admin"])
        else:
            response = call(boss, "POST", route, path, csrf="", headers={"X-CSRF-Token": boss_csrf},
                            **{**data, "password": "new-password-1"})
        assert response.status_code != 403 and response.status_code < 500, (path, response.text[:300])


def test_get_on_a_post_route_is_405_and_changes_nothing(app, clients, settings, db, jobs, make_csv, admin, alice) -> None:  # type: ignore[no-untyped-def]
    job = processed(settings, db, jobs, make_csv, alice, fail=True)
    boss, _ = clients(admin)
    before = snapshot(db, settings.input_dir, settings.output_dir)
    with_get = {r.path for m, r in routes_of(app) if m == "GET"}
    post_only = {r.path: r for m, r in routes_of(app) if m == "POST" and r.path not in with_get}
    assert len(post_only) >= 10
    for route in post_only.values():
        path = url(route, job_id=job.id, id=job.id, token_id=1, user_id=alice.id, webhook_id=1)
        headers = {"Authorization": "Bearer x"} if is_api(route) else {}
        response = boss.get(path, headers=headers, follow_redirects=False)
        assert response.status_code == 405, (path, response.status_code)
    assert snapshot(db, settings.input_dir, settings.output_dir) == before


# -- the session cookie ------------------------------------------------------------------------------------
@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_every_session_cookie_is_httponly_samesite_lax_and_secure_over_https(settings, db, alice, https) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings.replace(https=https), db)
    cookies: list[str] = []
    with TestClient(app, base_url="https://testserver" if https else "http://testserver") as client:
        def collect(response):  # type: ignore[no-untyped-def]
            cookies.extend(response.headers.get_list("set-cookie"))
            return response

        token = csrf_of(collect(client.get("/login")).text)
        collect(client.post("/login", data={"username": "alice", "password": "wrong-password", "csrf_token": token}))
        collect(client.post("/login", data={"username": "alice", "password": PASSWORDS["alice"], "csrf_token": token},
                            follow_redirects=False))
        token = csrf_of(collect(client.get("/jobs")).text)
        collect(client.post("/tokens", data={"name": "x", "csrf_token": token}))
        collect(client.post("/logout", data={"csrf_token": token}, follow_redirects=False))
        collect(client.get("/login"))
    assert len(cookies) >= 3
    for cookie in cookies:
        flags = [part.strip().lower() for part in cookie.split(";")[1:]]
        assert cookie.startswith("beyond_session=") and "httponly" in flags and "samesite=lax" in flags, cookie
        assert ("secure" in flags) == https, cookie
        assert "path=/" in flags, cookie


def test_a_cookie_from_before_logout_is_refused_on_every_route(  # type: ignore[no-untyped-def]
        app, clients, settings, db, jobs, make_csv, alice, bob) -> None:
    job = processed(settings, db, jobs, make_csv, alice, fail=True)
    _, token_id = Tokens(db).create(alice.id, "alice's script")
    client, csrf = clients(alice)
    stolen = dict(client.cookies)
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    before = snapshot(db, settings.input_dir, settings.output_dir)
    replay, _ = clients(cookies=stolen)
    for method, route in routes_of(app):
        if is_api(route) or (method, route.path) in PUBLIC_ROUTES:
            continue
        replay.cookies.clear()  # each refusal clears the session; present the stolen cookie again
        replay.cookies.update(stolen)
        path = url(route, job_id=job.id, token_id=token_id, user_id=bob.id, webhook_id=1)
        response = call(replay, method, route, path, csrf=csrf, password="new-password-1", name="x", username="eve")
        signed_out = (response.status_code == 303 and response.headers["location"].startswith("/login")) or \
            (response.status_code == 401 and response.json()["login"] == "/login")
        assert signed_out, (method, path, response.status_code)
    assert snapshot(db, settings.input_dir, settings.output_dir) == before


@pytest.mark.parametrize("how", ["password reset", "disabled", "tampered", "other secret key"])
def test_a_cookie_is_refused_after_a_reset_or_when_forged(app, clients, settings, db, users, alice, admin, how) -> None:  # type: ignore[no-untyped-def]
    client, _ = clients(alice)
    if how == "password reset":
        users.set_password(alice.id, "reset-password-1")
    elif how == "disabled":
        users.set_active(alice.id, False)
    elif how == "tampered":
        # The signed payload claims to be the admin; the signature no longer matches.
        payload, _, signature = client.cookies["beyond_session"].partition(".")
        session = base64.b64decode(payload)
        assert f'"uid": {alice.id},'.encode() in session
        forged = base64.b64encode(session.replace(f'"uid": {alice.id},'.encode(), f'"uid": {admin.id},'.encode()))
        client.cookies.clear()
        client.cookies.set("beyond_session", forged.decode() + "." + signature)
    else:
        other = TestClient(create_app(settings.replace(secret_key="another-secret-key-" * 3), db))
        login(other, "admin", PASSWORDS["admin"])
        client.cookies.clear()
        client.cookies.set("beyond_session", other.cookies["beyond_session"])
    response = client.get("/jobs", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert client.get("/admin/users", follow_redirects=False).status_code == 303


# -- login throttling -----------------------------------------------------------------------------------
def _login(client: TestClient, token: str, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       follow_redirects=False)


def _page(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r'value="[^"]*"', 'value=""', response.text)  # minus echoed name and CSRF token


def test_throttled_logins_refuse_the_right_password_with_the_same_answer_as_a_wrong_one(  # type: ignore[no-untyped-def]
        clients, alice, bob) -> None:
    client, token = clients()
    for _ in range(Policy.free_per_pair):
        assert _login(client, token, "alice", "wrong-password").status_code == 400
    right = _login(client, token, "alice", PASSWORDS["alice"])
    wrong = _login(client, token, "alice", "wrong-password")
    again = _login(client, token, "alice", PASSWORDS["alice"])  # a refused right password resets nothing
    assert right.status_code == wrong.status_code == again.status_code == 429
    assert _page(right) == _page(wrong) == _page(again)
    assert right.headers["retry-after"] == wrong.headers["retry-after"]
    assert client.get("/jobs", follow_redirects=False).status_code == 303  # not signed in
    # A name that does not exist is throttled the same way: the answer reveals no account.
    for _ in range(Policy.free_per_pair):
        _login(client, token, "nobody", "wrong-password")
    ghost = _login(client, token, "nobody", "wrong-password")
    assert ghost.status_code == 429 and _page(ghost) == _page(wrong)
    # Per name: bob still signs in.
    other, other_token = clients()
    assert _login(other, other_token, "bob", PASSWORDS["bob"]).status_code == 303


def test_throttling_covers_http_basic_and_spares_tokens(api_client, users, alice, bearer) -> None:  # type: ignore[no-untyped-def]
    token_headers = bearer(alice)
    wrong = basic_auth("alice", "wrong-password")
    first = assert_json_error(api_client.get("/api/jobs", headers=wrong), 401)
    for _ in range(Policy.free_per_pair - 1):
        assert_json_error(api_client.get("/api/jobs", headers=wrong), 401)
    assert users.throttle.check("alice", "testclient") is not None  # TestClient's address
    # Refused unchecked: a 429 with Retry-After, for the right password as for a wrong one, never
    # a 401 that would read as "wrong password".
    right = api_client.get("/api/jobs", headers=basic_auth("alice", PASSWORDS["alice"]))
    refused = assert_json_error(right, 429, "Too many failed sign-ins")
    assert int(right.headers["retry-after"]) > 0 and first["status"] == 401
    assert assert_json_error(api_client.get("/api/jobs", headers=wrong), 429) == refused
    # Failures through Basic count for the panel too.
    token = csrf_of(api_client.get("/login").text)
    assert _login(api_client, token, "alice", PASSWORDS["alice"]).status_code == 429
    # A token is not a password: a flood of bad passwords cannot lock programs out.
    assert api_client.get("/api/jobs", headers=token_headers).status_code == 200


# -- SQL injection --------------------------------------------------------------------------------------
PAYLOADS = [
    "' OR '1'='1",
    "1; DROP TABLE wp_records; --",
    "%",
    "_",
    "!",  # the LIKE escape character
    "\\' OR 1=1 #",
    "ñandú ☃ 𝔘 \u202e' OR ''='",
    "a\x00b",
    "x' UNION SELECT password_hash FROM users -- " * 250,  # 11,000 characters
]


def _ids(payload: str) -> str:
    return re.sub(r"\W+", "_", payload[:24]).strip("_") or "punct"


@pytest.mark.parametrize("payload", PAYLOADS, ids=[f"{i}-{_ids(p)}" for i, p in enumerate(PAYLOADS)])
def test_sql_injection_strings_in_every_parameter_change_nothing(  # type: ignore[no-untyped-def]
        app, clients, settings, db, jobs, users, make_csv, alice, admin, bearer, caplog, payload) -> None:
    caplog.set_level(logging.WARNING)
    names = ["plain.csv", "100%.csv", "a_b.csv", "O'Brien;--.csv", "wp_records.csv", "x!y.csv"]
    for name in names:
        jobs.create(alice.id, name, f"upload-{name}", 10, 1)
    processed(settings, db, jobs, make_csv, alice)
    panel, csrf = clients(alice)
    boss, boss_csrf = clients(admin)
    anonymous, anonymous_csrf = clients()
    api = bearer(alice)
    admin_api = bearer(admin)
    before = snapshot(db)
    q = quote(payload, safe="")
    responses = []

    def ask(client: TestClient, method: str, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        response = client.request(method, path, follow_redirects=False, **kwargs)
        assert response.status_code < 500 and "Traceback" not in response.text, (method, path[:80], response.text[:300])
        responses.append(response)
        return response

    # The panel's query strings.
    for query in ("q", "status", "page", "archived"):
        assert ask(panel, "GET", f"/jobs?{query}={q}").status_code == 200
    ask(panel, "GET", f"/jobs?q={q}&status={q}&page={q}&archived={q}")
    assert ask(panel, "GET", f"/jobs/updates?since={q}&next={q}").status_code == 200
    ask(anonymous, "GET", f"/login?next={q}")
    # Ids in every path, panel and API.
    for method, route in routes_of(app):
        if params_of(route):
            path = route.path_format.format(**{p: q for p in params_of(route)})
            data = {"csrf_token": boss_csrf} if method == "POST" and not is_api(route) else None
            response = ask(boss, method, path, data=data, headers=admin_api if is_api(route) else {})
            assert response.status_code in (400, 404, 405), (method, path[:80], response.status_code)
    # The API's parameters.
    for query in ("status", "limit", "offset", "archived"):
        assert_json_error(ask(panel, "GET", f"/api/jobs?{query}={q}", headers=api), 400, f"'{query}'")
    assert ask(panel, "GET", f"/api/jobs/1/result?format={q}", headers=api).status_code in (400, 404)
    for query in (f"id={q}", f"id=1&force={q}"):
        assert_json_error(ask(boss, "POST", f"/process_file?{query}", headers=admin_api), 400)
    # Credentials: tokens and user names.
    if payload.isprintable():
        assert_json_error(ask(panel, "GET", "/api/jobs", headers={"Authorization": ("Bearer " + payload).encode()}), 401)
    basic = base64.b64encode(f"{payload}:{payload}".encode()).decode()
    assert_json_error(ask(panel, "GET", "/api/jobs", headers={"Authorization": "Basic " + basic}), 401)
    refused = ask(anonymous, "POST", "/login", data={"username": payload, "password": payload, "csrf_token": anonymous_csrf})
    assert refused.status_code == 400 and anonymous.get("/jobs", follow_redirects=False).status_code == 303
    # Forms of signed-in users.
    created = ask(boss, "POST", "/admin/users", data={"username": payload, "password": payload + "-long-enough",
                                                     "csrf_token": boss_csrf})
    valid_name = is_username(normal_username(payload.strip()[:64]))  # "_" is a valid user name (as the form reads it)
    assert created.status_code == (303 if valid_name else 400)
    ask(panel, "POST", "/account", data={"action": payload, "csrf_token": csrf})
    ask(panel, "POST", "/account", data={"action": "email", "email": payload, "csrf_token": csrf})
    # File names, through both entrances. python-multipart refuses a part header over 4 KB: a
    # longer name is a 400 that stores nothing; the first 1,000 characters go through.
    done = JobList(jobs.db).page(JobFilter(owner_id=alice.id, status=Status.PROCESS_OK))[0]
    content = (settings.input_dir / done.path_up).read_bytes()
    if len(payload.encode()) > 4096:
        assert ask(panel, "POST", "/jobs/upload", data={"csrf_token": csrf},
                   files={"file": (payload, content, "text/csv")}).status_code == 400
        assert_json_error(ask(panel, "POST", "/api/jobs", headers=api, files={"file": (payload, content, "text/csv")}),
                          400, "could not be read")
    file_name = payload[:1000]
    assert ask(panel, "POST", "/jobs/upload", data={"csrf_token": csrf},
               files={"file": (file_name, content, "text/csv")}).status_code == 303
    assert ask(panel, "POST", "/api/jobs", headers=api, files={"file": (file_name, content, "text/csv")}).status_code == 201

    # Nothing changed but what the requests were meant to do: two jobs named exactly as sent,
    # two failed sign-ins recorded under the name's lower-case key, maybe alice's e-mail (stored as sent).
    after = snapshot(db)
    assert after["schema_version"] == before["schema_version"]
    assert after["api_tokens"] == before["api_tokens"]
    old_users = {u["id"]: u for u in before["users"]}
    for user in after["users"]:
        if user["id"] not in old_users:  # created above: only with a valid name, stored as sent
            assert valid_name and user["username"] == payload and not user["is_admin"]
            continue
        old = old_users.pop(user["id"])
        if user["id"] == alice.id and user["email"] != old["email"]:
            assert user["email"] == payload.strip()[:255] and "@" in payload
            old = {**old, "email": user["email"], "notify_email": user["notify_email"]}
        assert user == old
    assert old_users == {}
    new_jobs = after["wp_records"][len(before["wp_records"]):]
    assert after["wp_records"][:len(before["wp_records"])] == before["wp_records"]
    # (httpx, like browsers, percent-encodes control characters in a multipart file name)
    shown = display_name(file_name.replace("\x00", "%00"))
    assert [j["file_name"] for j in new_jobs] == [shown, shown]
    failures = after["login_failures"][len(before["login_failures"]):]
    assert after["login_failures"][:len(before["login_failures"])] == before["login_failures"]
    assert sorted(f["username"] for f in failures) == sorted([name_key(payload), name_key(payload.strip())])
    assert "unhandled error" not in caplog.text

    # Search treats the string as text: it finds what contains it, and only that.
    search = shown[:100]
    found = {int(i) for i in re.findall(r'<tr id="job-(\d+)"', panel.get("/jobs", params={"q": search}).text)}
    assert {j["id"] for j in new_jobs} <= found
    if search.isascii():
        everything = JobList(jobs.db).page(JobFilter(owner_id=alice.id, archived=None), limit=500)
        assert found == {j.id for j in everything if search.lower() in j.file_name.lower()}


# -- logs ----------------------------------------------------------------------------------------------------
def exercise_credentials(http, panel, secrets: dict[str, str], admin_name: str, user_id) -> None:  # type: ignore[no-untyped-def]
    """Every way a secret travels: sign-ins (wrong, right, throttled), a password change, an
    admin creating a user and resetting a password, a token made on the Tokens page, the API
    with Bearer and Basic (right and wrong), a token put in the URL by a careless client."""

    token = csrf_of(panel.get("/login").text)
    for _ in range(Policy.free_per_pair + 1):
        panel.post("/login", data={"username": "carol", "password": secrets["carol_wrong"], "csrf_token": token})
    panel.post("/login", data={"username": "carol", "password": secrets["carol_password"], "csrf_token": token})
    panel.post("/login", data={"username": "alice", "password": secrets["wrong_password"], "csrf_token": token})
    assert panel.post("/login", data={"username": "alice", "password": secrets["alice_password"], "csrf_token": token},
                      follow_redirects=False).status_code == 303
    secrets["session_cookie"] = panel.cookies["beyond_session"]
    token = csrf_of(panel.get("/jobs").text)
    secrets["csrf_token"] = token
    changed = panel.post("/account", data={"action": "password", "current_password": secrets["alice_password"],
                                           "new_password": secrets["alice_new_password"],
                                           "repeat_password": secrets["alice_new_password"], "csrf_token": token},
                         follow_redirects=False)
    assert changed.status_code == 303
    token = csrf_of(panel.get("/tokens").text)
    made = panel.post("/tokens", data={"name": "from the page", "csrf_token": token})
    secrets["page_token"] = re.search(r"(byd_[A-Za-z0-9_\-]{20,})", made.text).group(1)
    panel.post("/logout", data={"csrf_token": token})

    token = csrf_of(panel.get("/login").text)
    panel.post("/login", data={"username": admin_name, "password": secrets["admin_password"], "csrf_token": token})
    token = csrf_of(panel.get("/admin/users").text)
    panel.post("/admin/users", data={"username": "dave", "password": secrets["dave_password"], "csrf_token": token})
    reset = panel.post(f"/admin/users/{user_id('dave')}/password",
                       data={"password": secrets["dave_reset"], "csrf_token": token})
    assert reset.status_code == 200 and "New password set for dave" in reset.text

    def auth(kind: str, name: str, secret: str) -> dict[str, str]:
        if kind == "bearer":
            return {"Authorization": f"Bearer {secret}"}
        return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}

    assert http.get("/api/jobs", headers=auth("bearer", "", secrets["page_token"])).status_code == 200
    assert http.get("/api/jobs", headers=auth("bearer", "", secrets["bogus_token"])).status_code == 401
    assert http.get("/api/jobs", headers=auth("basic", "alice", secrets["alice_new_password"])).status_code == 200
    assert http.get("/api/jobs", headers=auth("basic", "alice", secrets["wrong_password"])).status_code == 401
    # An administrator set dave's password: refused over Basic until he changes it (the password
    # is still checked, and must not be logged either way).
    assert http.get("/api/jobs", headers=auth("basic", "dave", secrets["dave_reset"])).status_code == 403
    assert http.get("/process_all", headers=auth("bearer", "", secrets["admin_token"])).status_code == 200
    http.get(f"/api/jobs?access_token={secrets['page_token']}&api_key={secrets['bogus_token']}")


def make_secrets() -> dict[str, str]:
    import secrets as random

    return {name: random.token_urlsafe(18) for name in (
        "alice_password", "alice_new_password", "wrong_password", "admin_password", "carol_password",
        "carol_wrong", "dave_password", "dave_reset", "bogus_token")}


def assert_no_secret(text: str, secrets: dict[str, str]) -> None:
    leaked = [name for name, value in secrets.items() if value and value in text]
    assert leaked == [], f"secrets in the logs: {leaked}"


def test_no_password_token_or_cookie_in_any_log_record(app, settings, db, users, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    for name in ("beyond", "uvicorn", "uvicorn.access", "mysql.connector", "python_multipart", "httpx2"):
        caplog.set_level(logging.DEBUG, logger=name)
    secrets = make_secrets()
    secrets["secret_key"] = settings.secret_key
    users.create("alice", secrets["alice_password"])
    users.create("carol", secrets["carol_password"])
    admin = users.create("root-admin", secrets["admin_password"], is_admin=True)
    secrets["admin_token"], _ = Tokens(db).create(admin.id, "ops")
    with TestClient(app) as http, TestClient(app) as panel:
        exercise_credentials(http, panel, secrets, "root-admin", lambda name: users.by_name(name).id)
    # The test's own HTTP client logs the URLs it requests; only the application's records count.
    records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert records
    logged = "\n".join(caplog.handler.format(r) + repr(r.args) for r in records)
    assert_no_secret(logged, secrets)
    # Stored only as hashes, too.
    assert_no_secret(repr(snapshot(db)), {k: v for k, v in secrets.items() if k not in ("secret_key", "csrf_token")})


def test_no_password_token_or_cookie_in_a_real_servers_log_at_debug(engine, live_server, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")  # the server's log file is read while it runs
    base, _, settings = live_server(engine, LOG_LEVEL="DEBUG")
    db = open_database(settings)
    secrets = make_secrets()
    secrets["secret_key"] = settings.secret_key
    users = Users(db)
    users.create("alice", secrets["alice_password"])
    users.create("carol", secrets["carol_password"])
    admin = users.create("root-admin", secrets["admin_password"], is_admin=True)
    secrets["admin_token"], _ = Tokens(db).create(admin.id, "ops")
    with httpx2.Client(base_url=base, timeout=30) as http, \
            httpx2.Client(base_url=base, timeout=30, follow_redirects=True) as panel:
        exercise_credentials(http, panel, secrets, "root-admin", lambda name: users.by_name(name).id)
    db.close()
    port = base.rsplit(":", 1)[1]
    log = (tmp_path / f"server-{port}.log").read_text(encoding="utf-8", errors="replace")
    # The access log was captured (so its absence of secrets means something) ...
    assert '"POST /login HTTP/1.1" 429' in log and '"GET /api/jobs HTTP/1.1" 401' in log, log[-2000:]
    assert "GET /api/jobs?access_token=[redacted]&api_key=[redacted] HTTP/1.1" in log
    assert "level=DEBUG" in log
    # ... and no password, token, session cookie, CSRF token or the secret key is in it.
    assert_no_secret(log, secrets)
    assert "authorization" not in log.lower()
