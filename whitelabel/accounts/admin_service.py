"""Tenant admin user management: list users, change roles, disable/enable, revoke sessions.

Rules (checked here, inside the caller's transaction, whatever guard the route has):

- the actor is an active ``admin`` or ``owner``;
- an admin cannot change, disable or revoke an owner; only an owner makes or unmakes owners;
- the tenant always keeps at least one active owner (``last_owner`` otherwise);
- nobody disables themselves;
- a role change or a disable revokes all the target's sessions.

Changes that touch owners serialise on the same per-tenant advisory lock as the first sign-up.
Every change writes its audit record in the same transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts.errors import LastOwner, UserNotFound
from whitelabel.accounts.models import ROLES, STATUSES, Session, User
from whitelabel.db.base import utcnow
from whitelabel.errors import Conflict, Forbidden, ValidationFailed
from whitelabel.tenant_data import record_event

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "UserPage",
    "change_role",
    "get_user",
    "list_users",
    "revoke_sessions",
    "set_status",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_QUERY = 200


@dataclass(frozen=True, slots=True)
class UserPage:
    """One page of users and the cursor of the next page (``None`` on the last)."""

    items: list[User]
    next: str | None


def _encode_cursor(user: User) -> str:
    raw = json.dumps([user.email, str(user.id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, uuid.UUID]:
    bad = ValidationFailed(
        "The cursor is not valid.", code="invalid_cursor", detail={"field": "after"}
    )
    if len(cursor) > 1000:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        email, user_id = json.loads(raw)
        if not isinstance(email, str) or not isinstance(user_id, str):
            raise bad
        return email, uuid.UUID(user_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise bad from exc


def _check_choice(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise ValidationFailed(
            f"The {field} is one of {', '.join(choices)}.",
            code=f"invalid_{field}",
            detail={"field": field, "allowed": list(choices)},
        )


def _like(query: str) -> str:
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_users(
    db: AsyncSession,
    *,
    query: str | None = None,
    role: str | None = None,
    status: str | None = None,
    after: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> UserPage:
    """The tenant's users ordered by (email, id), ``limit`` at a time after the cursor ``after``.

    ``query`` matches email or display name, case-insensitively, anywhere in the text.

    Raises:
        ValidationFailed: ``invalid_role``, ``invalid_status``, ``invalid_limit``,
            ``invalid_cursor``, ``invalid_query``.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"The limit is 1-{MAX_LIMIT}.", code="invalid_limit", detail={"field": "limit"}
        )
    stmt = select(User)
    if query:
        if len(query) > MAX_QUERY:
            raise ValidationFailed(
                f"The search is at most {MAX_QUERY} characters.",
                code="invalid_query",
                detail={"field": "q"},
            )
        pattern = _like(query)
        stmt = stmt.where(
            or_(
                User.email.ilike(pattern, escape="\\"),
                User.display_name.ilike(pattern, escape="\\"),
            )
        )
    if role is not None:
        _check_choice(role, ROLES, "role")
        stmt = stmt.where(User.role == role)
    if status is not None:
        _check_choice(status, STATUSES, "status")
        stmt = stmt.where(User.status == status)
    if after:
        email, user_id = _decode_cursor(after)
        stmt = stmt.where(tuple_(User.email, User.id) > tuple_(email, user_id))
    rows = list(await db.scalars(stmt.order_by(User.email, User.id).limit(limit + 1)))
    items = rows[:limit]
    return UserPage(items=items, next=_encode_cursor(items[-1]) if len(rows) > limit else None)


async def get_user(db: AsyncSession, user_id: str) -> User:
    """The user of this tenant with the id (the text form of a UUID).

    Raises:
        UserNotFound: the id is malformed or no user of this tenant has it.
    """
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        key = None
    user = await db.get(User, key) if key is not None else None
    if user is None:
        raise UserNotFound("There is no such user.")
    return user


async def _lock(db: AsyncSession, actor: User, target: User) -> None:
    """Serialise owner changes in the tenant, then re-read both users under the lock."""
    await db.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('wl.accounts.owner:' || current_schema()))")
    )
    await db.refresh(actor)
    await db.refresh(target, with_for_update=True)
    if actor.status != "active" or actor.role not in ("admin", "owner"):
        raise Forbidden("This needs an admin of this tenant.")
    if target.role == "owner" and actor.role != "owner":
        raise Forbidden("Only an owner can change an owner.")


async def _other_active_owners(db: AsyncSession, target: User) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == "owner", User.status == "active", User.id != target.id)
    )
    return count or 0


async def _revoke_all(db: AsyncSession, target: User) -> int:
    result = await db.execute(
        update(Session)
        .where(Session.user_id == target.id, Session.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(Session.id)
    )
    return len(result.all())


async def change_role(
    db: AsyncSession, actor: User, target: User, role: str, *, ip: str | None = None
) -> User:
    """Give ``target`` the role; revokes all their sessions (a privilege change).

    Setting the role a user already has changes nothing and records nothing.

    Raises:
        ValidationFailed: ``invalid_role``.
        Forbidden: the actor is not an admin, or is an admin acting on an owner or making one.
        LastOwner: this would demote the last active owner.
    """
    _check_choice(role, ROLES, "role")
    await _lock(db, actor, target)
    if role == "owner" and actor.role != "owner":
        raise Forbidden("Only an owner can make someone an owner.")
    if target.role == role:
        return target
    active_owner = target.role == "owner" and target.status == "active"
    if active_owner and await _other_active_owners(db, target) == 0:
        raise LastOwner("The tenant must keep at least one active owner.")
    previous = target.role
    target.role = role
    revoked = await _revoke_all(db, target)
    record_event(
        db,
        "user.role_changed",
        actor=str(actor.id),
        target=str(target.id),
        ip=ip,
        detail={"from": previous, "to": role, "sessions_revoked": revoked},
    )
    await db.flush()
    return target


async def set_status(
    db: AsyncSession, actor: User, target: User, status: str, *, ip: str | None = None
) -> User:
    """Disable (revoking all sessions) or enable ``target``. No change records nothing.

    Raises:
        ValidationFailed: ``invalid_status``.
        Forbidden: the actor is not an admin, or is an admin acting on an owner.
        Conflict: ``cannot_disable_self`` when the actor disables themselves.
        LastOwner: this would disable the last active owner.
    """
    _check_choice(status, STATUSES, "status")
    await _lock(db, actor, target)
    if target.status == status:
        return target
    if status == "disabled":
        if target.id == actor.id:
            raise Conflict("You cannot disable your own account.", code="cannot_disable_self")
        if target.role == "owner" and await _other_active_owners(db, target) == 0:
            raise LastOwner("The tenant must keep at least one active owner.")
    target.status = status
    revoked = await _revoke_all(db, target) if status == "disabled" else 0
    record_event(
        db,
        "user.disabled" if status == "disabled" else "user.enabled",
        actor=str(actor.id),
        target=str(target.id),
        ip=ip,
        detail={"sessions_revoked": revoked} if status == "disabled" else None,
    )
    await db.flush()
    return target


async def revoke_sessions(
    db: AsyncSession, actor: User, target: User, *, ip: str | None = None
) -> int:
    """End all of ``target``'s sessions; returns how many were live (audited even when 0).

    Raises:
        Forbidden: the actor is not an admin, or is an admin acting on an owner.
    """
    await _lock(db, actor, target)
    revoked = await _revoke_all(db, target)
    record_event(
        db,
        "user.sessions_revoked",
        actor=str(actor.id),
        target=str(target.id),
        ip=ip,
        detail={"count": revoked},
    )
    return revoked
