"""The transactional outbox in the platform schema: one row per message to send.

A module adds a row in the same transaction as the change that causes the mail (see
:func:`whitelabel.mail.enqueue`), so the mail exists if and only if that change commits; the
dispatcher (:mod:`whitelabel.mail.dispatcher`) sends it afterwards and records the outcome. The
table is in the platform schema, so one dispatcher serves every tenant, and a tenant-bound
session can write it: the table is schema-qualified, which the tenant's ``schema_translate_map``
leaves alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from whitelabel.db.base import PlatformBase, new_id

__all__ = ["MailOutbox", "MailStatus"]


class MailStatus(StrEnum):
    """Where a message is: ``pending`` (due at ``next_attempt_at``), ``sending`` (leased by a
    dispatcher until ``locked_until``), ``sent``, or ``failed`` (given up; kept, re-queueable)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class MailOutbox(PlatformBase):
    """One outgoing message and its delivery state."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        # The dispatcher's claim: the earliest due row among pending ones and expired leases (a
        # claim moves next_attempt_at to the lease's end, so one column orders both).
        Index(
            "ix_mail_outbox_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'sending')"),
        ),
        # `mail status`: counts per status and the latest failures.
        Index("ix_mail_outbox_status_created_at", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    """The tenant the mail is sent for; ``None`` for platform mail. No foreign key: enqueueing
    never locks the tenant's row (which lifecycle changes lock ``FOR UPDATE``)."""
    kind: Mapped[str] = mapped_column(String(64))
    to_address: Mapped[str] = mapped_column(String(254))
    from_name: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    """Emptied once the message is sent: bodies may hold live sign-in links."""
    html_body: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    """``<id@base domain>``, written by the first claim before the first send and never changed,
    so every attempt carries the same ``Message-ID`` (receivers drop duplicates by it)."""
    status: Mapped[str] = mapped_column(
        String(10), default=MailStatus.PENDING.value, server_default=MailStatus.PENDING.value
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Send attempts started (counted when a dispatcher claims the row)."""
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
