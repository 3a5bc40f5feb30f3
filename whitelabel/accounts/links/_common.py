"""What the link services share: link URLs and ending a user's sessions."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode, urlsplit

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts.models import Session
from whitelabel.accounts.tokens_hash import token_id

__all__ = ["end_sessions", "link_url"]


def link_url(base_url: str, path: str, token: str) -> str:
    """``{base_url}{path}?token=...``; ``base_url`` is ``scheme://host[:port]`` of the tenant.

    Raises:
        ValueError: ``base_url`` is not an http(s) origin (a path, query or user part in it).
    """
    base = base_url.rstrip("/")
    parts = urlsplit(base)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
    ):
        raise ValueError(f"not an http(s) origin: {base_url!r}")
    return f"{base}{path}?{urlencode({'token': token})}"


async def end_sessions(db: AsyncSession, user_id: uuid.UUID, *, keep: str | None = None) -> int:
    """Revoke the user's live sessions except the one of the cookie token ``keep``.

    Returns how many were revoked.
    """
    stmt = update(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None))
    if keep:
        stmt = stmt.where(Session.id != token_id(keep))
    result = await db.execute(stmt.values(revoked_at=func.now()).returning(Session.id))
    return len(result.all())
