"""Invitations: an admin (or the platform) invites an address with a role; the emailed link
creates the account with that role, its address verified, and signs it in.

Rules, checked here in the caller's transaction whatever guard the route has: only an active
``admin`` or ``owner`` invites; only an ``owner`` invites (or revokes the invitation of) an
``owner``; an address that already has a user is refused (``already_member``); inviting an
address again replaces its pending invitation (the old link stops working). A tenant's
invitations are made one at a time (an advisory lock per tenant), and a partial unique index keeps
one pending invitation per address.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts.errors import EmailTaken
from whitelabel.accounts.links._common import link_url
from whitelabel.accounts.links._emails import send_email
from whitelabel.accounts.links._errors import AlreadyMember, InvalidToken, InvitationNotFound
from whitelabel.accounts.links._tokens import INVITATION_LIFETIME, consume, issue, revoke_pending
from whitelabel.accounts.models import ROLES, AccountToken, Invitation, User
from whitelabel.accounts.passwords import check_password_policy, hash_password
from whitelabel.accounts.service import (
    Client,
    add_user,
    check_display_name,
    normalise_email,
    start_session,
)
from whitelabel.context import TenantContext
from whitelabel.db.base import utcnow
from whitelabel.errors import Forbidden, ValidationFailed
from whitelabel.settings import Settings
from whitelabel.tenant_data import record_event

__all__ = ["accept_invitation", "create_invitation", "list_invitations", "revoke_invitation"]

PURPOSE = "invitation"
_ADMINS = ("admin", "owner")


def _view(row: AccountToken) -> Invitation:
    if row.used_at is not None:
        status = "accepted"
    elif row.revoked_at is not None:
        status = "revoked"
    elif row.expires_at <= utcnow():
        status = "expired"
    else:
        status = "pending"
    return Invitation(
        id=row.id,
        email=row.email or "",
        role=row.role or "member",
        invited_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=status,
    )


def _check_actor(actor: User | None, role: str) -> None:
    """``None`` is the platform (the command line), which may do anything."""
    if actor is None:
        return
    if actor.status != "active" or actor.role not in _ADMINS:
        raise Forbidden("This needs an admin of this tenant.")
    if role == "owner" and actor.role != "owner":
        raise Forbidden("Only an owner can invite an owner.")


async def _refuse_member(db: AsyncSession, email: str) -> None:
    if await db.scalar(select(User.id).where(User.email == email)) is not None:
        raise AlreadyMember(
            "This email address already belongs to a member.", detail={"field": "email"}
        )


async def create_invitation(
    db: AsyncSession,
    *,
    tenant: TenantContext,
    email: str,
    role: str,
    invited_by: User | None,
    base_url: str,
    ip: str | None,
    settings: Settings,
    send_mail: bool = True,
) -> tuple[Invitation, str]:
    """Invite ``email`` with ``role``; returns the invitation and its link (mailed unless
    ``send_mail`` is false). ``invited_by=None`` is the platform (the command line).

    Audited as ``invitation.created`` (``detail``: ``invitation_id``, ``role``, ``replaced``,
    ``mailed``).

    Raises:
        InvalidEmail: the address is malformed.
        ValidationFailed: ``invalid_role``.
        Forbidden: the inviter is not an active admin, or is an admin inviting an owner.
        AlreadyMember: a user of this tenant has the address.
    """
    address = normalise_email(email)
    if role not in ROLES:
        raise ValidationFailed(
            f"The role is one of {', '.join(ROLES)}.",
            code="invalid_role",
            detail={"field": "role", "allowed": list(ROLES)},
        )
    _check_actor(invited_by, role)
    await db.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('wl.accounts.invite:' || current_schema()))")
    )
    await _refuse_member(db, address)
    replaced = await revoke_pending(db, purpose=PURPOSE, email=address)
    row, token = await issue(
        db,
        settings=settings,
        tenant=tenant,
        purpose=PURPOSE,
        lifetime=INVITATION_LIFETIME,
        email=address,
        role=role,
        created_by=invited_by.id if invited_by else None,
    )
    link = link_url(base_url, "/invite", token)
    if send_mail:
        await send_email(
            db,
            tenant=tenant,
            to=address,
            kind=PURPOSE,
            link=link,
            role=role,
            inviter=invited_by.display_name if invited_by else None,
            days=INVITATION_LIFETIME.days,
        )
    record_event(
        db,
        "invitation.created",
        actor=str(invited_by.id) if invited_by else "platform",
        target=address,
        ip=ip,
        detail={
            "invitation_id": str(row.id),
            "role": role,
            "replaced": replaced,
            "mailed": send_mail,
        },
    )
    return _view(row), link


async def accept_invitation(
    db: AsyncSession,
    *,
    tenant: TenantContext,
    token: str,
    password: str | None,
    display_name: str,
    client: Client,
    settings: Settings,
) -> tuple[User, str]:
    """Create the invited user (the invitation's role, address verified) and sign them in.

    ``password=None`` makes an account without a password (for sign-in through SSO later, or a
    password reset). Returns the user and the new session token. On any error nothing changes
    and the link still works.

    Raises:
        ValidationFailed: ``invalid_display_name``, ``weak_password``.
        InvalidToken: the link is not valid here.
        AlreadyMember: a user with the address appeared since the invitation was made.
    """
    name = check_display_name(display_name)
    row = await consume(db, settings=settings, tenant=tenant, purpose=PURPOSE, token=token)
    if row.email is None or row.role is None:  # the table's CHECK makes this impossible
        raise InvalidToken("This link is not valid (it may have expired or been used).")
    if password is not None:
        check_password_policy(password, email=row.email)
    await _refuse_member(db, row.email)
    try:
        user = await add_user(
            db,
            email=row.email,
            display_name=name,
            password_hash=await hash_password(password) if password is not None else None,
            role=row.role,
            email_verified=True,  # the link reached this address
        )
    except EmailTaken as exc:  # a concurrent sign-up with the same address won
        raise AlreadyMember("This email address already belongs to a member.") from exc
    row.user_id = user.id
    session_token = await start_session(db, user, client)
    user.last_login_at = utcnow()
    record_event(
        db,
        "invitation.accepted",
        actor=str(user.id),
        target=row.email,
        ip=client.ip,
        detail={"invitation_id": str(row.id), "role": row.role},
    )
    return user, session_token


async def list_invitations(db: AsyncSession) -> list[Invitation]:
    """The tenant's open invitations (not accepted, not revoked; ``status`` ``pending`` or
    ``expired``), newest first. There is at most one per address."""
    rows = await db.scalars(
        select(AccountToken)
        .where(
            AccountToken.purpose == PURPOSE,
            AccountToken.used_at.is_(None),
            AccountToken.revoked_at.is_(None),
        )
        .order_by(AccountToken.created_at.desc(), AccountToken.id)
    )
    return [_view(row) for row in rows]


async def revoke_invitation(
    db: AsyncSession, *, invitation_id: str, actor: User | None, ip: str | None
) -> Invitation:
    """Revoke an open invitation: its link stops working. Audited as ``invitation.revoked``.

    Raises:
        InvitationNotFound: the id is malformed, or no open invitation of this tenant has it.
        Forbidden: the actor is not an active admin, or is an admin revoking an owner's
            invitation.
    """
    try:
        key = uuid.UUID(invitation_id)
    except ValueError:
        key = None
    row = (
        await db.scalar(
            select(AccountToken)
            .where(
                AccountToken.id == key,
                AccountToken.purpose == PURPOSE,
                AccountToken.used_at.is_(None),
                AccountToken.revoked_at.is_(None),
            )
            .with_for_update()
        )
        if key is not None
        else None
    )
    if row is None:
        raise InvitationNotFound("There is no such invitation.")
    _check_actor(actor, row.role or "member")
    row.revoked_at = utcnow()
    record_event(
        db,
        "invitation.revoked",
        actor=str(actor.id) if actor else "platform",
        target=row.email,
        ip=ip,
        detail={"invitation_id": str(row.id), "role": row.role},
    )
    await db.flush()
    return _view(row)
