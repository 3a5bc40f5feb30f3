"""Engines and sessions: platform sessions and tenant-bound sessions, async and sync.

One pool serves every tenant. A tenant session is an ordinary SQLAlchemy session that sets the
tenant's ``schema_translate_map`` on each transaction's connection as the transaction begins;
nothing is ever set on the pooled connection outside a transaction (see
:mod:`whitelabel.db.switching`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from whitelabel.context import TenantContext, current_tenant
from whitelabel.db.switching import (
    SCHEMA_INFO_KEY,
    install_engine_hooks,
    install_session_hooks,
    translate_map,
)

__all__ = ["Database", "TenantSession", "WhitelabelSession"]


class WhitelabelSession(Session):
    """Sessions that may run without a tenant (platform work): tenant tables are refused unless
    the session carries a tenant schema in ``info``."""


install_session_hooks(WhitelabelSession)


class TenantSession(Session):
    """Sessions created bound to one tenant (:meth:`Database.tenant_session`): no guard needed.

    Each transaction's connection gets the tenant's ``schema_translate_map`` as it begins. (An
    engine bound with ``execution_options`` would do the same, but its joined event dispatch
    costs every statement of every request measurably more.)
    """


def _bind_connection(session: Session, transaction: object, connection: Connection) -> None:
    connection.execution_options(schema_translate_map=translate_map(session.info[SCHEMA_INFO_KEY]))


event.listen(TenantSession, "after_begin", _bind_connection)


class Database:
    """The process's connection pools and session factories for one PostgreSQL database.

    Args:
        url: a ``postgresql+psycopg://`` URL.
        prepare_threshold: psycopg's server-side prepare threshold (``None``: never prepare).
        pool_size: connections per pool. The async request pool never holds more (no overflow);
            the sync command pool may overflow to twice as many.
    """

    def __init__(
        self, url: str, *, pool_size: int = 10, prepare_threshold: int | None = None
    ) -> None:
        self.url = url
        connect_args: dict[str, Any] = {"prepare_threshold": prepare_threshold}
        # No overflow for requests: WHITELABEL_POOL_SIZE is the most connections a process holds
        # for requests, so max_connections and PgBouncer can be sized from it, and a pool of one
        # is really one connection (tests/integration/test_leak_concurrency.py runs every
        # tenant's transactions through one connection that way; with overflow it opened two).
        self.async_engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, max_overflow=0, connect_args=connect_args
        )
        install_engine_hooks(self.async_engine.sync_engine)
        # Commands may nest a session in another (TenantService.create re-adding hosts), so the
        # command pool keeps its overflow.
        self.sync_engine: Engine = create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, connect_args=connect_args
        )
        install_engine_hooks(self.sync_engine)

    def tenant_session(self, tenant: TenantContext | None = None) -> AsyncSession:
        """An async session bound to ``tenant`` (default: the tenant bound to this context).

        Raises:
            TenantNotBoundError: no tenant given and none bound.
        """
        schema = (tenant or current_tenant()).schema
        return AsyncSession(
            bind=self.async_engine,
            sync_session_class=TenantSession,
            expire_on_commit=False,
            info={SCHEMA_INFO_KEY: schema},
        )

    def platform_session(self) -> AsyncSession:
        """An async session on the platform schema; tenant tables are refused in it."""
        return AsyncSession(
            bind=self.async_engine, sync_session_class=WhitelabelSession, expire_on_commit=False
        )

    def tenant_sync_session(self, tenant: TenantContext | None = None) -> Session:
        """A sync session bound to ``tenant`` (for commands, scripts and threads).

        Raises:
            TenantNotBoundError: no tenant given and none bound.
        """
        schema = (tenant or current_tenant()).schema
        return TenantSession(
            bind=self.sync_engine,
            expire_on_commit=False,
            info={SCHEMA_INFO_KEY: schema},
        )

    def platform_sync_session(self) -> Session:
        """A sync session on the platform schema; tenant tables are refused in it."""
        return WhitelabelSession(bind=self.sync_engine, expire_on_commit=False)

    async def dispose(self) -> None:
        """Close every pooled connection of both engines."""
        await self.async_engine.dispose()
        self.sync_engine.dispose()
