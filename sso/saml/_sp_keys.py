"""SP signing keys of SAML connections (tenant schema): creation, rollover, publication.

A connection signs with its ``current`` key. A rollover first adds a ``next`` key, published in
the SP metadata beside the current one so the IdP can trust both; finishing it retires the
current key and promotes the next. Private keys are sealed (:mod:`sso.secrets`) with the context
``sp_key:<key id>`` of the tenant and connection. RSA generation runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sso.models import SsoConnection, SsoSpKey
from sso.saml.keys import certificate_info, common_name_for, generate_signing_pair
from sso.secrets import SecretBox, secret_context
from whitelabel.db.base import utcnow
from whitelabel.errors import Conflict
from whitelabel.tenant_data import record_event

if TYPE_CHECKING:
    from sso.service import ConnectionContext

__all__ = ["add_key", "begin_rollover", "finish_rollover", "published_keys"]


async def add_key(
    db: AsyncSession,
    connection: SsoConnection,
    tenant_id: uuid.UUID,
    box: SecretBox,
    *,
    state: str,
) -> SsoSpKey:
    """Generate a key pair for the connection's SP entity ID and store it in ``state``."""
    pair = await asyncio.to_thread(
        generate_signing_pair, common_name_for(connection.config["sp_entity_id"])
    )
    key_id = uuid.uuid4()
    key = SsoSpKey(
        id=key_id,
        connection_id=connection.id,
        state=state,
        cert_pem=pair.cert_pem,
        private_key=box.seal(
            pair.key_pem, context=secret_context(tenant_id, connection.id, f"sp_key:{key_id}")
        ),
        not_after=certificate_info(pair.cert_pem).not_after,
        created_at=utcnow(),
    )
    db.add(key)
    await db.flush()
    return key


async def published_keys(db: AsyncSession, connection: SsoConnection) -> list[SsoSpKey]:
    """The connection's ``current`` key, then its ``next`` key during a rollover."""
    rows = await db.scalars(
        select(SsoSpKey).where(
            SsoSpKey.connection_id == connection.id, SsoSpKey.state.in_(("current", "next"))
        )
    )
    return sorted(rows, key=lambda key: key.state != "current")


def _bump(connection: SsoConnection) -> None:
    connection.config_version += 1
    connection.updated_at = utcnow()


async def begin_rollover(
    db: AsyncSession, connection: SsoConnection, context: ConnectionContext
) -> SsoSpKey:
    """Add a ``next`` key, published beside the current one (audited
    ``sso.sp_key_rollover_started``).

    Raises:
        Conflict: ``sso_saml_only``; ``sso_rollover_in_progress`` (a next key exists).
    """
    if connection.type != "saml":
        raise Conflict("This is for SAML connections only.", code="sso_saml_only")
    if any(key.state == "next" for key in await published_keys(db, connection)):
        raise Conflict(
            "A key rollover is already in progress; finish it first.",
            code="sso_rollover_in_progress",
        )
    key = await add_key(db, connection, context.tenant.id, context.box, state="next")
    _bump(connection)
    record_event(
        db, "sso.sp_key_rollover_started", actor=str(context.actor), target=str(connection.id),
        ip=context.client.ip,
        detail={"fingerprint": certificate_info(key.cert_pem).fingerprint_sha256},
    )  # fmt: skip
    return key


async def finish_rollover(
    db: AsyncSession, connection: SsoConnection, context: ConnectionContext
) -> SsoSpKey:
    """Retire the current key and sign with the next one from now on (audited
    ``sso.sp_key_rollover_finished``). Do it once the IdP has the new SP metadata.

    Raises:
        Conflict: ``sso_saml_only``; ``sso_no_rollover`` (no next key).
    """
    if connection.type != "saml":
        raise Conflict("This is for SAML connections only.", code="sso_saml_only")
    published = await published_keys(db, connection)
    upcoming = [key for key in published if key.state == "next"]
    if not upcoming:
        raise Conflict("No key rollover is in progress.", code="sso_no_rollover")
    for key in published:
        if key.state == "current":
            key.state = "retired"
    await db.flush()  # one current key at a time (a unique partial index)
    upcoming[0].state = "current"
    await db.flush()
    _bump(connection)
    record_event(
        db, "sso.sp_key_rollover_finished", actor=str(context.actor), target=str(connection.id),
        ip=context.client.ip,
        detail={"fingerprint": certificate_info(upcoming[0].cert_pem).fingerprint_sha256},
    )  # fmt: skip
    return upcoming[0]
