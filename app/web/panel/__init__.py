"""The web panel: sign-in, account, tokens and users (app/panel_auth.py) and the job panel
(app/panel_jobs.py). app/web.py mounts ``routes``."""

from starlette.routing import BaseRoute

from app.web.panel import jobs as panel_jobs
from app.web.panel import people as panel_auth

routes: list[BaseRoute] = [*panel_auth.routes, *panel_jobs.routes]
