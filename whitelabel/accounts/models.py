"""Accounts tables in the tenant schema: users and their server-side sessions.

Both tables exist once per tenant schema (``TenantBase``), so the same email in two tenants is
two unrelated users and a session row is only ever found on its own tenant's host.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from whitelabel.db.base import TenantBase, new_id, utcnow

__all__ = ["ROLES", "STATUSES", "Session", "User"]

ROLES = ("member", "admin", "owner")
STATUSES = ("active", "disabled")


class User(TenantBase):
    """A person of the tenant. ``email`` is stored normalised (see ``service.normalise_email``)."""

    __tablename__ = "users"
    __table_args__ = (
        # ``::text`` keeps the definition stable when PostgreSQL prints and re-reads it (the
        # template clone copies the printed form; a plain IN on varchar prints differently).
        CheckConstraint("role::text IN ('member', 'admin', 'owner')", name="role"),
        CheckConstraint("status::text IN ('active', 'disabled')", name="status"),
        # The normalised (lower-case) email is unique per tenant schema.
        Index("ix_users_email", "email", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    role: Mapped[str] = mapped_column(String(10), server_default=text("'member'"))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'active'"))
    email_verified: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Session(TenantBase):
    """A sign-in. ``id`` is the SHA-256 (hex) of the cookie token; the token itself is not kept."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    idle_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(500), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
