"""The web panel: sign-in, account, tokens and users (people.py) and the job panel (jobs.py).
app/web/app.py mounts ``routes``."""

from starlette.routing import BaseRoute

from app.web.panel import jobs, people

routes: list[BaseRoute] = [*people.routes, *jobs.routes]
