"""The accounts plugin: the auth, ``/me`` and admin routes, and the ``current_user`` dependency
(``tenant`` and ``db_session`` come from tenancy)."""

from __future__ import annotations

from click import Group
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins import CLIPlugin, InitPlugin

from whitelabel.accounts.audit_controllers import AuditController
from whitelabel.accounts.controllers import AdminUsersController, AuthController, MeController
from whitelabel.accounts.deps import provide_current_user
from whitelabel.accounts.gdpr_controllers import (
    GdprAdminController,
    GdprMeController,
    erase_user,
)
from whitelabel.accounts.links_controllers import LINKS_CONTROLLERS
from whitelabel.accounts.pages import (
    AdminUsersPageController,
    LinkPagesController,
    SignInPagesController,
)
from whitelabel.accounts.passwords import password_hasher
from whitelabel.accounts.settings_controllers import AuthSettingsController, auth_options

__all__ = ["AccountsPlugin"]


class AccountsPlugin(InitPlugin, CLIPlugin):
    """Adds ``/api/v1/auth/{signup,login,logout}``, ``/api/v1/me``, ``/api/v1/admin/users``
    and the ``current_user`` dependency."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        password_hasher()  # a wrong WHITELABEL_PASSWORD_HASHING stops the start, not a sign-in
        app_config.route_handlers.extend([AuthController, MeController, AdminUsersController])
        app_config.route_handlers.extend(LINKS_CONTROLLERS)
        app_config.route_handlers.extend([AuthSettingsController, auth_options])
        app_config.route_handlers.extend(
            [SignInPagesController, AdminUsersPageController, LinkPagesController]
        )
        app_config.route_handlers.extend(
            [AuditController, GdprAdminController, GdprMeController, erase_user]
        )
        app_config.dependencies["current_user"] = Provide(provide_current_user)
        return app_config

    def on_cli_init(self, cli: Group) -> None:
        from whitelabel.accounts.cli import users_group

        cli.add_command(users_group)
