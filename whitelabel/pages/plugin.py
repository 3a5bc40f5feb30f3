"""Registers the page routes and the theme-aware template engine."""

from __future__ import annotations

from pathlib import Path

from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin
from litestar.template import TemplateConfig

from themes.engine import shared_engine
from whitelabel.pages.controllers import PagesController

__all__ = ["PagesPlugin"]

TEMPLATES = Path(__file__).parent / "templates"


class PagesPlugin(InitPlugin):
    """Adds the tenant pages and the theme engine (``themes.engine``): one Jinja2 environment
    per built-in theme, autoescaping, the request's theme picked at render time."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(PagesController)
        if app_config.template_config is None:
            app_config.template_config = TemplateConfig(instance=shared_engine())
        return app_config
