"""GDPR for one user of the tenant: export of what the tenant holds about them, and erasure.

**Export** (:func:`export_user`): the profile, the sessions (without their ids, which are the
hashes of the cookie tokens), the user's emailed links and invitations (without token hashes),
the invitations they sent (without the invitees' addresses), the mail the platform holds for
their address on this tenant's behalf, and every audit event naming them (as actor or target, or
their address or id in the detail).

**Erasure** (:func:`erase_user`) is irreversible anonymisation of the log plus a hard delete:

- the user row is deleted; their sessions and links go with it (``ON DELETE CASCADE``), the
  invitations they sent keep no inviter (``SET NULL``), a pending invitation to their address is
  deleted, and so is the outbox mail to their address for this tenant;
- in the audit log, every row naming them gets an opaque tag ``erased:<12 hex>`` instead of their
  id or email (as actor, target, or anywhere in the detail) and of their display name (as the
  value of a ``*name*`` key of the detail); rows they acted in lose the client address (it is
  theirs). The tag is random and nothing that could recompute it
  is kept: the rows of one erased person stay linked to each other, and to nobody;
- ``user.erased`` is appended, naming only the tag.

The audit log is append-only in the database (tenant revision t0004): the rewrite runs with
``SET LOCAL whitelabel.audit_redaction = 'on'``, switched off again right after, in the caller's
transaction, so it commits or rolls back with the delete.

Rules (checked in the caller's transaction under the tenant's owner lock): an owner may erase
anyone but themselves; an admin may erase members only; nobody erases themselves through the
admin route (they use their own, which asks for their password); the tenant always keeps an
active owner.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from whitelabel.accounts.audit_service import event_dict
from whitelabel.accounts.errors import LastOwner
from whitelabel.accounts.links import WrongPassword
from whitelabel.accounts.models import AccountToken, Session, User
from whitelabel.accounts.passwords import verify_password
from whitelabel.context import TenantContext
from whitelabel.db.base import utcnow
from whitelabel.errors import Conflict, Forbidden
from whitelabel.mail.models import MailOutbox
from whitelabel.tenant_data import AuditEvent, record_event

__all__ = ["REDACTION_SETTING", "erase_self", "erase_user", "export_user"]

#: The transaction-local switch that lets the audit log's trigger accept UPDATE and DELETE.
REDACTION_SETTING = "whitelabel.audit_redaction"
_ERASABLE_BY_ADMIN = ("member",)


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _about(user: User) -> ColumnElement[bool]:
    """Audit rows naming ``user``: as actor or target, or their email or id in the detail."""
    names = [str(user.id), user.email]
    detail = cast(AuditEvent.detail, Text)
    return or_(
        AuditEvent.actor.in_(names),
        AuditEvent.target.in_(names),
        AuditEvent.actor.ilike(_like(user.email), escape="\\"),
        AuditEvent.target.ilike(_like(user.email), escape="\\"),
        detail.ilike(_like(user.email), escape="\\"),
        detail.contains(str(user.id)),
    )


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _token_view(row: AccountToken, *, with_email: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": str(row.id),
        "purpose": row.purpose,
        "role": row.role,
        "created_at": _when(row.created_at),
        "expires_at": _when(row.expires_at),
        "used_at": _when(row.used_at),
        "revoked_at": _when(row.revoked_at),
    }
    if with_email:
        view["email"] = row.email
    return view


async def export_user(db: AsyncSession, tenant: TenantContext, user: User) -> dict[str, Any]:
    """Everything the tenant holds about ``user``, as a JSON-ready dict (read only).

    The caller records who asked (``user.data_exported``).
    """
    sessions = await db.scalars(
        select(Session).where(Session.user_id == user.id).order_by(Session.created_at)
    )
    own_links = await db.scalars(
        select(AccountToken)
        .where(or_(AccountToken.user_id == user.id, AccountToken.email == user.email))
        .order_by(AccountToken.created_at)
    )
    sent = await db.scalars(
        select(AccountToken)
        .where(AccountToken.created_by == user.id, AccountToken.purpose == "invitation")
        .order_by(AccountToken.created_at)
    )
    mail = await db.execute(
        select(
            MailOutbox.kind,
            MailOutbox.subject,
            MailOutbox.status,
            MailOutbox.created_at,
            MailOutbox.sent_at,
        )
        .where(MailOutbox.tenant_id == tenant.id, func.lower(MailOutbox.to_address) == user.email)
        .order_by(MailOutbox.created_at)
    )
    events = await db.scalars(
        select(AuditEvent).where(_about(user)).order_by(AuditEvent.at, AuditEvent.id)
    )
    return {
        "exported_at": utcnow().isoformat(),
        "tenant": {"slug": tenant.slug, "name": tenant.name},
        "user": {
            "id": str(user.id),
            "email": user.email,
            "display_name": user.display_name,
            "role": user.role,
            "status": user.status,
            "email_verified": user.email_verified,
            "has_password": user.password_hash is not None,
            "created_at": _when(user.created_at),
            "last_login_at": _when(user.last_login_at),
        },
        "sessions": [
            {
                "created_at": _when(s.created_at),
                "last_seen_at": _when(s.last_seen_at),
                "expires_at": _when(s.expires_at),
                "idle_expires_at": _when(s.idle_expires_at),
                "revoked_at": _when(s.revoked_at),
                "ip": s.ip,
                "user_agent": s.user_agent,
            }
            for s in sessions
        ],
        "links": [_token_view(row, with_email=True) for row in own_links],
        "invitations_sent": [_token_view(row, with_email=False) for row in sent],
        "mail": [
            {
                "kind": m.kind,
                "subject": m.subject,
                "status": m.status,
                "created_at": _when(m.created_at),
                "sent_at": _when(m.sent_at),
            }
            for m in mail
        ],
        "audit_events": [event_dict(e) for e in events],
    }


def _scrubber(user: User, tag: str) -> Any:
    """A function replacing the user's email and id anywhere in a JSON value (keys included,
    case-insensitively), and their display name where it is the value of a ``*name*`` key, with
    ``tag``. (A name is matched whole and only under such keys: a person called "Member" must not
    rewrite every ``"role": "member"``.)"""
    needles = re.compile(
        "|".join(re.escape(n) for n in (user.email, str(user.id))), flags=re.IGNORECASE
    )
    name = user.display_name.casefold()

    def scrub(value: Any, key: str = "") -> Any:
        if isinstance(value, str):
            if "name" in key.casefold() and value.casefold() == name:
                return tag
            return needles.sub(tag, value)
        if isinstance(value, dict):
            return {scrub(k): scrub(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v, key) for v in value]
        return value

    return scrub


async def _redact_audit(db: AsyncSession, user: User, tag: str) -> int:
    """Rewrite the audit rows naming ``user``; returns how many."""
    rows = list(await db.scalars(select(AuditEvent).where(_about(user)).with_for_update()))
    if not rows:
        return 0
    scrub = _scrubber(user, tag)
    await db.execute(text(f"SET LOCAL {REDACTION_SETTING} = 'on'"))
    for row in rows:
        acted = scrub(row.actor) != row.actor
        row.actor = scrub(row.actor)
        row.target = scrub(row.target) if row.target is not None else None
        row.detail = scrub(row.detail)
        if acted:
            row.ip = None  # the client address of something they did is theirs
    await db.flush()
    await db.execute(text(f"SET LOCAL {REDACTION_SETTING} = 'off'"))
    return len(rows)


async def _erase(db: AsyncSession, tenant: TenantContext, user: User) -> tuple[str, int]:
    tag = f"erased:{secrets.token_hex(6)}"
    redacted = await _redact_audit(db, user, tag)
    await db.execute(
        delete(AccountToken).where(AccountToken.email == user.email, AccountToken.user_id.is_(None))
    )
    await db.execute(
        delete(MailOutbox).where(
            MailOutbox.tenant_id == tenant.id, func.lower(MailOutbox.to_address) == user.email
        )
    )
    await db.delete(user)  # sessions and the user's own links cascade in the database
    await db.flush()
    return tag, redacted


async def _lock(db: AsyncSession, *users: User) -> None:
    """Serialise owner changes in the tenant (the lock of ``admin_service``), then re-read."""
    await db.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('wl.accounts.owner:' || current_schema()))")
    )
    for user in users:
        await db.refresh(user, with_for_update=True)


async def _keep_an_owner(db: AsyncSession, target: User) -> None:
    if target.role != "owner" or target.status != "active":
        return
    others = await db.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == "owner", User.status == "active", User.id != target.id)
    )
    if not others:
        raise LastOwner("The tenant must keep at least one active owner.")


async def erase_user(
    db: AsyncSession, tenant: TenantContext, actor: User, target: User, *, ip: str | None = None
) -> str:
    """Erase ``target`` on behalf of the admin ``actor``; returns the tag that replaced them.

    Audited as ``user.erased`` (actor: the admin; target: the tag; ``detail``: ``by``,
    ``audit_rows_redacted``).

    Raises:
        Forbidden: the actor is not an active admin or owner, or an admin erasing an admin or an
            owner.
        Conflict: ``cannot_erase_self`` (use :func:`erase_self`).
        LastOwner: the target is the last active owner.
    """
    if actor.id == target.id:
        raise Conflict(
            "Erase your own account from your profile (it asks for your password).",
            code="cannot_erase_self",
        )
    await _lock(db, actor, target)
    if actor.status != "active" or actor.role not in ("admin", "owner"):
        raise Forbidden("This needs an admin of this tenant.")
    if actor.role != "owner" and target.role not in _ERASABLE_BY_ADMIN:
        raise Forbidden("Only an owner can erase an admin or an owner.")
    await _keep_an_owner(db, target)
    tag, redacted = await _erase(db, tenant, target)
    record_event(
        db,
        "user.erased",
        actor=str(actor.id),
        target=tag,
        ip=ip,
        detail={"by": "admin", "audit_rows_redacted": redacted},
    )
    return tag


async def erase_self(db: AsyncSession, tenant: TenantContext, user: User, *, password: str) -> str:
    """Erase the signed-in ``user`` after checking their password; returns their tag.

    Audited as ``user.erased`` with the tag as actor and target and no client address.

    Raises:
        WrongPassword: the password is wrong, or the account has none (SSO only: an admin
            erases it).
        LastOwner: the user is the last active owner.
    """
    ok, _ = await verify_password(user.password_hash, password[:1000])
    if not ok:
        raise WrongPassword("The password is wrong.", detail={"field": "password"})
    await _lock(db, user)
    await _keep_an_owner(db, user)
    tag, redacted = await _erase(db, tenant, user)
    record_event(
        db,
        "user.erased",
        actor=tag,
        target=tag,
        detail={"by": "self", "audit_rows_redacted": redacted},
    )
    return tag
