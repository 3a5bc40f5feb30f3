"""Signed, single-use, expiring link tokens.

A link token is ``{secret}.{signature}``: ``secret`` is 32 random bytes (URL-safe base64) and
``signature`` is ``HMAC(links key, "link", tenant id, purpose, secret)`` with the key derived
from ``WHITELABEL_SECRET_KEY`` (``derive_key(settings, "links")``). The tenant schema keeps only
the SHA-256 of the secret. So a token works only for the tenant and the purpose it was made for,
even for someone who could read the stored hashes (they cannot make the signature), and a
leaked database gives no usable link.

A token is used up by the statement that finds it (``UPDATE ... WHERE used_at IS NULL AND
revoked_at IS NULL AND expires_at > now() RETURNING``), so two requests with the same link cannot
both succeed. The caller's transaction owns the update: when the caller fails afterwards (a weak
new password, say) the transaction rolls back and the link still works.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts.links._errors import InvalidToken
from whitelabel.accounts.models import AccountToken
from whitelabel.accounts.tokens_hash import token_id
from whitelabel.context import TenantContext
from whitelabel.db.base import utcnow
from whitelabel.security.keys import derive_key, sign, verify
from whitelabel.settings import Settings

__all__ = [
    "INVITATION_LIFETIME",
    "MAX_TOKEN",
    "RESET_LIFETIME",
    "VERIFY_LIFETIME",
    "consume",
    "issue",
    "revoke_pending",
]

RESET_LIFETIME = timedelta(hours=1)
VERIFY_LIFETIME = timedelta(hours=24)
INVITATION_LIFETIME = timedelta(days=7)
#: Longer input is refused before any work (a real token is 87 characters).
MAX_TOKEN = 200


def _signature(key: bytes, tenant: TenantContext, purpose: str, secret: str) -> str:
    return sign(key, "link", str(tenant.id), purpose, secret)


def _secret_hash(key: bytes, tenant: TenantContext, purpose: str, token: str) -> str:
    """The stored hash of a token's secret, once its signature is checked.

    Raises:
        InvalidToken: the token is malformed or not signed for this tenant and purpose.
    """
    if len(token) > MAX_TOKEN or not token.isascii():
        raise InvalidToken("This link is not valid (it may have expired or been used).")
    secret, dot, signature = token.partition(".")
    if not (dot and secret and signature) or not verify(
        key, signature, "link", str(tenant.id), purpose, secret
    ):
        raise InvalidToken("This link is not valid (it may have expired or been used).")
    return token_id(secret)


async def issue(
    db: AsyncSession,
    *,
    settings: Settings,
    tenant: TenantContext,
    purpose: str,
    lifetime: timedelta,
    user_id: uuid.UUID | None = None,
    email: str | None = None,
    role: str | None = None,
    created_by: uuid.UUID | None = None,
) -> tuple[AccountToken, str]:
    """Store a new token of ``purpose`` (its hash) and return the row and the link token."""
    secret = secrets.token_urlsafe(32)
    key = derive_key(settings, "links")
    now = utcnow()
    row = AccountToken(
        id=uuid.uuid4(),
        purpose=purpose,
        token_hash=token_id(secret),
        user_id=user_id,
        email=email,
        role=role,
        created_by=created_by,
        created_at=now,
        expires_at=now + lifetime,
    )
    db.add(row)
    await db.flush()
    return row, f"{secret}.{_signature(key, tenant, purpose, secret)}"


async def consume(
    db: AsyncSession, *, settings: Settings, tenant: TenantContext, purpose: str, token: str
) -> AccountToken:
    """Use up a live token of ``purpose`` in one statement and return its row.

    Raises:
        InvalidToken: malformed, tampered with, another tenant's or purpose's, unknown, expired,
            used or revoked.
    """
    stored = _secret_hash(derive_key(settings, "links"), tenant, purpose, token)
    row = await db.scalar(
        update(AccountToken)
        .where(
            AccountToken.token_hash == stored,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
            AccountToken.revoked_at.is_(None),
            AccountToken.expires_at > func.now(),
        )
        .values(used_at=func.now())
        .returning(AccountToken)
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise InvalidToken("This link is not valid (it may have expired or been used).")
    return row


async def revoke_pending(
    db: AsyncSession,
    *,
    purpose: str,
    user_id: uuid.UUID | None = None,
    email: str | None = None,
) -> int:
    """Revoke the unused, unrevoked tokens of ``purpose`` for a user or an email address.

    Returns how many were revoked.

    Raises:
        TypeError: neither a user nor an email was given (that would revoke every token).
    """
    if user_id is None and email is None:
        raise TypeError("revoke_pending needs a user_id or an email")
    stmt = update(AccountToken).where(
        AccountToken.purpose == purpose,
        AccountToken.used_at.is_(None),
        AccountToken.revoked_at.is_(None),
    )
    if user_id is not None:
        stmt = stmt.where(AccountToken.user_id == user_id)
    if email is not None:
        stmt = stmt.where(AccountToken.email == email)
    result = await db.execute(stmt.values(revoked_at=func.now()).returning(AccountToken.id))
    return len(result.all())
