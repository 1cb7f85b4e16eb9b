"""The API for other software (issue 4 fills this in)."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
