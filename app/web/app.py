"""The web application: create_app(settings) builds the one Starlette app that serves the
panel (app/web/panel/), the API (app/web/api/) and the health answer, and starts the embedded
worker processes (app/web/supervisor.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape
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
from app.core.accounts.tokens import Tokens
from app.core.accounts.users import Users
from app.core.db import Database, DatabaseUnavailable, open_database
from app.core.events.metrics import registry_for
from app.core.jobs.files import human_size, sweep_partial_uploads
from app.core.jobs.listing import JobList
from app.core.jobs.queue import Jobs
from app.core.jobs.records import Status
from app.core.logfmt import log_event
from app.core.registry.models import Registry
from app.core.settings import ROOT, Settings, load_settings
from app.web import api, panel
from app.web.api.metrics import MetricsListener
from app.web.auth import session_user
from app.web.csrf import csrf_token
from app.web.errors import EXCEPTION_HANDLERS
from app.web.security import SecurityHeaders
from app.web.supervisor import EmbeddedWorkers
from model.schema import ModelError

log = logging.getLogger("beyond.web")
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def signed_in_user(request: Request) -> dict[str, Any]:
    """Template context: the user this request already looked up (session_user caches it in
    the scope), never a new query: templates do no I/O, so a page about the database being
    down still renders at once."""
    return {"current_user": request.scope.get("beyond.user")}


BREAK_AFTER = re.compile(r"(?<=[_.\-])")


def breakable(name: str | None) -> Markup:
    """A file name, escaped, with a line-break opportunity (<wbr>) after each _ . and -: a long
    name wraps between its parts ('clinic_north_' / '2023.csv') rather than mid-word."""
    return Markup("<wbr>").join(escape(part) for part in BREAK_AFTER.split(name or ""))


def make_templates(settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR), context_processors=[signed_in_user])
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

    env.filters.update(localtime=localtime, duration=duration, filesize=human_size, breakable=breakable)
    env.globals.update(csrf_token=csrf_token, Status=Status,
                       time_zone=settings.time_zone, app_version=__version__)
    return templates


def model_version(settings: Settings, db: Database) -> str | None:
    """The default model's active version (None when there is none to be had)."""
    try:
        return Registry(db, settings).default().version
    except (ModelError, DatabaseUnavailable):
        return None


async def home(request: Request) -> Response:
    """Browsers go to the panel; programs (curl) get the article's health answer."""
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        # session_user queries the database: off the event loop, like every other query.
        user = await run_in_threadpool(session_user, request)
        return RedirectResponse("/jobs" if user else "/login", status_code=303)
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
        "model_version": model_version(settings, db) if ok else None,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


SWEEP_EVERY = 600  # seconds between sweeps of abandoned .upload-*.part files


async def sweep_uploads(settings: Settings) -> None:
    """At start and every SWEEP_EVERY seconds: remove upload temp files a crash left behind."""
    while True:
        try:
            await run_in_threadpool(sweep_partial_uploads, settings.input_dir)
        except Exception:  # storage trouble is logged by the sweep; never end the task
            log.exception("sweep of partial uploads failed")
        await asyncio.sleep(SWEEP_EVERY)


def create_app(settings: Settings | None = None, db: Database | None = None) -> Starlette:
    settings = settings or load_settings()
    db = db or open_database(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await run_in_threadpool(db.init_schema)
            await run_in_threadpool(JobList(db).fill_file_keys)  # names stored before migration 010
        except DatabaseUnavailable as exc:
            # Start anyway: pages answer 503 until the database is back.
            log_event(log, "web.start_without_database", logging.ERROR, error=exc)
        sweeper = asyncio.create_task(sweep_uploads(settings))
        workers = EmbeddedWorkers(settings) if settings.embedded_worker else None
        if workers:
            workers.start()
        listener = MetricsListener(settings, db) if settings.metrics_bind else None
        if listener:
            listener.start()  # a bind that fails (address in use) stops the start, loudly
        try:
            yield
        finally:
            sweeper.cancel()
            if listener:
                await run_in_threadpool(listener.stop)
            if workers:
                await run_in_threadpool(workers.stop)

    routes = [
        Route("/", home, methods=["GET"]),
        *panel.routes,
        *api.routes,
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
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
    app.state.metrics_registry = registry_for(db)
    return app
