"""Dependencies handlers declare by name: ``tenant`` and ``db_session``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.middleware import STATE_TENANT
from whitelabel.context import TenantContext
from whitelabel.db.engine import Database
from whitelabel.errors import NotFound

__all__ = ["db_session_provider", "provide_tenant"]


def provide_tenant(scope: Scope) -> TenantContext:
    """The request's tenant. On the platform host (no tenant) the route does not exist: 404."""
    tenant = scope["state"].get(STATE_TENANT)
    if not isinstance(tenant, TenantContext):
        raise NotFound("There is nothing at this address.")
    return tenant


def db_session_provider(
    db: Database,
) -> Callable[[Scope], AsyncGenerator[AsyncSession, None]]:
    """The ``db_session`` dependency over ``db``: a session bound to the request's tenant schema,
    committed when the handler succeeds. A handler error rolls back; a commit error propagates
    (it is never swallowed). Outside a tenant host it is the same 404 as ``tenant``."""

    async def provide_db_session(scope: Scope) -> AsyncGenerator[AsyncSession, None]:
        async with db.tenant_session(provide_tenant(scope)) as session:
            try:
                yield session
            except Exception:
                await session.rollback()
                raise
            await session.commit()

    return provide_db_session
