"""The sign-in switches over HTTP: ``/api/v1/admin/auth-settings`` for tenant admins and the
public ``GET /api/v1/auth/options`` that sign-in pages read (tenant hosts only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, patch
from litestar.params import JSONBody

from whitelabel.accounts.deps import CurrentUser
from whitelabel.accounts.guards import require_admin
from whitelabel.accounts.service import Client
from whitelabel.accounts.settings_service import (
    AuthSettings,
    get_auth_settings,
    parse_auth_settings_patch,
    update_auth_settings,
)
from whitelabel.deps import DbSession

__all__ = ["AuthOptionsView", "AuthSettingsController", "AuthSettingsView", "auth_options"]


@dataclass(frozen=True, slots=True)
class AuthSettingsView:
    """The switches as tenant admins read and change them."""

    self_signup: bool
    password_login: bool


@dataclass(frozen=True, slots=True)
class AuthOptionsView:
    """What a sign-in page offers: self sign-up, password sign-in (SSO connections come later).

    ``password_login`` false means password sign-in is off for everyone but owners.
    """

    self_signup: bool
    password_login: bool


def _view(settings: AuthSettings) -> AuthSettingsView:
    return AuthSettingsView(
        self_signup=settings.self_signup, password_login=settings.password_login
    )


class AuthSettingsController(Controller):
    """Tenant admins read and change the sign-in switches."""

    path = "/api/v1/admin/auth-settings"
    guards = [require_admin]

    @get("/")
    async def read(self, db_session: DbSession) -> AuthSettingsView:
        """The current switches."""
        return _view(await get_auth_settings(db_session))

    @patch("/")
    async def change(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[dict[str, Any]],
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> AuthSettingsView:
        """Turn switches on or off: ``{"self_signup"?: bool, "password_login"?: bool}``.

        Values must be JSON booleans; unknown fields are refused (422 ``unknown_field``,
        ``invalid_setting``). Audited as ``auth_settings.changed`` when something changes.
        """
        changes = parse_auth_settings_patch(data)
        ip = Client.of(request).ip
        return _view(await update_auth_settings(db_session, current_user, changes, ip=ip))


@get("/api/v1/auth/options")
async def auth_options(db_session: DbSession) -> AuthOptionsView:
    """How people may sign in to this tenant's app (public; no session needed)."""
    settings = await get_auth_settings(db_session)
    return AuthOptionsView(self_signup=settings.self_signup, password_login=settings.password_login)
