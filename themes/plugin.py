"""The themes plugin: built-in themes checked at start-up, the theme middleware, the routes."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin

from themes.controllers import (
    ThemeAdminController,
    asset,
    favicon_ico,
    public_theme,
    stylesheet,
)
from themes.middleware import ThemeMiddleware
from themes.pages import PAGE_HANDLERS
from themes.registry import load_themes
from whitelabel.runtime import Runtime

__all__ = ["ThemesPlugin"]


class ThemesPlugin(InitPlugin):
    """Adds the request's theme snapshot (``scope["state"][STATE_THEME]``) on tenant hosts and
    the theme routes.

    List it after ``TenancyPlugin`` (its middleware reads the tenant the tenancy middleware
    binds).

    Raises:
        ThemeDefinitionError: (at app creation) a built-in theme's ``theme.toml`` is broken.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        load_themes()  # a broken built-in theme stops the start-up with a clear message
        app_config.middleware.append(ThemeMiddleware(self.runtime))
        app_config.route_handlers.extend(
            [public_theme, stylesheet, asset, favicon_ico, ThemeAdminController]
        )
        app_config.route_handlers.extend(PAGE_HANDLERS)  # /admin/branding (themes.pages)
        return app_config
