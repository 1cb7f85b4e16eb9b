"""The web panel: sign-in, account, tokens and users (app/panel_auth.py) and the job panel
(app/panel_jobs.py). app/web.py mounts ``routes``."""

from starlette.routing import BaseRoute

from app import panel_auth, panel_jobs

routes: list[BaseRoute] = [*panel_auth.routes, *panel_jobs.routes]
