"""Annotations for handler parameters that Litestar fills by dependency injection.

Module authors write::

    @get("/things")
    async def things(tenant: CurrentTenant, db_session: DbSession) -> list[Thing]: ...

``tenant`` is the request's :class:`~whitelabel.context.TenantContext`; ``db_session`` an
``AsyncSession`` bound to that tenant's schema, committed when the handler succeeds.
"""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from whitelabel.context import TenantContext

__all__ = ["CurrentTenant", "DbSession", "Engine"]

CurrentTenant: TypeAlias = NamedDependency[TenantContext]
DbSession: TypeAlias = NamedDependency[AsyncSession]
Engine: TypeAlias = NamedDependency[AsyncEngine]
