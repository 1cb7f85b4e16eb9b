"""What the server and the workers log: one logfmt line per job state change carrying job id,
user, worker and duration, and never a password, API token or key - whatever the clients send.

Real processes: `python -m app serve` and `scheduler/process_pending.py`, on SQLite and MariaDB,
their whole output captured and searched."""

from __future__ import annotations

import base64
import contextlib
import html
import re
import secrets
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from app.core.accounts.tokens import Tokens
from app.core.accounts.users import Users
from app.core.db import open_database
from app.core.jobs.queue import Jobs
from tests.conftest import breast_cancer_frame
from tests.support.mariadb import free_port
from tests.support.procs import Procs, events, parse_logfmt, state_changes, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def procs(tmp_path: Path, make_config) -> Iterator[Procs]:  # type: ignore[no-untyped-def]
    group = Procs(tmp_path / "logs")  # torn down before make_config drops the database
    yield group
    group.close()


def test_logfmt_parser_reads_what_log_event_writes() -> None:
    from app.core.logfmt import logfmt

    line = logfmt("job.failed", job=7, user="ana maría", error='bad "x"\\y\r\n\tz', empty=None, n=1.5)
    assert parse_logfmt(line) == {"event": "job.failed", "job": "7", "user": "ana maría",
                                  "error": 'bad "x"\\y\r\n\tz', "empty": "", "n": "1.5"}
    with pytest.raises(ValueError):
        parse_logfmt("time=2024-01-01 12:00:00,123 level=INFO")  # the old, unparseable time format


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:1000]
    return html.unescape(match.group(1))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def test_job_state_lines_and_no_secret_in_any_log(engine, make_config, procs, tmp_path) -> None:
    config, settings = make_config(engine, EMBEDDED_WORKER="false")
    db = open_database(settings)
    db.init_schema()
    users, tokens = Users(db), Tokens(db)
    secret = {
        "password": secrets.token_urlsafe(16), "admin_password": secrets.token_urlsafe(16),
        "wrong_password": secrets.token_urlsafe(16), "new_password": secrets.token_urlsafe(16),
        "secret_key": settings.secret_key,
    }
    alice = users.create("alice", secret["password"])
    admin = users.create("root-admin", secret["admin_password"], is_admin=True)
    secret["token"], _ = tokens.create(alice.id, "logs-test")
    secret["admin_token"], _ = tokens.create(admin.id, "logs-test-admin")
    secret["bogus_token"] = secrets.token_urlsafe(32)

    port = free_port()
    web = procs.start(config, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port), name="server")
    base = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        http = stack.enter_context(httpx2.Client(base_url=base, timeout=30))
        panel = stack.enter_context(httpx2.Client(base_url=base, timeout=30, headers={"Accept": "text/html"}))

        def up() -> bool:
            try:
                return http.get("/").status_code == 200
            except httpx2.TransportError:
                return False

        wait_until(up, 60, "the server to answer")
        good = breast_cancer_frame(60, seed=1).to_csv(index=False).encode()

        # Sign-in: a wrong password, then the right one; then a password change.
        form = {"username": "alice", "password": secret["wrong_password"], "csrf_token": csrf(panel.get("/login").text)}
        assert panel.post("/login", data=form).status_code == 400
        form["password"] = secret["password"]
        assert panel.post("/login", data=form, follow_redirects=False).status_code == 303
        token = csrf(panel.get("/jobs").text)
        changed = panel.post("/account", data={"action": "password", "current_password": secret["password"],
                                               "new_password": secret["new_password"],
                                               "repeat_password": secret["new_password"], "csrf_token": token},
                             follow_redirects=False)
        assert changed.status_code == 303, changed.text[:500]
        token = csrf(panel.get("/jobs").text)
        uploaded = panel.post("/jobs/upload", files={"file": ("panel.csv", good, "text/csv")},
                              data={"csrf_token": token}, follow_redirects=False)
        assert uploaded.status_code == 303

        # The API: bad and good credentials of both kinds, in headers and (wrongly) in the URL.
        assert http.get("/api/jobs", headers={"Authorization": basic("alice", secret["wrong_password"])}).status_code == 401
        assert http.get("/api/jobs", headers={"Authorization": f"Bearer {secret['bogus_token']}"}).status_code == 401
        assert http.get("/api/jobs", headers={"Authorization": basic("alice", secret["new_password"])}).status_code == 200
        created = http.post("/api/jobs", headers={"Authorization": f"Bearer {secret['token']}"},
                            files={"file": ("api.csv", good, "text/csv")})
        assert created.status_code == 201
        http.get(f"/api/jobs?token={secret['token']}")  # a client that puts it in the URL
        ran = http.get(f"/process_file?id={created.json()['id']}",
                       headers={"Authorization": f"Bearer {secret['admin_token']}"})
        assert ran.status_code == 200 and ran.json()["status"] == "PROCESS OK"  # by a worker child of the server

        # A job whose stored file vanished: ERROR, from a cron worker.
        missing = Jobs(db).create(alice.id, "gone.csv", "upload-gone.csv", 10, 5)
        cron = procs.worker(config, "--all", name="cron")
        assert cron.wait(60) == 0
        web.signal(signal.SIGTERM)
        web.wait(30)
    db.close()

    logs = procs.all_logs()
    leaked = [name for name, value in secret.items() if value in logs]
    assert leaked == [], f"secrets in the logs: {leaked}"
    assert "GET /api/jobs?token=[redacted] HTTP/1.1" in web.log()  # logged, but blanked

    changes = state_changes(logs)
    by_job: dict[str, list[str]] = {}
    for line in changes:
        by_job.setdefault(line["job"], []).append(f"{line['event']}:{line['status']}")
    assert sorted(by_job.values()) == sorted([
        ["job.claimed:IN PROCESS", "job.done:PROCESS OK"],  # the API upload, run by /process_file
        ["job.claimed:IN PROCESS", "job.done:PROCESS OK"],  # the panel upload, run by cron
        ["job.claimed:IN PROCESS", "job.failed:ERROR"],  # the vanished file
    ])
    assert {line["user"] for line in changes} == {"alice"}
    workers = Counter(line["worker"].split(":")[1] for line in changes)  # host:pid:random
    # /process_file ran the job in a child process of the server, whose lines reach the
    # server's log; no model ran in the server process itself.
    (child,) = set(workers) - {str(cron.pid)}
    assert workers == {child: 2, str(cron.pid): 4} and child != str(web.pid)
    assert any(e["pid"] == child and e["args"].startswith("--job ") for e in events(web.log(), "web.worker_run"))
    failed = next(line for line in changes if line["job"] == str(missing.id) and line["event"] == "job.failed")
    assert "missing from storage" in failed["error"]
    # Every line our own loggers write is logfmt (uvicorn's access lines are its own format).
    for line in logs.splitlines():
        if " logger=beyond." in line:
            parse_logfmt(line)
