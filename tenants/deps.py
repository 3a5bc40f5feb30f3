"""Dependencies handlers declare by name: ``tenant`` and ``db_session``."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.datastructures import State
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.middleware import STATE_TENANT
from whitelabel.context import TenantContext
from whitelabel.deps import CurrentTenant
from whitelabel.errors import NotFound
from whitelabel.runtime import Runtime

__all__ = ["provide_db_session", "provide_tenant"]


def provide_tenant(scope: Scope) -> TenantContext:
    """The request's tenant. On the platform host (no tenant) the route does not exist: 404."""
    tenant = scope["state"].get(STATE_TENANT)
    if not isinstance(tenant, TenantContext):
        raise NotFound("There is nothing at this address.")
    return tenant


async def provide_db_session(
    tenant: CurrentTenant, state: State
) -> AsyncGenerator[AsyncSession, None]:
    """A session bound to the request's tenant schema, committed when the handler succeeds.

    A handler error rolls back; a commit error propagates (it is never swallowed).
    """
    runtime: Runtime = state["runtime"]
    async with runtime.db.tenant_session(tenant) as session:
        try:
            yield session
        except Exception:
            await session.rollback()
            raise
        await session.commit()
