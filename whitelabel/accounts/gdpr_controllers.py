"""GDPR routes for one user (tenant hosts only): export and erasure, by a tenant admin
(``/api/v1/admin/users/{id}/export``, ``DELETE /api/v1/admin/users/{id}``) or by the user
(``/api/v1/me/export``, ``POST /api/v1/me/erase``). The rules are in :mod:`~.gdpr`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, JSONBody

from whitelabel.accounts import admin_service, gdpr
from whitelabel.accounts.cookies import clear_session_cookies
from whitelabel.accounts.deps import CurrentUser
from whitelabel.accounts.guards import require_admin
from whitelabel.accounts.models import User
from whitelabel.accounts.service import Client
from whitelabel.context import TenantContext
from whitelabel.db.base import utcnow
from whitelabel.deps import CurrentTenant, DbSession
from whitelabel.tenant_data import record_event

__all__ = ["EraseIn", "GdprAdminController", "GdprMeController", "erase_user"]

AnyRequest = Request[Any, Any, Any]


@dataclass(frozen=True, slots=True)
class EraseIn:
    """``POST /api/v1/me/erase`` body: the account's password, to confirm."""

    password: str


def _ip(request: AnyRequest) -> str | None:
    return Client.of(request).ip


async def _export(
    request: AnyRequest, db: DbSession, tenant: TenantContext, actor: User, user: User
) -> Response[dict[str, Any]]:
    data = await gdpr.export_user(db, tenant, user)
    record_event(
        db, "user.data_exported", actor=str(actor.id), target=str(user.id), ip=_ip(request)
    )
    filename = f"user-{user.id}-{tenant.slug}-{utcnow():%Y%m%d}.json"
    return Response(
        data,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


class GdprAdminController(Controller):
    """Export a user of the tenant; needs an ``admin`` or ``owner``."""

    path = "/api/v1/admin/users"
    guards = [require_admin]

    @get("/{user_id:str}/export")
    async def export(
        self,
        request: AnyRequest,
        user_id: FromPath[str],
        tenant: CurrentTenant,
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> Response[dict[str, Any]]:
        """Everything the tenant holds about the user, as a JSON download."""
        target = await admin_service.get_user(db_session, user_id)
        return await _export(request, db_session, tenant, current_user, target)


# A route of its own rather than a method of a controller: Litestar 2.25 refuses two controllers
# with handlers on the same path (``PATCH`` of this path is in AdminUsersController), because
# each adds its own OPTIONS handler.
@delete("/api/v1/admin/users/{user_id:str}", status_code=204, guards=[require_admin])
async def erase_user(
    request: AnyRequest,
    user_id: FromPath[str],
    tenant: CurrentTenant,
    db_session: DbSession,
    current_user: CurrentUser,
) -> None:
    """Erase the user: delete the account, pseudonymise them in the audit log. An owner may
    erase anyone but themselves, an admin members only."""
    target = await admin_service.get_user(db_session, user_id)
    await gdpr.erase_user(db_session, tenant, current_user, target, ip=_ip(request))


class GdprMeController(Controller):
    """The signed-in user's own export and erasure."""

    path = "/api/v1/me"

    @get("/export")
    async def export(
        self,
        request: AnyRequest,
        tenant: CurrentTenant,
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> Response[dict[str, Any]]:
        """Everything the tenant holds about you, as a JSON download."""
        return await _export(request, db_session, tenant, current_user, current_user)

    @post("/erase", status_code=204)
    async def erase(
        self,
        data: JSONBody[EraseIn],
        tenant: CurrentTenant,
        db_session: DbSession,
        current_user: CurrentUser,
    ) -> Response[None]:
        """Erase your account (password required); signs you out."""
        await gdpr.erase_self(db_session, tenant, current_user, password=data.password)
        response: Response[None] = Response(None, status_code=204)
        clear_session_cookies(response)
        return response
