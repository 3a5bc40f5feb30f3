"""The accounts plugin: adds the auth and ``/me`` routes (dependencies come from tenancy)."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin

from whitelabel.accounts.controllers import AuthController, MeController

__all__ = ["AccountsPlugin"]


class AccountsPlugin(InitPlugin):
    """Adds ``/api/v1/auth/{signup,login,logout}`` and ``/api/v1/me``."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend([AuthController, MeController])
        return app_config
