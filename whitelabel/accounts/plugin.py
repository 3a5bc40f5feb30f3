"""The accounts plugin: the auth, ``/me`` and admin routes, and the ``current_user`` dependency
(``tenant`` and ``db_session`` come from tenancy)."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins import InitPlugin

from whitelabel.accounts.controllers import AdminUsersController, AuthController, MeController
from whitelabel.accounts.deps import provide_current_user

__all__ = ["AccountsPlugin"]


class AccountsPlugin(InitPlugin):
    """Adds ``/api/v1/auth/{signup,login,logout}``, ``/api/v1/me``, ``/api/v1/admin/users``
    and the ``current_user`` dependency."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend([AuthController, MeController, AdminUsersController])
        app_config.dependencies["current_user"] = Provide(provide_current_user)
        return app_config
