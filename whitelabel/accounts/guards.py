"""Role guards for routes: ``guards=[require_admin]`` or ``guards=[require_owner]``.

Guards run before dependency injection, so each opens its own short session on the request's
tenant schema to read the session cookie's user. Not signed in: 401 ``not_authenticated``;
signed in without the role: 403 ``forbidden``. The service functions check the actor's role again
inside the handler's transaction, so a role lost between the two is still refused.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from tenants.deps import provide_tenant
from whitelabel.accounts import service
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.accounts.errors import NotAuthenticated
from whitelabel.errors import Forbidden
from whitelabel.runtime import Runtime

__all__ = ["ADMIN_ROLES", "require_admin", "require_owner"]

ADMIN_ROLES = frozenset({"admin", "owner"})

AnyConnection = ASGIConnection[Any, Any, Any, Any]


async def _role(connection: AnyConnection) -> str:
    tenant = provide_tenant(connection.scope)  # 404 on the platform host
    runtime: Runtime = connection.app.state["runtime"]
    async with runtime.db.tenant_session(tenant) as session:
        user = await service.authenticate(session, connection.cookies.get(SESSION_COOKIE))
        if user is None:
            raise NotAuthenticated("Sign in first.")
        role = user.role
        await session.commit()  # the idle-expiry touch, if any
    return role


async def require_admin(connection: AnyConnection, _: BaseRouteHandler) -> None:
    """Let through a signed-in ``admin`` or ``owner``."""
    if await _role(connection) not in ADMIN_ROLES:
        raise Forbidden("This needs an admin of this tenant.")


async def require_owner(connection: AnyConnection, _: BaseRouteHandler) -> None:
    """Let through a signed-in ``owner``."""
    if await _role(connection) != "owner":
        raise Forbidden("This needs an owner of this tenant.")
