"""Annotations for handler parameters that Litestar fills by dependency injection.

Module authors write::

    @get("/things")
    async def things(tenant: CurrentTenant, db_session: DbSession) -> list[Thing]: ...

``runtime`` (:data:`RuntimeDep`) gives the process's settings, database and tenant service.
``tenant`` is the request's :class:`~whitelabel.context.TenantContext`; ``db_session`` an
``AsyncSession`` bound to that tenant's schema, committed when the handler succeeds.
"""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from whitelabel.context import TenantContext
from whitelabel.runtime import Runtime

__all__ = ["CurrentTenant", "DbSession", "Engine", "RuntimeDep"]

# Values that whitelabel itself provides are not re-validated on every request (SkipValidation):
# the providers are typed, and validating a dataclass per request costs measurable throughput.
CurrentTenant: TypeAlias = NamedDependency[SkipValidation[TenantContext]]
DbSession: TypeAlias = NamedDependency[SkipValidation[AsyncSession]]
Engine: TypeAlias = NamedDependency[SkipValidation[AsyncEngine]]
RuntimeDep: TypeAlias = NamedDependency[SkipValidation[Runtime]]
"""The process's :class:`~whitelabel.runtime.Runtime` (settings, database, tenant service)."""
