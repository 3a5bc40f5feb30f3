"""SSO connections of the tenant: create, read, change, delete (tenant admins), and routing.

Every change goes through this module, which checks the input, bumps ``config_version`` (caches
keyed by it are never served stale), and writes the tenant's audit log. The settings common to
both protocols are parsed by :mod:`sso._fields`; each protocol module (:mod:`sso.saml.service`,
:mod:`sso.oidc.service`) checks and stores its own fields and describes them. A protocol module
exposes ``FIELDS``, ``apply_fields(db, connection, body, context, *, creating)`` (returns the
names changed), ``is_complete(connection)`` and ``document(db, connection)``.

The URLs a connection is known by at its IdP (SAML entity ID, ACS and SLS URLs, OIDC redirect
URI) are fixed when it is created, from the base URL of the tenant host the admin used, and kept
in ``config``: they never move when the tenant adds a domain.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sso._fields import (
    COMMON_FIELDS,
    apply_common,
    check_domains_free,
    email_domain,
    json_object,
)
from sso.errors import SsoRejected
from sso.models import CONNECTION_TYPES, SsoConnection
from sso.secrets import SecretBox
from whitelabel.accounts.service import Client
from whitelabel.context import TenantContext
from whitelabel.db.base import utcnow
from whitelabel.errors import ClientError, Conflict, Forbidden, NotFound, ValidationFailed
from whitelabel.settings import Settings
from whitelabel.tenant_data import record_event

__all__ = [
    "COMMON_FIELDS",
    "MAX_CONNECTIONS",
    "ConnectionContext",
    "connection_disabled",
    "connection_document",
    "create_connection",
    "delete_connection",
    "enabled_connections",
    "enforcing_connection",
    "get_connection",
    "list_connections",
    "login_path",
    "password_sign_in_policy",
    "protocol",
    "route_email",
    "sign_in_connection",
    "sign_in_test_url",
    "update_connection",
]

MAX_CONNECTIONS = 20


@dataclass(frozen=True, slots=True)
class ConnectionContext:
    """Who changes a connection, where, and with what keys."""

    tenant: TenantContext
    base_url: str
    """``scheme://host[:port]`` of the tenant host the admin is on (fixes new connections' URLs)."""
    settings: Settings
    box: SecretBox
    actor: uuid.UUID
    client: Client


def protocol(kind: str) -> ModuleType:
    """The protocol module of a connection type (``saml`` or ``oidc``)."""
    if kind == "saml":
        from sso.saml import service as saml_service

        return saml_service
    from sso.oidc import service as oidc_service

    return oidc_service


def _check_fields(body: Any, kind: str) -> None:
    allowed = set(COMMON_FIELDS) | set(protocol(kind).FIELDS)
    unknown = sorted(str(key)[:100] for key in body if key not in allowed)
    if unknown:
        raise ValidationFailed(
            f"Unknown field for a {kind} connection.",
            code="unknown_field",
            detail={"fields": unknown[:10]},
        )


def _check_complete(connection: SsoConnection) -> None:
    if connection.enabled and not protocol(connection.type).is_complete(connection):
        raise ValidationFailed(
            "Add the identity provider's metadata before enabling the connection.",
            code="sso_connection_incomplete",
            detail={"field": "enabled"},
        )


async def list_connections(db: AsyncSession) -> list[SsoConnection]:
    """The tenant's connections, by name."""
    return list(await db.scalars(select(SsoConnection).order_by(SsoConnection.name)))


async def get_connection(
    db: AsyncSession, connection_id: uuid.UUID | str, *, lock: bool = False
) -> SsoConnection:
    """One connection of the tenant (``lock``: ``SELECT ... FOR UPDATE``).

    Raises:
        NotFound: ``sso_connection_not_found`` (also for a malformed id).
    """
    try:
        key = connection_id if isinstance(connection_id, uuid.UUID) else uuid.UUID(connection_id)
    except ValueError:
        key = None
    found = None
    if key is not None:
        query = select(SsoConnection).where(SsoConnection.id == key)
        found = await db.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound("No such SSO connection.", code="sso_connection_not_found")
    return found


async def create_connection(
    db: AsyncSession, body: Any, context: ConnectionContext
) -> SsoConnection:
    """Create a connection from a ``POST /api/v1/admin/sso/connections`` body (flushed).

    Raises:
        ValidationFailed, ClientError: bad input (``unknown_field``, a field's code,
            ``sso_connection_incomplete`` when enabled without an IdP).
        Conflict: ``sso_domain_taken``, ``sso_too_many_connections``.
        SsoRejected: the protocol's own checks (metadata, discovery) failed.
    """
    data = json_object(body)
    kind = data.get("type")
    if kind not in CONNECTION_TYPES:
        raise ValidationFailed("type is saml or oidc.", detail={"field": "type"})
    if "name" not in data:
        raise ValidationFailed("A connection needs a name.", detail={"field": "name"})
    _check_fields(data, str(kind))
    count = await db.scalar(select(func.count()).select_from(SsoConnection))
    if (count or 0) >= MAX_CONNECTIONS:
        raise Conflict(
            f"A tenant has at most {MAX_CONNECTIONS} SSO connections.",
            code="sso_too_many_connections",
        )
    connection = SsoConnection(id=uuid.uuid4(), type=str(kind), config={}, config_version=1)
    connection.enabled = False
    connection.jit = False
    connection.email_domains = []
    connection.default_role = "member"
    connection.attribute_mapping = {}
    connection.allow_idp_initiated = False
    connection.enforce_sso = False
    connection.created_at = connection.updated_at = utcnow()
    apply_common(data, connection)
    await check_domains_free(db, connection)
    db.add(connection)
    await db.flush()
    await protocol(connection.type).apply_fields(db, connection, data, context, creating=True)
    _check_complete(connection)
    record_event(
        db, "sso.connection_created", actor=str(context.actor), target=str(connection.id),
        ip=context.client.ip, detail={"type": connection.type, "name": connection.name},
    )  # fmt: skip
    await db.flush()
    return connection


async def update_connection(
    db: AsyncSession, connection_id: str, body: Any, context: ConnectionContext
) -> SsoConnection:
    """Apply a ``PATCH`` body to a connection (flushed); bumps ``config_version``.

    Raises:
        NotFound, ValidationFailed, ClientError, Conflict, SsoRejected: as for creation.
    """
    data = json_object(body)
    connection = await get_connection(db, connection_id, lock=True)
    if "type" in data and data["type"] != connection.type:
        raise ValidationFailed("A connection's type cannot change.", detail={"field": "type"})
    _check_fields(data, connection.type)
    changed = apply_common(data, connection)
    await check_domains_free(db, connection)
    changed += await protocol(connection.type).apply_fields(
        db, connection, data, context, creating=False
    )
    _check_complete(connection)
    if changed:
        connection.config_version += 1
        connection.updated_at = utcnow()
        record_event(
            db, "sso.connection_updated", actor=str(context.actor), target=str(connection.id),
            ip=context.client.ip, detail={"fields": sorted(set(changed))},
        )  # fmt: skip
    await db.flush()
    return connection


async def delete_connection(
    db: AsyncSession, connection_id: str, context: ConnectionContext
) -> None:
    """Delete a connection with its keys, identities, flows and failures (users stay).

    Raises:
        NotFound: ``sso_connection_not_found``.
    """
    connection = await get_connection(db, connection_id, lock=True)
    record_event(
        db, "sso.connection_deleted", actor=str(context.actor), target=str(connection.id),
        ip=context.client.ip, detail={"type": connection.type, "name": connection.name},
    )  # fmt: skip
    await db.delete(connection)
    await db.flush()


def login_path(connection: SsoConnection) -> str:
    """Where a browser starts signing in through ``connection`` (a path on the tenant host)."""
    return f"/sso/{connection.type}/{connection.id}/login"


async def sign_in_test_url(db: AsyncSession, connection_id: str, context: ConnectionContext) -> str:
    """The URL an admin's browser opens to test a connection (no session is started; audited
    as ``sso.connection_tested``). Disabled connections can be tested.

    Raises:
        NotFound: ``sso_connection_not_found``.
        Conflict: ``sso_connection_incomplete`` (a SAML connection without IdP metadata).
    """
    connection = await get_connection(db, connection_id)
    if not protocol(connection.type).is_complete(connection):
        raise Conflict(
            "Add the identity provider's metadata before testing the connection.",
            code="sso_connection_incomplete",
        )
    record_event(
        db, "sso.connection_tested", actor=str(context.actor), target=str(connection.id),
        ip=context.client.ip,
    )  # fmt: skip
    return f"{login_path(connection)}?test=1"


async def connection_document(db: AsyncSession, connection: SsoConnection) -> dict[str, Any]:
    """A connection as the admin API shows it (never a secret: ``has_client_secret`` instead).

    Async because a SAML connection's SP certificates live in their own table.
    """
    document: dict[str, Any] = {
        "id": str(connection.id),
        "type": connection.type,
        "name": connection.name,
        "enabled": connection.enabled,
        "jit": connection.jit,
        "email_domains": list(connection.email_domains),
        "default_role": connection.default_role,
        "attribute_mapping": dict(connection.attribute_mapping),
        "allow_idp_initiated": connection.allow_idp_initiated,
        "enforce_sso": connection.enforce_sso,
        "login_url": login_path(connection),
        "config_version": connection.config_version,
        "created_at": connection.created_at.isoformat(),
        "updated_at": connection.updated_at.isoformat(),
    }
    document.update(await protocol(connection.type).document(db, connection))
    return document


async def sign_in_connection(db: AsyncSession, raw_id: str, kind: str) -> SsoConnection:
    """The tenant's connection ``raw_id`` of protocol ``kind``, for a browser sign-in route:
    detached from ``db`` (only read there, so the rollback after a refusal cannot expire it,
    and an expired object would be reloaded lazily, which an AsyncSession refuses).

    Raises:
        NotFound: ``sso_connection_not_found``: a malformed id, no such connection in this
            tenant, or one of the other protocol.
    """
    try:
        key: uuid.UUID | None = uuid.UUID(raw_id)
    except ValueError:
        key = None
    found = await db.get(SsoConnection, key) if key is not None else None
    if found is None or found.type != kind:
        raise NotFound("There is no such sign-in connection.", code="sso_connection_not_found")
    db.expunge(found)
    return found


def connection_disabled() -> SsoRejected:
    """The refusal of a sign-in through a connection an admin turned off."""
    return SsoRejected(
        "sso_connection_disabled",
        "Signing in through this connection is turned off; an admin can turn it on.",
    )


async def enabled_connections(db: AsyncSession) -> list[SsoConnection]:
    """The connections a sign-in page offers: the enabled ones, by name."""
    return list(
        await db.scalars(
            select(SsoConnection).where(SsoConnection.enabled).order_by(SsoConnection.name)
        )
    )


async def route_email(db: AsyncSession, email: str) -> SsoConnection | None:
    """The enabled connection that owns the domain of ``email`` (email-first sign-in; an
    internationalised domain matches its stored A-label form)."""
    domain = email_domain(email)
    if domain is None:
        return None
    found: SsoConnection | None = await db.scalar(
        select(SsoConnection).where(
            SsoConnection.enabled, SsoConnection.email_domains.contains([domain])
        )
    )
    return found


async def enforcing_connection(db: AsyncSession, email: str) -> SsoConnection | None:
    """The enabled connection that enforces SSO for the domain of ``email``, if any: password
    sign-in is then refused for that email."""
    connection = await route_email(db, email)
    return connection if connection is not None and connection.enforce_sso else None


async def password_sign_in_policy(db: AsyncSession, email: str) -> ClientError | None:
    """The SSO rule for password sign-in (registered with
    :func:`whitelabel.accounts.service.register_password_policy` by the SSO plugin): an email
    of a domain whose enabled connection enforces SSO is refused with 403 ``sso_required``,
    ``detail.sso_url`` saying where to sign in instead. ``email`` is already normalised."""
    connection = await enforcing_connection(db, email)
    if connection is None:
        return None
    return Forbidden(
        f"Sign in with {connection.name}.",
        code="sso_required",
        detail={"sso_url": login_path(connection)},
    )
