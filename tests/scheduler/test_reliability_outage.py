"""MariaDB stops while the service runs, then comes back: nothing crashes, nothing is lost.

The shared server at 127.0.0.1:3306 serves everyone else's tests, so this test runs its own
private MariaDB (tests/support/mariadb.py) and stops *that* one. Real processes throughout:
`python -m app serve` with its embedded worker, a `--loop` worker, and a second `--loop`
worker started during the outage.
"""

from __future__ import annotations

import contextlib
import html
import re
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest

from app.core.accounts.tokens import Tokens
from app.core.accounts.users import Users
from app.core.db import open_database
from app.core.settings import load_settings
from tests.conftest import breast_cancer_frame, unavailable
from tests.support import mariadb
from tests.support.mariadb import PrivateMariaDB, free_port
from tests.support.models import make_model_dir
from tests.support.procs import Procs, events, output_files, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

DOWN_MESSAGE = "The database is not reachable right now"


@pytest.fixture
def private_mariadb(tmp_path: Path):  # type: ignore[no-untyped-def]
    reason = mariadb.available()
    if reason:
        unavailable(f"a private MariaDB cannot be run: {reason}")
    server = PrivateMariaDB(tmp_path / "mariadb")
    server.install()
    server.start()
    yield server
    server.close()


@pytest.fixture
def procs(tmp_path: Path, private_mariadb):  # type: ignore[no-untyped-def]
    group = Procs(tmp_path / "logs")  # killed before the server stops (fixture order)
    yield group
    group.close()


@pytest.fixture
def client() -> Iterator[Callable[..., httpx2.Client]]:
    """httpx2 clients that are closed at teardown, whatever happened."""
    with contextlib.ExitStack() as stack:
        yield lambda **options: stack.enter_context(httpx2.Client(**options))


def csv_bytes(rows: int, seed: int = 0) -> bytes:
    return breast_cancer_frame(rows, seed).to_csv(index=False).encode()


def stored_inputs(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def test_database_outage_answers_503_loses_nothing_and_resumes(private_mariadb, procs, client, tmp_path,
                                                                model_dir) -> None:
    server = private_mariadb
    db_password, user_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    for host in ("localhost", "127.0.0.1"):  # TCP from 127.0.0.1 may be seen as either
        server.sql(f"CREATE USER 'beyond'@'{host}' IDENTIFIED BY '{db_password}'")
        server.sql(f"GRANT ALL PRIVILEGES ON *.* TO 'beyond'@'{host}'")

    secret_key = secrets.token_urlsafe(32)
    values = {
        "HOST": "127.0.0.1", "PORT": str(server.port), "USER": "beyond", "PASSWORD": db_password,
        "DBNAME": "beyond_outage", "SECRET_KEY": secret_key,
        "INPUT_DIR": str(tmp_path / "in"), "OUTPUT_DIR": str(tmp_path / "out"), "MODELS_DIR": str(tmp_path / "models"),
        # 4 ms a row, 100-row chunks: job A runs about 6 s, into the outage
        "MODEL_PATH": str(make_model_dir(model_dir, tmp_path / "slow-model", seconds_per_row=0.004)),
        "CHUNK_ROWS": "100", "EMBEDDED_WORKER": "true", "SCHEDULER_INTERVAL": "1",
        # a lease longer than the outage: the running job keeps its claim (attempts stays 1)
        "LEASE_SECONDS": "60", "HEARTBEAT_SECONDS": "1", "MAX_CONCURRENT_JOBS": "1", "LOG_LEVEL": "INFO",
    }
    config = tmp_path / "config.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    settings = load_settings(config_path=config, environ={})
    db = open_database(settings)
    db.init_schema()
    alice = Users(db).create("alice", user_password)
    api_token, _ = Tokens(db).create(alice.id, "outage-test")
    db.close()

    port = free_port()
    web = procs.start(config, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port), name="server")
    base = f"http://127.0.0.1:{port}"

    def health() -> int:
        try:
            return httpx2.get(base + "/", headers={"Accept": "application/json"}, timeout=5).status_code
        except httpx2.TransportError:
            return 0

    wait_until(lambda: health() == 200, 60, "the server to answer")
    worker = procs.worker(config, "--loop", "--interval", "1", name="worker")
    api = client(base_url=base, headers={"Authorization": f"Bearer {api_token}"}, timeout=30)
    panel = client(base_url=base, headers={"Accept": "text/html"}, timeout=30)

    def csrf(page: str) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, page[:2000]
        return html.unescape(match.group(1))

    signed_in = panel.post("/login", data={"username": "alice", "password": user_password,
                                           "csrf_token": csrf(panel.get("/login").text)}, follow_redirects=False)
    assert signed_in.status_code == 303, signed_in.text
    token = csrf(panel.get("/jobs").text)

    # Before the outage: A (1500 rows) through the API, B (200 rows) through the panel.
    created = api.post("/api/jobs", files={"file": ("a.csv", csv_bytes(1500, 1), "text/csv")})
    assert created.status_code == 201, created.text
    job_a = created.json()["id"]
    uploaded = panel.post("/jobs/upload", files={"file": ("b.csv", csv_bytes(200, 2), "text/csv")},
                          data={"csrf_token": token}, follow_redirects=False)
    assert uploaded.status_code == 303, uploaded.text
    job_b = max(j["id"] for j in api.get("/api/jobs").json()["jobs"])
    assert job_b != job_a

    def job(job_id: int) -> dict:
        return api.get(f"/api/jobs/{job_id}").json()

    wait_until(lambda: job(job_a)["rows_done"] >= 200, 30, "job A to be running")
    assert job(job_b)["status"] == "PENDING"  # MAX_CONCURRENT_JOBS=1: B waits its turn
    inputs_before = stored_inputs(settings.input_dir)

    # -- the outage ------------------------------------------------------------------------------
    server.stop()
    down_at = time.monotonic()

    for accept in ("application/json", "*/*"):  # curl's default too
        home = httpx2.get(base + "/", headers={"Accept": accept}, timeout=10)
        assert home.status_code == 503 and home.json()["database"] == "unavailable"
        assert home.json()["MySAMPLE"] == "It works!"
    page = panel.get("/jobs")
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html"), page.text[:3000]
    assert DOWN_MESSAGE in page.text and page.headers.get("retry-after")
    listing = api.get("/api/jobs")
    assert listing.status_code == 503 and listing.headers["content-type"].startswith("application/json")
    assert DOWN_MESSAGE in listing.json()["error"]
    refused = api.post("/api/jobs", files={"file": ("c.csv", csv_bytes(50, 3), "text/csv")})
    assert refused.status_code == 503 and DOWN_MESSAGE in refused.json()["error"]
    refused_page = panel.post("/jobs/upload", files={"file": ("d.csv", csv_bytes(50, 4), "text/csv")},
                              data={"csrf_token": token}, follow_redirects=False)
    assert refused_page.status_code == 503 and DOWN_MESSAGE in refused_page.text
    assert stored_inputs(settings.input_dir) == inputs_before  # nothing half-saved

    late = procs.worker(config, "--loop", "--interval", "1", name="late")  # started while down
    # Job A's model run ends during the outage: its final write is retried with backoff.
    wait_until(lambda: "event=job.final_write_retry" in procs.all_logs(), 30, "the final write to be retried")
    wait_until(lambda: "event=worker.database_unavailable" in late.log(), 20, "the late worker to wait")
    time.sleep(max(0.0, 8 - (time.monotonic() - down_at)))  # several retries, heartbeats, polls
    assert [p.poll() for p in (web, worker, late)] == [None, None, None]  # nobody crashed
    outage = time.monotonic() - down_at

    # -- back -------------------------------------------------------------------------------------
    server.start()
    wait_until(lambda: health() == 200, 30, "/ to answer 200 again")
    a = wait_until(lambda: (j := job(job_a))["status"] in ("PROCESS OK", "ERROR") and j, 60, "job A to end")
    b = wait_until(lambda: (j := job(job_b))["status"] in ("PROCESS OK", "ERROR") and j, 60, "job B to end")
    assert (a["status"], a["attempts"], a["rows_done"]) == ("PROCESS OK", 1, 1500)
    assert (b["status"], b["attempts"], b["rows_done"]) == ("PROCESS OK", 1, 200)
    after = api.post("/api/jobs", files={"file": ("e.csv", csv_bytes(100, 5), "text/csv")})
    assert after.status_code == 201, after.text
    job_e = after.json()["id"]
    e = wait_until(lambda: (j := job(job_e))["status"] in ("PROCESS OK", "ERROR") and j, 60, "job E to end")
    assert e["status"] == "PROCESS OK"
    assert panel.get("/jobs").status_code == 200

    result = api.get(f"/api/jobs/{job_a}/result")
    assert result.status_code == 200 and result.content[:2] == b"PK"
    files = output_files(settings)
    assert len(files["xlsx"]) == len(files["csv"]) == 3 and files["part"] == [] and files["other"] == []
    stored = stored_inputs(settings.input_dir)
    assert len(stored) == 3 and not [n for n in stored if n.endswith(".part")]
    assert [p.poll() for p in (web, worker, late)] == [None, None, None]

    for proc in (worker, late, web):
        proc.signal(signal.SIGTERM)
    # uvicorn re-raises SIGTERM after its graceful shutdown, so the server's status is -15
    assert [proc.wait(30) for proc in (worker, late, web)] in ([0, 0, 0], [0, 0, -signal.SIGTERM])
    assert "event=worker.stopped" in web.log() and "Finished server process" in web.log()

    logs = procs.all_logs()
    for secret in (user_password, api_token, db_password, secret_key):
        assert secret not in logs
    changes = events(logs, "job.")
    assert {e["event"] for e in changes} >= {"job.claimed", "job.done", "job.final_write_retry"}
    print(f"\noutage: database down {outage:.1f} s; 503 for /, /jobs, /api/jobs and both uploads; "
          f"job A finished after the restart with attempts 1 (final write retried), B and a new job too; "
          f"3 results, 3 stored inputs, no .part files")
