"""Declarative bases: one for the platform schema, one for every tenant schema.

Tenant tables are declared in the placeholder schema :data:`TENANT_SCHEMA` (``"tenant"``). A
tenant-bound session translates it to the real ``tenant_<id>`` schema through SQLAlchemy's
``schema_translate_map``, so one compiled statement serves every tenant. No schema named
``tenant`` ever exists, so a statement that escapes the translation fails instead of reading
another tenant's rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "NAMING_CONVENTION",
    "PLATFORM_SCHEMA",
    "TENANT_SCHEMA",
    "PlatformBase",
    "TenantBase",
    "TimestampMixin",
    "utcnow",
]

PLATFORM_SCHEMA = "platform"
TENANT_SCHEMA = "tenant"

# Stable constraint names make migrations reviewable and let the template clone compare equal.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class PlatformBase(DeclarativeBase):
    """Base of the platform schema's tables (routing, billing, operations; nothing tenant-owned)."""

    metadata = MetaData(schema=PLATFORM_SCHEMA, naming_convention=NAMING_CONVENTION)


class TenantBase(DeclarativeBase):
    """Base of tables that exist once per tenant schema. Reached only through a tenant session."""

    metadata = MetaData(schema=TENANT_SCHEMA, naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    """``created_at``/``updated_at`` in UTC, set by the database."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, onupdate=utcnow
    )


def new_id() -> uuid.UUID:
    """A new random primary key."""
    return uuid.uuid4()
