"""The tenant registry in the platform schema: tenants, their hosts and their schema ledger."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from whitelabel.context import TenantStatus
from whitelabel.db.base import PlatformBase, TimestampMixin, new_id

__all__ = [
    "Domain",
    "DomainKind",
    "PooledSchema",
    "SchemaBlueprint",
    "SchemaState",
    "SchemaStatus",
    "Tenant",
    "TenantStatus",
]


class DomainKind(StrEnum):
    """``subdomain``: ``{slug}.{base domain}``, managed by whitelabel; ``custom``: the tenant's."""

    SUBDOMAIN = "subdomain"
    CUSTOM = "custom"


class SchemaStatus(StrEnum):
    """State of a tenant schema in the migration ledger."""

    PENDING = "pending"
    CREATING = "creating"
    READY = "ready"
    MIGRATING = "migrating"
    FAILED = "failed"
    DROPPED = "dropped"


class Tenant(TimestampMixin, PlatformBase):
    """A tenant: one branded app with its own hosts and its own schema."""

    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint(
            "status IN ('provisioning', 'active', 'suspended', 'deleted')", name="status"
        ),
        CheckConstraint("theme_version >= 0", name="theme_version"),
        Index(
            "uq_tenants_slug_live", "slug", unique=True, postgresql_where=text("purged_at IS NULL")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=TenantStatus.PROVISIONING.value)
    schema_name: Mapped[str] = mapped_column(String(63), unique=True)
    theme: Mapped[str] = mapped_column(String(63), default="default", server_default="default")
    theme_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """The published theme version pages use (the tenant schema's ``theme_versions``)."""
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    domains: Mapped[list[Domain]] = relationship(
        back_populates="tenant", cascade="all, delete-orphan", order_by="Domain.hostname"
    )
    schema_state: Mapped[SchemaState | None] = relationship(
        back_populates="tenant", cascade="all, delete-orphan", uselist=False
    )


class Domain(TimestampMixin, PlatformBase):
    """A hostname that routes to a tenant. Hostnames are stored normalised (see tenants.hosts)."""

    __tablename__ = "domains"
    __table_args__ = (
        CheckConstraint("kind IN ('subdomain', 'custom')", name="kind"),
        Index(
            "uq_domains_primary_per_tenant",
            "tenant_id",
            unique=True,
            postgresql_where=text("is_primary"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    hostname: Mapped[str] = mapped_column(String(253), unique=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)

    tenant: Mapped[Tenant] = relationship(back_populates="domains")


class SchemaState(PlatformBase):
    """The migration ledger: one row per tenant schema, so a no-op fleet upgrade is one query."""

    __tablename__ = "schema_states"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'creating', 'ready', 'migrating', 'failed', 'dropped')",
            name="status",
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    schema_name: Mapped[str] = mapped_column(String(63), unique=True)
    revision: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), default=SchemaStatus.PENDING.value)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    migrated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    tenant: Mapped[Tenant] = relationship(back_populates="schema_state")


class SchemaBlueprint(PlatformBase):
    """The DDL that recreates the template schema at one tenant revision (see tenants.blueprint)."""

    __tablename__ = "schema_blueprints"

    revision: Mapped[str] = mapped_column(String(64), primary_key=True)
    statements: Mapped[list[str]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class PooledSchema(PlatformBase):
    """A tenant schema made ahead of time from the blueprint, waiting for its tenant.

    Its name is ``tenant_<hex>`` of the id the tenant that takes it will get, so claiming it is
    one row delete in the create transaction; entries of an older revision are dropped, never
    migrated (``db upgrade`` refills the pool at the new head).
    """

    __tablename__ = "schema_pool"

    schema_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    revision: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
