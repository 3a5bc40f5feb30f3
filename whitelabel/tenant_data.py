"""Kernel tables that every tenant schema has: the audit log and tenant key-value settings.

Shared modules (accounts, themes, SSO, ...) add their own tables to the tenant stream; these two
are the ones the tenancy kernel itself writes: lifecycle events go into the tenant's own audit
log, and small per-tenant switches live in ``settings``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, Uuid, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from whitelabel.db.base import TenantBase, new_id, utcnow

__all__ = ["AuditEvent", "TenantSetting", "get_setting", "record_event", "set_setting"]


class AuditEvent(TenantBase):
    """One append-only audit record: who did what, to what, when, from where."""

    __tablename__ = "audit_log"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, index=True
    )
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str | None] = mapped_column(String(320))
    ip: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class TenantSetting(TenantBase):
    """A per-tenant setting (JSON value under a dotted key)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, onupdate=utcnow
    )


def record_event(
    session: Session | AsyncSession,
    action: str,
    *,
    actor: str,
    target: str | None = None,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit record to ``session`` (a tenant session); it is written on commit."""
    event = AuditEvent(
        actor=actor, action=action, target=target, ip=ip, detail=detail or {}, at=utcnow()
    )
    session.add(event)
    return event


async def get_setting(session: AsyncSession, key: str, default: Any = None) -> Any:
    """The value of a tenant setting, or ``default``."""
    value = await session.scalar(select(TenantSetting.value).where(TenantSetting.key == key))
    return default if value is None else value


async def set_setting(session: AsyncSession, key: str, value: Any) -> None:
    """Create or replace a tenant setting (committed with the session)."""
    stmt = insert(TenantSetting).values(key=key, value=value, updated_at=utcnow())
    stmt = stmt.on_conflict_do_update(
        index_elements=[TenantSetting.key], set_={"value": value, "updated_at": utcnow()}
    )
    await session.execute(stmt)
