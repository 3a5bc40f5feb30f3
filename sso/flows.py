"""Sign-ins in progress, the SAML replay cache and the failure log (tenant schema).

A **flow** is issued by one tenant and one connection and used once: the ACS or callback takes
it with a single ``UPDATE ... RETURNING`` that also checks the connection, the kind and the
expiry, so a response for a request of another connection is not found, and one for another
tenant's request cannot be (the flows live in the tenant's own schema). The browser that
started the flow carries a random cookie whose SHA-256 the flow keeps.

The **replay cache** keeps each accepted SAML assertion ID until its NotOnOrAfter plus the clock
skew; a second use is refused. The **failure log** keeps the last :data:`FAILURES_KEPT` failed
sign-ins per connection with their code and plain-English reason for the admin pages (never a
secret, a token or an assertion).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sso.errors import SsoRejected
from sso.models import SsoFailure, SsoFlow, SsoReplay
from whitelabel.db.base import utcnow

__all__ = [
    "CLOCK_SKEW",
    "FAILURES_KEPT",
    "FLOW_LIFETIME",
    "browser_hash",
    "new_browser_token",
    "prune_expired",
    "recent_failures",
    "record_failure",
    "remember_assertion",
    "start_flow",
    "take_flow",
]

FLOW_LIFETIME = timedelta(minutes=10)
CLOCK_SKEW = timedelta(minutes=3)
FAILURES_KEPT = 50


def new_browser_token() -> str:
    """A random value for the browser's SSO cookie."""
    return secrets.token_urlsafe(32)


def browser_hash(token: str | None) -> str:
    """What a flow keeps of the browser's cookie (empty when there is none)."""
    return hashlib.sha256(token.encode()).hexdigest() if token else ""


async def start_flow(
    db: AsyncSession,
    *,
    connection_id: uuid.UUID,
    kind: str,
    handle: str,
    browser: str,
    next_path: str = "/",
    test: bool = False,
    nonce: str | None = None,
    code_verifier: str | None = None,
) -> SsoFlow:
    """Store a flow (committed with ``db``). ``browser`` is :func:`browser_hash` of the cookie;
    ``code_verifier`` arrives sealed (``sso.secrets``)."""
    now = utcnow()
    flow = SsoFlow(
        connection_id=connection_id,
        kind=kind,
        handle=handle,
        browser=browser,
        next_path=next_path,
        test=test,
        nonce=nonce,
        code_verifier=code_verifier,
        created_at=now,
        expires_at=now + FLOW_LIFETIME,
    )
    db.add(flow)
    return flow


async def take_flow(
    db: AsyncSession, *, connection_id: uuid.UUID, kind: str, handle: str, browser: str
) -> SsoFlow:
    """Use up the flow ``handle`` of this connection (single use, not expired).

    ``browser`` is :func:`browser_hash` of the cookie the request carries; a flow bound to a
    browser (a non-empty hash) must get the same one.

    Raises:
        SsoRejected: ``sso_flow_unknown`` (never issued here, for another connection, already
            used or expired) or ``sso_flow_other_browser``.
    """
    now = utcnow()
    taken: SsoFlow | None = await db.scalar(
        update(SsoFlow)
        .where(
            SsoFlow.handle == handle,
            SsoFlow.connection_id == connection_id,
            SsoFlow.kind == kind,
            SsoFlow.used_at.is_(None),
            SsoFlow.expires_at > now,
        )
        .values(used_at=now)
        .returning(SsoFlow)
    )
    if taken is None:
        raise SsoRejected(
            "sso_flow_unknown",
            "This sign-in was not started here, was already used or has expired "
            f"(sign-ins must finish within {int(FLOW_LIFETIME.total_seconds() // 60)} minutes); "
            "start again.",
        )
    if taken.browser and taken.browser != browser:
        raise SsoRejected(
            "sso_flow_other_browser",
            "This sign-in was started in another browser; start again in this one.",
        )
    return taken


async def remember_assertion(
    db: AsyncSession, *, connection_id: uuid.UUID, assertion_id: str, not_on_or_after: datetime
) -> None:
    """Record an accepted assertion ID until ``not_on_or_after`` plus the clock skew.

    Raises:
        SsoRejected: ``saml_replayed``: this assertion was accepted before.
    """
    inserted = await db.scalar(
        insert(SsoReplay)
        .values(
            connection_id=connection_id,
            assertion_id=assertion_id[:256],
            expires_at=not_on_or_after + CLOCK_SKEW,
        )
        .on_conflict_do_nothing()
        .returning(SsoReplay.assertion_id)
    )
    if inserted is None:
        raise SsoRejected(
            "saml_replayed", "This SAML response was already used once; it cannot be replayed."
        )


async def record_failure(
    db: AsyncSession,
    *,
    connection_id: uuid.UUID,
    rejected: SsoRejected,
    ip: str | None,
    test: bool = False,
) -> None:
    """Keep a failed sign-in (committed with ``db``) and drop all but the last
    :data:`FAILURES_KEPT` of the connection."""
    db.add(
        SsoFailure(
            connection_id=connection_id,
            at=utcnow(),
            code=rejected.code[:64],
            message=rejected.message[:1000],
            detail=_safe_detail(rejected.detail),
            ip=ip,
            test=test,
        )
    )
    await db.flush()
    keep = (
        select(SsoFailure.id)
        .where(SsoFailure.connection_id == connection_id)
        .order_by(SsoFailure.at.desc())
        .limit(FAILURES_KEPT)
    )
    await db.execute(
        delete(SsoFailure).where(
            SsoFailure.connection_id == connection_id, SsoFailure.id.not_in(keep)
        )
    )


def _safe_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """Short scalar values only (the protocol layers put no secrets in ``detail``)."""
    safe: dict[str, Any] = {}
    for key, value in list(detail.items())[:20]:
        if isinstance(value, bool | int | float) or value is None:
            safe[str(key)[:64]] = value
        else:
            safe[str(key)[:64]] = str(value)[:300]
    return safe


async def recent_failures(
    db: AsyncSession, connection_id: uuid.UUID, *, limit: int = FAILURES_KEPT
) -> list[SsoFailure]:
    """The connection's last failed sign-ins, newest first."""
    rows = await db.scalars(
        select(SsoFailure)
        .where(SsoFailure.connection_id == connection_id)
        .order_by(SsoFailure.at.desc())
        .limit(limit)
    )
    return list(rows)


async def prune_expired(db: AsyncSession) -> int:
    """Delete expired flows and replay entries of the tenant; answers how many rows went."""
    now = utcnow()
    flows = await db.execute(delete(SsoFlow).where(SsoFlow.expires_at < now - FLOW_LIFETIME))
    replays = await db.execute(delete(SsoReplay).where(SsoReplay.expires_at < now))
    return int(getattr(flows, "rowcount", 0) or 0) + int(getattr(replays, "rowcount", 0) or 0)
