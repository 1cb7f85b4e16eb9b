"""The web application: create_app(settings) builds the one Starlette app that serves the
panel (app/panel.py), the API (app/api.py) and the health answer, and runs the embedded worker."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from app import __version__
from app.auth import csrf_token, session_user
from app.db import Database, DatabaseUnavailable, open_database
from app.errors import EXCEPTION_HANDLERS
from app.jobs import Jobs, Status
from app.logfmt import log_event
from app.settings import ENV_PREFIX, KEYS, ROOT, Settings, load_settings
from app.submissions import human_size
from app.tokens import Tokens
from app.users import User, Users
from model.artifact import ModelError, load_model

log = logging.getLogger("beyond.web")
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    zone = settings.zone

    def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        return value.astimezone(zone).strftime(fmt) if value else ""

    def duration(seconds: float | None) -> str:
        if seconds is None:
            return ""
        if seconds < 60:
            return f"{seconds:.1f} s"
        minutes, secs = divmod(int(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"

    def current_user(request: Request) -> User | None:
        # The 503 page is rendered by base.html too while the database is down: show it signed
        # out instead of failing again inside the error handler (which would answer a bare 500).
        try:
            return session_user(request)
        except DatabaseUnavailable:
            return None

    env.filters.update(localtime=localtime, duration=duration, filesize=human_size)
    env.globals.update(csrf_token=csrf_token, current_user=current_user, Status=Status,
                       time_zone=settings.time_zone, app_version=__version__)
    return templates


def model_version(settings: Settings) -> str | None:
    try:
        return load_model(settings.model_path).version
    except ModelError:
        return None


async def home(request: Request) -> Response:
    """Browsers go to the panel; programs (curl) get the article's health answer."""
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        return RedirectResponse("/jobs" if session_user(request) else "/login", status_code=303)
    # Off the event loop: a ping to an unreachable MySQL waits up to its connect timeout, and
    # the first model load reads the joblib file; neither may stall every other request.
    return await run_in_threadpool(health, request)


def health(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    ok = db.ping()
    body = {
        "MySAMPLE": "It works!",
        "version": __version__,
        "database": "ok" if ok else "unavailable",
        "database_engine": db.engine,
        "model_version": model_version(settings),
    }
    return JSONResponse(body, status_code=200 if ok else 503)


class EmbeddedWorkers:
    """MAX_CONCURRENT_JOBS worker processes run by the server, so a newcomer needs no cron.

    Processes, not threads: a job is CPU-bound and most of it (rendering the .xlsx XML and the
    CSV) holds the GIL, so two jobs in two threads of one process run mostly one after the
    other, while two processes use both cores (bench/RESULTS.md, "Several jobs at once"). Each
    child is `scheduler/process_pending.py --loop`, the same code cron runs, given exactly this
    server's settings through BEYOND_* variables. A child that dies is started again; on
    shutdown each gets SIGTERM, hands its running job back to the queue and exits. Children
    also get SIGTERM from the kernel if the server dies without shutting down.
    """

    SCRIPT = ROOT / "scheduler" / "process_pending.py"
    # Runs in the child before the worker: ask the kernel for SIGTERM when the parent dies, and
    # quit at once if it died already (then our parent is no longer the server).
    BOOT = (
        "import ctypes, os, runpy, signal, sys; "
        "getattr(ctypes.CDLL(None), 'prctl', lambda *a: 0)(1, signal.SIGTERM); "  # PR_SET_PDEATHSIG (Linux)
        "os.getppid() == int(sys.argv[1]) or sys.exit(0); "
        "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.procs: list[subprocess.Popen | None] = [None] * settings.max_concurrent_jobs
        self.started_at = [0.0] * settings.max_concurrent_jobs
        self.stopping = threading.Event()
        self.monitor = threading.Thread(target=self._watch, name="embedded-workers", daemon=True)

    @staticmethod
    def environment(settings: Settings) -> dict[str, str]:
        """This process's environment with every setting as BEYOND_<KEY>, so the child's
        load_settings() returns the same Settings whatever files it finds."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        for key in KEYS:
            value = getattr(settings, key.name.lower())
            env[ENV_PREFIX + key.name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        env["APP_CONFIG"] = os.devnull  # exists and is empty: nothing but the variables counts
        return env

    def _spawn(self, slot: int) -> None:
        command = [sys.executable, "-c", self.BOOT, str(os.getpid()), str(self.SCRIPT),
                   "--loop", "--interval", str(self.settings.scheduler_interval)]
        self.procs[slot] = subprocess.Popen(command, cwd=ROOT, env=self.environment(self.settings))
        self.started_at[slot] = time.monotonic()
        log_event(log, "web.worker_started", slot=slot, pid=self.procs[slot].pid)

    def start(self) -> None:
        for slot in range(len(self.procs)):
            self._spawn(slot)
        self.monitor.start()

    def _watch(self) -> None:
        failures = [0] * len(self.procs)
        while not self.stopping.wait(1.0):
            for slot, proc in enumerate(self.procs):
                if proc is None or proc.poll() is None:
                    continue
                # Died on its own: start it again, waiting longer each time it dies young
                # (a broken configuration must not become a fork loop).
                young = time.monotonic() - self.started_at[slot] < 30
                failures[slot] = failures[slot] + 1 if young else 0
                delay = min(60.0, 2.0 ** failures[slot]) if young else 0.0
                log_event(log, "web.worker_died", logging.ERROR, slot=slot, pid=proc.pid,
                          exit_code=proc.returncode, restart_in=delay)
                self.procs[slot] = None
                if self.stopping.wait(delay):
                    return
                self._spawn(slot)

    def stop(self, timeout: float = 30) -> None:
        self.stopping.set()
        if self.monitor.is_alive():
            self.monitor.join(timeout)
        running = [p for p in self.procs if p is not None and p.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)  # the worker releases its job at the next chunk
        deadline = time.monotonic() + timeout
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def create_app(settings: Settings | None = None, db: Database | None = None) -> Starlette:
    settings = settings or load_settings()
    db = db or open_database(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            db.init_schema()
        except DatabaseUnavailable as exc:
            # Start anyway: pages answer 503 until the database is back.
            log_event(log, "web.start_without_database", logging.ERROR, error=exc)
        workers = EmbeddedWorkers(settings, db) if settings.embedded_worker else None
        if workers:
            workers.start()
        try:
            yield
        finally:
            if workers:
                workers.stop()

    from app import api, panel  # imported here: they import this module's helpers

    routes = [
        Route("/", home, methods=["GET"]),
        *panel.routes,
        *api.routes,
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=settings.secret_key,
            session_cookie="beyond_session",
            max_age=settings.session_hours * 3600,
            same_site="lax",
            https_only=settings.https,
        )
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    app.state.settings = settings
    app.state.db = db
    app.state.jobs = Jobs(db)
    app.state.users = Users(db)
    app.state.tokens = Tokens(db)
    app.state.templates = make_templates(settings)
    return app
