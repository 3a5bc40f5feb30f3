"""Writing mail into the outbox, and the operator's view of it (status, re-queueing).

:func:`enqueue` (and :func:`enqueue_sync` for commands) adds the message in the caller's own
transaction: the mail exists if and only if the change that caused it commits. It also queues a
PostgreSQL ``NOTIFY wl_mail``, delivered on commit, which wakes the dispatchers at once (they
poll as well, so nothing depends on it).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from whitelabel.context import TenantContext
from whitelabel.db.base import new_id
from whitelabel.mail.config import is_mail_address
from whitelabel.mail.errors import (
    InvalidMailAddress,
    InvalidMailContent,
    InvalidMailHeader,
    MailAlreadySent,
    MailNotFound,
)
from whitelabel.mail.models import MailOutbox, MailStatus

__all__ = [
    "CHANNEL",
    "MAX_BODY",
    "FailedMail",
    "OutboxStatus",
    "enqueue",
    "enqueue_sync",
    "outbox_status",
    "retry_failed",
    "retry_mail",
]

CHANNEL = "wl_mail"
MAX_BODY = 1_000_000
MAX_SUBJECT = 300
MAX_FROM_NAME = 200
_KIND = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_LINE_BREAKING = {"Cc", "Zl", "Zp"}  # controls (CR, LF, NUL, TAB, NEL ...), line/para separators

OUTBOX = cast(Table, MailOutbox.__table__)


# Queued by each transaction that makes mail due; PostgreSQL delivers it on commit only.
_NOTIFY = select(func.pg_notify(CHANNEL, ""))


def _header(value: object, field: str, limit: int) -> str:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > limit
        or any(unicodedata.category(ch) in _LINE_BREAKING for ch in value)
    ):
        raise InvalidMailHeader(
            f"The {field.replace('_', ' ')} must be 1-{limit} characters on one line.",
            detail={"field": field},
        )
    return value


def _body(value: object, field: str, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if (
        not isinstance(value, str)
        or (required and not value.strip())
        or len(value) > MAX_BODY
        or "\x00" in value
    ):
        raise InvalidMailContent(
            f"The {field} body must be text of at most {MAX_BODY} characters, without NUL.",
            detail={"field": field},
        )
    return value


def _default_from_name(tenant: TenantContext | None) -> str | None:
    """The tenant's name as the sender's display name, on one line."""
    if tenant is None:
        return None
    name = "".join(
        " " if unicodedata.category(ch) in _LINE_BREAKING else ch for ch in tenant.name
    ).strip()
    return name[:MAX_FROM_NAME] or None


def _values(
    tenant: TenantContext | None,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    kind: str,
    from_name: str | None,
) -> dict[str, Any]:
    if not isinstance(to, str) or not is_mail_address(to):
        raise InvalidMailAddress(
            "The recipient must be one email address such as name@example.com.",
            detail={"field": "to"},
        )
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise InvalidMailHeader(
            "The kind must be a lower-case identifier such as password_reset.",
            detail={"field": "kind"},
        )
    return {
        "id": new_id(),
        "tenant_id": tenant.id if tenant is not None else None,
        "kind": kind,
        "to_address": to,
        "from_name": (
            _default_from_name(tenant)
            if from_name is None
            else _header(from_name, "from_name", MAX_FROM_NAME)
        ),
        "subject": _header(subject, "subject", MAX_SUBJECT),
        "text_body": _body(text, "text", required=True),
        "html_body": _body(html, "html", required=False),
        "status": MailStatus.PENDING.value,
        "attempts": 0,
    }


async def enqueue(
    db: AsyncSession,
    *,
    tenant: TenantContext | None,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    kind: str,
    from_name: str | None = None,
) -> uuid.UUID:
    """Queue one message in ``db``'s current transaction; it is sent after that commits.

    Works in a tenant-bound session (the outbox is a platform table, schema-qualified) and in a
    platform session. Nothing is flushed: the caller's pending objects are left alone.

    Args:
        db: the caller's session; the row is written in its transaction (begun if needed).
        tenant: the tenant the mail is for (its name is the default sender name); ``None``
            for platform mail.
        to: one bare address ``local@domain`` (ASCII).
        subject: one line, at most 300 characters.
        text: the plain-text body (required; HTML-only mail is not sent).
        html: an optional HTML alternative of the same content.
        kind: what the mail is, for operators (``password_reset``, ``invitation``, ...).
        from_name: the sender's display name; default the tenant's name. The address is
            ``WHITELABEL_MAIL_FROM``.

    Returns:
        The outbox row's id.

    Raises:
        InvalidMailAddress: ``to`` is not one plain address.
        InvalidMailHeader: ``subject``, ``from_name`` or ``kind`` is empty, too long, or has a
            line break or control character (header injection is refused, not cleaned).
        InvalidMailContent: a body is empty (text), too large or holds NUL.
    """
    values = _values(tenant, to, subject, text, html, kind, from_name)
    with db.no_autoflush:  # the caller's pending objects flush when the caller decides
        await db.execute(insert(OUTBOX).values(values))
        await db.execute(_NOTIFY)
    mail_id: uuid.UUID = values["id"]
    return mail_id


def enqueue_sync(
    session: Session,
    *,
    tenant: TenantContext | None,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    kind: str,
    from_name: str | None = None,
) -> uuid.UUID:
    """:func:`enqueue` for sync sessions (commands, scripts); same arguments and errors."""
    values = _values(tenant, to, subject, text, html, kind, from_name)
    with session.no_autoflush:
        session.execute(insert(OUTBOX).values(values))
        session.execute(_NOTIFY)
    mail_id: uuid.UUID = values["id"]
    return mail_id


# -- the operator's view -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FailedMail:
    """A message the dispatcher gave up on."""

    id: uuid.UUID
    tenant_id: uuid.UUID | None
    kind: str
    to_address: str
    attempts: int
    last_error: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": str(self.id),
            "tenant_id": str(self.tenant_id) if self.tenant_id else None,
            "kind": self.kind,
            "to": self.to_address,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """Counts per status, the backlog of due mail, and the latest failures."""

    counts: dict[str, int]
    due: int
    oldest_due_at: datetime | None
    recent_failures: list[FailedMail]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``mail status --json``)."""
        return {
            "counts": self.counts,
            "due": self.due,
            "oldest_due_at": self.oldest_due_at.isoformat() if self.oldest_due_at else None,
            "recent_failures": [f.to_dict() for f in self.recent_failures],
        }


def outbox_status(conn: Connection, *, failures: int = 10) -> OutboxStatus:
    """The outbox at a glance: every status's count (zeros included), how many pending
    messages are due now (a growing number means no dispatcher keeps up), and the ``failures``
    most recent failed messages."""
    t = OUTBOX
    counts = {status.value: 0 for status in MailStatus}
    for status, count in conn.execute(select(t.c.status, func.count()).group_by(t.c.status)):
        counts[status] = count
    due, oldest = conn.execute(
        select(func.count(), func.min(t.c.next_attempt_at)).where(
            t.c.status == MailStatus.PENDING.value, t.c.next_attempt_at <= func.now()
        )
    ).one()
    rows = conn.execute(
        select(
            t.c.id,
            t.c.tenant_id,
            t.c.kind,
            t.c.to_address,
            t.c.attempts,
            t.c.last_error,
            t.c.created_at,
        )
        .where(t.c.status == MailStatus.FAILED.value)
        .order_by(t.c.created_at.desc())
        .limit(failures)
    )
    return OutboxStatus(counts, due, oldest, [FailedMail(*row) for row in rows])


def _requeue() -> dict[str, Any]:
    return {
        "status": MailStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": func.now(),
        "locked_until": None,
    }


def retry_mail(conn: Connection, mail_id: uuid.UUID) -> bool:
    """Queue a failed message again with a fresh budget of attempts, due now.

    Returns:
        ``True`` if it was re-queued, ``False`` if it was already pending or being sent.

    Raises:
        MailNotFound: no message has that id.
        MailAlreadySent: the message was sent (sending it again would duplicate it).
    """
    t = OUTBOX
    status = conn.scalar(select(t.c.status).where(t.c.id == mail_id).with_for_update())
    if status is None:
        raise MailNotFound(f"No message {mail_id} in the outbox.")
    if status == MailStatus.SENT.value:
        raise MailAlreadySent(f"Message {mail_id} was sent already.")
    if status != MailStatus.FAILED.value:
        return False
    conn.execute(update(t).where(t.c.id == mail_id).values(_requeue()))
    conn.execute(_NOTIFY)
    return True


def retry_failed(conn: Connection) -> int:
    """Queue every failed message again (see :func:`retry_mail`); returns how many."""
    t = OUTBOX
    result = conn.execute(update(t).where(t.c.status == MailStatus.FAILED.value).values(_requeue()))
    if result.rowcount:
        conn.execute(_NOTIFY)
    return int(result.rowcount)
