"""Fixtures: real databases (SQLite file and the MariaDB/MySQL server), each test its own
throwaway database; settings pointing at temporary data directories; a trained model.

The tests are grouped by layer (see tests/README.md): core/, model/, web/, scheduler/, browser/.
Markers, some set here from what a test uses (pytest_collection_modifyitems):
  mysql      runs against the MariaDB/MySQL server (every test with a "mysql" parameter);
  browser    drives real headless Chromium;
  procs      starts the service's own processes: a server, a worker or the CLI (every test
             that uses make_config, live_server, procs or private_mariadb);
  slow       takes more than a few seconds;
  full_hash  hashes passwords at full strength (elsewhere argon2id runs at its smallest cost);
  timing     asserts how long something takes: `make test` runs these alone, after the others.
`make test-fast` runs -m "not mysql and not browser and not procs and not slow"."""

from __future__ import annotations

import email
import email.policy
import os
import secrets
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from argon2 import PasswordHasher

from app.core.db import Database, MySQLDatabase, SQLiteDatabase
from app.core.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
# Worker and server processes started by tests load test-only estimators (tests.support.models)
# from pickles, so the project directory must be importable in them too; the packages
# themselves come from the editable install.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)

MYSQL = {
    "host": os.environ.get("TEST_MYSQL_HOST", "127.0.0.1"),
    "port": int(os.environ.get("TEST_MYSQL_PORT", "3306")),
    "user": os.environ.get("TEST_MYSQL_USER", "root"),
    "password": os.environ.get("TEST_MYSQL_PASSWORD", ""),
}
IN_CI = os.environ.get("CI", "").lower() == "true"
# Tests that open our files in LibreOffice: skipped on a laptop without it, run (and failing
# if it is missing) under CI=true, where .ci/run installs it.
NEEDS_LIBREOFFICE = pytest.mark.skipif(shutil.which("libreoffice") is None and not IN_CI,
                                       reason="LibreOffice is not installed (required in CI)")


def unavailable(reason: str) -> NoReturn:
    """A part a test needs is missing: skip on a laptop, fail under CI=true (where .ci/run
    installs or starts it), so CI never passes on tests that did not run."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def mysql_available() -> str | None:
    """None if the server answers, else the reason."""
    try:
        import mysql.connector

        conn = mysql.connector.connect(**MYSQL, connection_timeout=3, use_pure=True)
        conn.close()
        return None
    except Exception as exc:  # any failure means: not available
        return str(exc)


_mysql_reason: list[str | None] = []


def require_mysql() -> None:
    if not _mysql_reason:
        _mysql_reason.append(mysql_available())
    reason = _mysql_reason[0]
    if reason is not None:
        unavailable(f"the MySQL/MariaDB server is unavailable: {reason}")


# Fixtures that exist to start the service's own processes (a config file for a subprocess, a
# live server, a group of workers, a private database server): a test using one is `procs`.
PROCESS_FIXTURES = {"make_config", "live_server", "procs", "private_mariadb"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and any(isinstance(v, str) and v == "mysql" for v in callspec.params.values()):
            item.add_marker(pytest.mark.mysql)
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.procs)


def check_marked_mysql(request: pytest.FixtureRequest) -> None:
    """A test that asks for a MySQL database must carry the mysql marker, so that
    `-m "not mysql"` (make test-fast) never needs the server."""
    if request.node.get_closest_marker("mysql") is None:
        pytest.fail(f"{request.node.nodeid} uses MySQL: mark it @pytest.mark.mysql")


# argon2id at its smallest cost: hashing a password takes microseconds instead of ~0.3 s. Hashes
# carry their parameters, so servers and workers the tests start verify them as cheaply.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
CHEAP_DUMMY_HASH = CHEAP_HASHER.hash("dummy-password")
FULL_HASH: dict[str, object] = {}  # the module's own hasher and dummy hash, for full_hash tests


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hash() -> Iterator[None]:
    """Every test hashes passwords cheaply, as Django's testing docs advise; the tests of the
    password gate and the throttle (marked full_hash) get the real cost back."""
    from app.core.accounts import users

    FULL_HASH.update(_hasher=users._hasher, _dummy_hash=users._dummy_hash)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "_hasher", CHEAP_HASHER)
        patch.setattr(users, "_dummy_hash", lambda: CHEAP_DUMMY_HASH)
        yield


@pytest.fixture(autouse=True)
def full_password_hash(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("full_hash") is None:
        return
    from app.core.accounts import users

    for name, value in FULL_HASH.items():
        monkeypatch.setattr(users, name, value)


@pytest.fixture(scope="session", autouse=True)
def project_data_untouched() -> Iterator[None]:
    """No test writes into the project's own data/ (every test configures its own
    directories, MODELS_DIR included): files there would end up in a commit."""
    watched = [ROOT / "data" / name for name in ("models", "beyond.sqlite3")]
    before = {path for path in watched if path.exists()}
    yield
    created = {path for path in watched if path.exists()} - before
    assert not created, f"tests wrote into the project directory: {sorted(map(str, created))}"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model, trained once per test session into a temporary directory."""
    from model.train import train

    path = tmp_path_factory.mktemp("model") / "breast_cancer"
    train(path)
    return path


def new_mysql_name() -> str:
    return f"beyond_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def settings_values(engine: str, tmp_path: Path, model_dir: Path) -> dict[str, str]:
    """Settings for one test: its own data directories, SQLite file or MySQL database."""
    values = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "INPUT_DIR": str(tmp_path / "in"),
        "OUTPUT_DIR": str(tmp_path / "out"),
        "SQLITE_PATH": str(tmp_path / "beyond.sqlite3"),
        "MODEL_PATH": str(model_dir),
        "MODELS_DIR": str(tmp_path / "models"),
        "EMBEDDED_WORKER": "false",
        "HEARTBEAT_SECONDS": "1",
    }
    if engine == "mysql":
        values.update(HOST=MYSQL["host"], PORT=str(MYSQL["port"]), USER=MYSQL["user"],
                      PASSWORD=MYSQL["password"], DBNAME=new_mysql_name())
    return values


@pytest.fixture(params=["sqlite", "mysql"])
def engine(request: pytest.FixtureRequest) -> str:
    if request.param == "mysql":
        check_marked_mysql(request)
        require_mysql()
    return request.param


@pytest.fixture
def make_settings(request: pytest.FixtureRequest, tmp_path: Path, model_dir: Path) -> Callable[..., Settings]:
    def make(engine: str = "sqlite", **overrides: str) -> Settings:
        if engine == "mysql":
            check_marked_mysql(request)
        values = {**settings_values(engine, tmp_path, model_dir), **overrides}
        # environ={} so the developer's own BEYOND_* variables never leak into tests.
        return load_settings(config_path=os.devnull, environ={}, overrides=values)

    return make


@pytest.fixture
def settings(engine: str, make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(engine)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database: Database
    if settings.uses_mysql:
        database = MySQLDatabase(settings.host, settings.port, settings.user, settings.password, settings.dbname)
    else:
        database = SQLiteDatabase(settings.sqlite_path)
    database.init_schema()
    yield database
    database.drop_database()


@pytest.fixture
def users(db: Database):  # type: ignore[no-untyped-def]
    from app.core.accounts.users import Users

    return Users(db)


@pytest.fixture
def jobs(db: Database):  # type: ignore[no-untyped-def]
    from app.core.jobs.queue import Jobs

    return Jobs(db)


@pytest.fixture
def alice(users):  # type: ignore[no-untyped-def]
    return users.create("alice", "alice-password-1")


@pytest.fixture
def admin(users):  # type: ignore[no-untyped-def]
    return users.create("admin", "admin-password-1", is_admin=True)


def breast_cancer_frame(rows: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """`rows` rows sampled (with replacement) from the real data set, with the true label."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.copy()
    frame["diagnosis"] = data.target.map(dict(enumerate(data.target_names)))
    frame = frame.drop(columns=["target"])
    rng = np.random.default_rng(seed)
    picked = frame.iloc[rng.integers(0, len(frame), rows)].reset_index(drop=True)
    picked.insert(0, "patient_id", [f"P{i:06d}" for i in range(rows)])
    return picked


def fast_csv(path: Path, rows: int, columns: list[str] | None = None):  # type: ignore[no-untyped-def]
    """A breast-cancer-shaped CSV of `rows` rows written quickly (1,000 distinct feature lines
    behind unique ids; only `columns` after the id, when given). Returns (header, row(i) -> the
    fields of data row i, 0-based)."""
    base = breast_cancer_frame(1000, seed=11).drop(columns=["patient_id"])
    if columns is not None:
        base = base[columns]
    lines = base.to_csv(index=False, header=False, lineterminator="\n").splitlines()
    header = ["patient_id", *base.columns]
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(header) + "\n")
        for start in range(0, rows, 100_000):
            f.write("".join(f"P{i:07d},{lines[i % 1000]}\n" for i in range(start, min(rows, start + 100_000))))
    return header, lambda i: f"P{i:07d},{lines[i % 1000]}".split(",")


@pytest.fixture
def make_csv(tmp_path: Path) -> Callable[..., Path]:
    def make(rows: int = 50, name: str = "patients.csv", seed: int = 0) -> Path:
        path = tmp_path / name
        breast_cancer_frame(rows, seed).to_csv(path, index=False)
        return path

    return make


@pytest.fixture
def make_config(request: pytest.FixtureRequest, tmp_path: Path, model_dir: Path) -> Callable[..., tuple[Path, Settings]]:
    """A config.properties file for subprocesses (CLI, scheduler, server), and its Settings.
    The MySQL database it names is dropped at teardown."""
    created: list[Settings] = []

    def make(engine: str = "sqlite", **overrides: str) -> tuple[Path, Settings]:
        if engine == "mysql":
            check_marked_mysql(request)
            require_mysql()
        values = {**settings_values(engine, tmp_path, model_dir), "LOG_LEVEL": "INFO", **overrides}
        path = tmp_path / f"config-{uuid.uuid4().hex[:6]}.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
        settings = load_settings(config_path=path, environ={})
        created.append(settings)
        return path, settings

    yield make
    for settings in created:
        if settings.uses_mysql:
            MySQLDatabase(settings.host, settings.port, settings.user, settings.password, settings.dbname).drop_database()


def run_cli(config: Path, *args: str, stdin: str | None = None, timeout: float = 120):  # type: ignore[no-untyped-def]
    """Run `python <args>` from the project root with APP_CONFIG set; returns CompletedProcess."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("BEYOND_")}
    env["APP_CONFIG"] = str(config)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout)


# -- API (issue 4): an in-process client, token headers, and a real `python -m app serve` -----------
@pytest.fixture
def api_client(settings: Settings, db: Database):  # type: ignore[no-untyped-def]
    """TestClient over create_app(settings, db), lifespan included (schema, no embedded worker)."""
    from starlette.testclient import TestClient

    from app.web import create_app

    with TestClient(create_app(settings, db)) as client:
        yield client


@pytest.fixture
def bearer(db: Database) -> Callable[..., dict[str, str]]:
    """bearer(user) -> {"Authorization": "Bearer <a fresh token of that user>"}."""
    from app.core.accounts.tokens import Tokens

    def make(user) -> dict[str, str]:  # type: ignore[no-untyped-def]
        token, _ = Tokens(db).create(user.id, "test")
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def submit_job(settings: Settings, jobs, make_csv):  # type: ignore[no-untyped-def]
    """submit_job(user, rows=20) -> a PENDING job with a real stored CSV (as an upload makes)."""
    from app.core.jobs.submissions import submit_path

    def make(user, rows: int = 20):  # type: ignore[no-untyped-def]
        return submit_path(settings, jobs, user.id, make_csv(rows, name=f"in-{rows}.csv"))

    return make


def basic_auth(username: str, password: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def assert_json_error(response, status: int, *words: str) -> dict:  # type: ignore[no-untyped-def]
    """The API's error shape: JSON {"error": <human message>, "status": N, ...}, no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text
    for word in words:
        assert word in body["error"], body["error"]
    return body


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1: its Inbox and port."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp: tuple[Inbox, int]) -> Settings:
    """`settings` sending e-mail to the `smtp` server, from beyond@example.org."""
    _, port = smtp
    return settings.replace(smtp_host="127.0.0.1", smtp_port=port, smtp_from="beyond@example.org")


def start_server(config: Path, log_dir: Path, timeout: float = 60):  # type: ignore[no-untyped-def]
    """A real `python -m app serve` with APP_CONFIG=config on a free 127.0.0.1 port, once `/`
    answers 200. Returns (process, base_url); output goes to log_dir/server-<port>.log. Tests run
    in parallel, so another one may take the port between free_port() and the bind: then again."""
    import subprocess
    import time

    import httpx2

    port = free_port()
    log_path = log_dir / f"server-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEYOND_")}
    env.update(APP_CONFIG=str(config), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            output = log_path.read_text()
            if "address already in use" in output and time.monotonic() < deadline:
                return start_server(config, log_dir, deadline - time.monotonic())
            raise RuntimeError(f"server exited:\n{output}")
        try:
            if httpx2.get(base + "/", timeout=2).status_code == 200:
                return proc, base
        except httpx2.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start:\n{log_path.read_text()}")
        time.sleep(0.2)


def stop_server(proc) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def live_server(make_config, tmp_path: Path):  # type: ignore[no-untyped-def]
    """live_server(engine, **config) -> (base_url, config_path, settings): a real
    `python -m app serve` on a free 127.0.0.1 port, stopped (SIGTERM) at teardown."""
    started = []

    def start(engine: str = "sqlite", **overrides: str):  # type: ignore[no-untyped-def]
        config, settings = make_config(engine, **overrides)
        proc, base = start_server(config, tmp_path)
        started.append(proc)
        return base, config, settings

    yield start
    for proc in started:
        stop_server(proc)


@pytest.fixture
def app(settings, db):  # type: ignore[no-untyped-def]
    """The real application on this test's database (no embedded workers: tests drive them)."""
    from app.web import create_app

    return create_app(settings, db)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    """A TestClient on `app`, with its lifespan run."""
    from starlette.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client
