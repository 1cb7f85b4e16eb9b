"""The web application: create_app(settings) builds the one Starlette app that serves the
panel (app/panel.py), the API (app/api.py) and the health answer, and runs the embedded worker."""

from __future__ import annotations

import contextlib
import logging
import threading
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
from app.settings import ROOT, Settings, load_settings
from app.submissions import human_size
from app.tokens import Tokens
from app.users import Users
from model.artifact import ModelError, load_model
from scheduler.worker import Worker

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

    env.filters.update(localtime=localtime, duration=duration, filesize=human_size)
    env.globals.update(csrf_token=csrf_token, current_user=session_user, Status=Status,
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
    """MAX_CONCURRENT_JOBS worker threads inside the server, so a newcomer needs no cron."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.workers = [Worker(settings, db) for _ in range(settings.max_concurrent_jobs)]
        self.threads = [
            threading.Thread(target=w.loop, args=(settings.scheduler_interval,), name=f"embedded-worker-{i}", daemon=True)
            for i, w in enumerate(self.workers)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = 30) -> None:
        for worker in self.workers:
            worker.stop()
        for thread in self.threads:
            thread.join(timeout)


def create_app(settings: Settings | None = None, db: Database | None = None) -> Starlette:
    settings = settings or load_settings()
    db = db or open_database(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            db.init_schema()
        except DatabaseUnavailable as exc:
            # Start anyway: pages answer 503 until the database is back.
            log.error("event=web.start_without_database error=%r", str(exc))
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
