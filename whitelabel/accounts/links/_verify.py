"""Email verification by emailed link (lifetime :data:`VERIFY_LIFETIME`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts.links._common import link_url
from whitelabel.accounts.links._emails import send_email
from whitelabel.accounts.links._errors import AlreadyVerified, InvalidToken
from whitelabel.accounts.links._tokens import VERIFY_LIFETIME, consume, issue, revoke_pending
from whitelabel.accounts.models import User
from whitelabel.accounts.service import Client
from whitelabel.context import TenantContext
from whitelabel.settings import Settings
from whitelabel.tenant_data import record_event

__all__ = ["send_verification", "verify_email"]

PURPOSE = "email_verify"


async def send_verification(
    db: AsyncSession,
    *,
    tenant: TenantContext,
    user: User,
    base_url: str,
    settings: Settings,
) -> None:
    """Mail ``user`` a link that confirms their address; older unused links stop working.

    Not audited (the mail outbox keeps the message); confirming the address is.

    Raises:
        AlreadyVerified: the address is verified already.
    """
    if user.email_verified:
        raise AlreadyVerified("This email address is verified already.")
    await revoke_pending(db, purpose=PURPOSE, user_id=user.id)
    _, token = await issue(
        db,
        settings=settings,
        tenant=tenant,
        purpose=PURPOSE,
        lifetime=VERIFY_LIFETIME,
        user_id=user.id,
        email=user.email,
        created_by=user.id,
    )
    await send_email(
        db,
        tenant=tenant,
        to=user.email,
        kind=PURPOSE,
        link=link_url(base_url, "/verify-email", token),
        display_name=user.display_name,
        email=user.email,
        hours=int(VERIFY_LIFETIME.total_seconds() // 3600),
    )


async def verify_email(
    db: AsyncSession,
    *,
    tenant: TenantContext,
    token: str,
    client: Client,
    settings: Settings,
) -> User:
    """Mark the user's address verified from a verification link (used up); returns the user.

    The link needs no session: it proves the address by itself.

    Raises:
        InvalidToken: the link is not valid here, the user is gone or disabled, or the user's
            address changed since the link was sent.
    """
    row = await consume(db, settings=settings, tenant=tenant, purpose=PURPOSE, token=token)
    user = await db.get(User, row.user_id) if row.user_id else None
    if user is None or user.status != "active" or user.email != row.email:
        raise InvalidToken("This link is not valid (it may have expired or been used).")
    user.email_verified = True
    await revoke_pending(db, purpose=PURPOSE, user_id=user.id)
    record_event(db, "user.email_verified", actor=str(user.id), target=user.email, ip=client.ip)
    return user
