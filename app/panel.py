"""The web panel (issue 3 fills this in)."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
