"""The HTTP layer: create_app(settings) builds the Starlette app that serves the panel
(app/web/panel/) and the API (app/web/api/) over the core (app/core/)."""

from app.web.app import create_app

__all__ = ["create_app"]
