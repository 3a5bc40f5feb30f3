"""The tenant's sign-in switches: self sign-up and password sign-in, each on or off.

They live in the tenant's ``settings`` table under ``auth.self_signup`` and
``auth.password_login`` (JSON booleans); a missing key means on. ``service.sign_up`` and
``service.log_in`` read them in the request's transaction.

Password sign-in off keeps a break-glass path for **owners**, as Slack (primary owners), Okta
(super admins) and WorkOS-style admin portals do when SSO is enforced: if the identity provider
breaks, someone can still sign in and fix the configuration. Everyone else is refused with
``password_login_disabled``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts.models import User
from whitelabel.errors import ClientError, Forbidden, ValidationFailed
from whitelabel.tenant_data import TenantSetting, record_event, set_setting

__all__ = [
    "FIELDS",
    "PASSWORD_LOGIN",
    "SELF_SIGNUP",
    "AuthSettings",
    "get_auth_settings",
    "parse_auth_settings_patch",
    "update_auth_settings",
]

SELF_SIGNUP = "auth.self_signup"
PASSWORD_LOGIN = "auth.password_login"  # noqa: S105 - a settings key, not a password
#: API field name -> settings key.
FIELDS = {"self_signup": SELF_SIGNUP, "password_login": PASSWORD_LOGIN}


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """How people may sign in to the tenant's app."""

    self_signup: bool
    password_login: bool


async def get_auth_settings(db: AsyncSession) -> AuthSettings:
    """The tenant's switches (one query); an unset or non-boolean value counts as on."""
    rows = await db.execute(
        select(TenantSetting.key, TenantSetting.value).where(
            TenantSetting.key.in_(tuple(FIELDS.values()))
        )
    )
    stored = {key: value for key, value in rows}
    return AuthSettings(
        self_signup=stored.get(SELF_SIGNUP) is not False,
        password_login=stored.get(PASSWORD_LOGIN) is not False,
    )


def parse_auth_settings_patch(body: Any) -> dict[str, bool]:
    """The changes of a ``PATCH /api/v1/admin/auth-settings`` body, checked strictly.

    The body is a JSON object whose keys are among :data:`FIELDS` and whose values are JSON
    booleans (``"false"``, ``0`` and ``null`` are refused, not coerced).

    Raises:
        ClientError: 400 ``validation_failed``: the body is not an object.
        ValidationFailed: ``unknown_field``, ``invalid_setting`` (a value that is not a boolean).
    """
    if not isinstance(body, dict):
        raise ClientError("The body is a JSON object.", code="validation_failed")
    unknown = sorted(str(key)[:100] for key in body if key not in FIELDS)
    if unknown:
        raise ValidationFailed(
            f"Unknown field; the fields are {', '.join(FIELDS)}.",
            code="unknown_field",
            detail={"fields": unknown[:10]},
        )
    for field, value in body.items():
        if not isinstance(value, bool):
            raise ValidationFailed(
                f"{field} is true or false.", code="invalid_setting", detail={"field": field}
            )
    return dict(body)


async def update_auth_settings(
    db: AsyncSession, actor: User, changes: dict[str, bool], *, ip: str | None = None
) -> AuthSettings:
    """Apply ``changes`` (from :func:`parse_auth_settings_patch`) and audit them.

    Writes only the switches that change and records one ``auth_settings.changed`` event with
    ``detail = {field: {"from": old, "to": new}}``; a request that changes nothing records
    nothing.

    Raises:
        Forbidden: the actor is not an active admin or owner.
    """
    if actor.status != "active" or actor.role not in ("admin", "owner"):
        raise Forbidden("This needs an admin of this tenant.")
    current = await get_auth_settings(db)
    diff: dict[str, dict[str, bool]] = {}
    for field, value in changes.items():
        old = bool(getattr(current, field))
        if old != value:
            await set_setting(db, FIELDS[field], value)
            diff[field] = {"from": old, "to": value}
    if diff:
        record_event(db, "auth_settings.changed", actor=str(actor.id), ip=ip, detail=diff)
    return AuthSettings(
        self_signup=changes.get("self_signup", current.self_signup),
        password_login=changes.get("password_login", current.password_login),
    )
