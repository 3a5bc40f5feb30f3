"""Accounts tables in the tenant schema: users and their server-side sessions.

Both tables exist once per tenant schema (``TenantBase``), so the same email in two tenants is
two unrelated users and a session row is only ever found on its own tenant's host.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from whitelabel.db.base import TenantBase, new_id, utcnow

__all__ = [
    "ROLES",
    "STATUSES",
    "TOKEN_PURPOSES",
    "AccountToken",
    "Invitation",
    "Session",
    "User",
]

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
    #: Profile fields filled from an identity provider's attributes (``sso.provisioning``), e.g.
    #: ``department`` or ``affiliation``; updated at each SSO sign-in.
    profile: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb"), default=dict
    )


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


TOKEN_PURPOSES = ("password_reset", "email_verify", "invitation")


class AccountToken(TenantBase):
    """A one-time emailed link: a password reset, an email verification or an invitation.

    ``token_hash`` is the SHA-256 (hex) of the link's random secret; the secret itself is only in
    the email. A token is live while ``used_at`` and ``revoked_at`` are empty and ``expires_at``
    is ahead; it is used up in the same statement that finds it (see ``accounts.links``).

    Reset and verification tokens name their ``user_id`` and the ``email`` they were sent to (a
    link stops working when the address changes). Invitations carry the invited ``email`` and
    ``role``; ``user_id`` is the user the accepted invitation created. At most one invitation per
    email is pending (not used, not revoked) at a time.
    """

    __tablename__ = "account_tokens"
    __table_args__ = (
        CheckConstraint(
            "purpose::text IN ('password_reset', 'email_verify', 'invitation')", name="purpose"
        ),
        CheckConstraint("role::text IN ('member', 'admin', 'owner')", name="role"),
        CheckConstraint(
            "purpose::text = 'invitation' AND email IS NOT NULL AND role IS NOT NULL"
            " OR purpose::text <> 'invitation' AND user_id IS NOT NULL AND email IS NOT NULL",
            name="subject",
        ),
        Index("ix_account_tokens_token_hash", "token_hash", unique=True),
        Index("ix_account_tokens_user_id", "user_id"),
        # One pending invitation per address; also the index of the admins' list.
        Index(
            "ix_account_tokens_pending_invitation",
            "email",
            unique=True,
            postgresql_where=text(
                "purpose::text = 'invitation' AND used_at IS NULL AND revoked_at IS NULL"
            ),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    role: Mapped[str | None] = mapped_column(String(10), nullable=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True, slots=True)
class Invitation:
    """An invitation as admins see it (read from an ``account_tokens`` row; not a table).

    ``invited_by`` is the inviting user's id, ``None`` for the platform (the command line);
    ``status`` is ``pending``, ``expired``, ``accepted`` or ``revoked``.
    """

    id: uuid.UUID
    email: str
    role: str
    invited_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    status: str
