"""Password reset by emailed link (lifetime :data:`RESET_LIFETIME`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts.links._common import end_sessions, link_url
from whitelabel.accounts.links._emails import send_email
from whitelabel.accounts.links._errors import InvalidToken
from whitelabel.accounts.links._tokens import RESET_LIFETIME, consume, issue, revoke_pending
from whitelabel.accounts.models import User
from whitelabel.accounts.passwords import check_password_policy, hash_password
from whitelabel.accounts.service import Client, normalise_email, start_session
from whitelabel.context import TenantContext
from whitelabel.db.base import utcnow
from whitelabel.settings import Settings
from whitelabel.tenant_data import record_event

__all__ = ["request_password_reset", "reset_password"]

PURPOSE = "password_reset"


async def request_password_reset(
    db: AsyncSession,
    *,
    tenant: TenantContext,
    email: str,
    base_url: str,
    client: Client,
    settings: Settings,
) -> None:
    """Mail a reset link to the active user with this address, if there is one.

    The outcome is the same whether or not the address belongs to someone (no enumeration);
    only the audit record (``user.password_reset_requested``, ``detail.mailed``) tells them
    apart. A new link revokes the user's older unused ones. Users without a password get one
    too: the link is how an invited or SSO-created user sets a first password.

    Raises:
        InvalidEmail: the address is malformed (refused before anything is looked up).
    """
    address = normalise_email(email)
    user = await db.scalar(select(User).where(User.email == address))
    mailed = user is not None and user.status == "active"
    if user is not None and mailed:
        await revoke_pending(db, purpose=PURPOSE, user_id=user.id)
        _, token = await issue(
            db,
            settings=settings,
            tenant=tenant,
            purpose=PURPOSE,
            lifetime=RESET_LIFETIME,
            user_id=user.id,
            email=address,
            created_by=user.id,
        )
        await send_email(
            db,
            tenant=tenant,
            to=address,
            kind=PURPOSE,
            link=link_url(base_url, "/reset-password", token),
            display_name=user.display_name,
            hours=int(RESET_LIFETIME.total_seconds() // 3600),
        )
    record_event(
        db,
        "user.password_reset_requested",
        actor="anonymous",
        target=address,
        ip=client.ip,
        detail={"mailed": mailed},
    )


async def reset_password(
    db: AsyncSession,
    *,
    tenant: TenantContext,
    token: str,
    password: str,
    client: Client,
    settings: Settings,
) -> tuple[User, str]:
    """Set a new password from a reset link, end every session and sign in afresh.

    The link is used up; the user's other reset links are revoked; the email is marked
    verified (the link proves the address). Returns the user and the new session token.
    On any error nothing changes and the link still works.

    Raises:
        InvalidToken: the link is not valid here (see :class:`InvalidToken`), the user is gone
            or disabled, or the user's address changed since the link was sent.
        ValidationFailed: ``weak_password``.
    """
    row = await consume(db, settings=settings, tenant=tenant, purpose=PURPOSE, token=token)
    user = await db.get(User, row.user_id, with_for_update=True) if row.user_id else None
    if user is None or user.status != "active" or user.email != row.email:
        raise InvalidToken("This link is not valid (it may have expired or been used).")
    check_password_policy(password, email=user.email)
    user.password_hash = await hash_password(password)
    user.email_verified = True
    revoked = await end_sessions(db, user.id)
    await revoke_pending(db, purpose=PURPOSE, user_id=user.id)
    session_token = await start_session(db, user, client)
    user.last_login_at = utcnow()
    record_event(
        db,
        "user.password_reset",
        actor=str(user.id),
        target=str(user.id),
        ip=client.ip,
        detail={"sessions_revoked": revoked},
    )
    return user, session_token
