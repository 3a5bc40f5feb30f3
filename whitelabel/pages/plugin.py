"""Registers the page routes and the template engine."""

from __future__ import annotations

from pathlib import Path

from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig

from whitelabel.pages.controllers import PagesController

__all__ = ["PagesPlugin"]

TEMPLATES = Path(__file__).parent / "templates"


class PagesPlugin(InitPlugin):
    """Adds the tenant pages and a Jinja2 environment with autoescaping."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(PagesController)
        if app_config.template_config is None:
            app_config.template_config = TemplateConfig(
                directory=TEMPLATES, engine=JinjaTemplateEngine
            )
        return app_config
