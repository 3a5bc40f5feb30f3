"""The tenant's SSO data (tenant schema): connections, their SP keys, linked identities, sign-in
flows in progress, the SAML replay cache and the last failed sign-ins.

A **connection** is one identity provider a tenant signs its people in with: SAML 2.0 or
OpenID Connect. Its non-secret protocol settings live in ``config`` (JSON; see
``sso.service`` for the keys); its secrets (an OIDC client secret, SP private keys) are
encrypted at rest (``sso.secrets``), bound to the tenant, the connection and the field.

An **identity** is (connection, subject): the IdP's stable identifier of a person (SAML NameID,
OIDC ``sub``), linked to one user. A **flow** is a sign-in in progress: the SAML AuthnRequest ID
or the OIDC state, nonce and PKCE verifier, bound to the browser that started it, single use,
expiring. Rows of a connection go when it is deleted (``ON DELETE CASCADE``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from whitelabel.db.base import TenantBase, new_id, utcnow

__all__ = [
    "CONNECTION_TYPES",
    "FLOW_KINDS",
    "KEY_STATES",
    "SsoConnection",
    "SsoFailure",
    "SsoFlow",
    "SsoIdentity",
    "SsoReplay",
    "SsoSpKey",
]

CONNECTION_TYPES = ("saml", "oidc")
FLOW_KINDS = ("saml", "oidc")
#: An SP signing key is ``next`` (published, not yet signing), ``current`` (signing) or
#: ``retired`` (kept for the record, no longer published).
KEY_STATES = ("next", "current", "retired")


class SsoConnection(TenantBase):
    """One identity provider of the tenant (SAML or OIDC) and how its people sign in."""

    __tablename__ = "sso_connections"
    __table_args__ = (
        CheckConstraint("type::text IN ('saml', 'oidc')", name="type"),
        CheckConstraint("default_role::text IN ('member', 'admin')", name="default_role"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    #: Lower-case email domains this connection owns: email-first routing, JIT and linking.
    email_domains: Mapped[list[str]] = mapped_column(
        ARRAY(String(253)), server_default=text("'{}'::varchar[]"), default=list
    )
    jit: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    default_role: Mapped[str] = mapped_column(String(10), server_default=text("'member'"))
    #: Profile field -> IdP attribute or claim name (``display_name``, ``department``, ...).
    attribute_mapping: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb"), default=dict
    )
    allow_idp_initiated: Mapped[bool] = mapped_column(
        Boolean, server_default=false(), default=False
    )
    #: Password sign-in is refused for emails of ``email_domains`` while the connection is on.
    enforce_sso: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    #: Protocol settings without secrets (SAML IdP metadata values, OIDC issuer and client id).
    config: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb"), default=dict
    )
    #: The OIDC client secret, encrypted (``sso.secrets``); NULL for SAML.
    client_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Bumped at every change: caches keyed by it (OIDC discovery) are never served stale.
    config_version: Mapped[int] = mapped_column(Integer, server_default=text("1"), default=1)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )


class SsoSpKey(TenantBase):
    """A SAML SP signing key pair of one connection (the private key encrypted)."""

    __tablename__ = "sso_sp_keys"
    __table_args__ = (
        CheckConstraint("state::text IN ('next', 'current', 'retired')", name="state"),
        Index("ix_sso_sp_keys_connection_id", "connection_id"),
        # One current and at most one next key per connection.
        Index(
            "ix_sso_sp_keys_one_current",
            "connection_id",
            unique=True,
            postgresql_where=text("state::text = 'current'"),
        ),
        Index(
            "ix_sso_sp_keys_one_next",
            "connection_id",
            unique=True,
            postgresql_where=text("state::text = 'next'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    connection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sso_connections.id", ondelete="CASCADE")
    )
    state: Mapped[str] = mapped_column(String(10))
    cert_pem: Mapped[str] = mapped_column(Text)
    private_key: Mapped[str] = mapped_column(Text)  # encrypted PEM (sso.secrets)
    not_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )


class SsoIdentity(TenantBase):
    """A person at an IdP (connection, subject), linked to one user of the tenant."""

    __tablename__ = "sso_identities"
    __table_args__ = (
        Index("ix_sso_identities_connection_id_subject", "connection_id", "subject", unique=True),
        Index("ix_sso_identities_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    connection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sso_connections.id", ondelete="CASCADE")
    )
    subject: Mapped[str] = mapped_column(String(512))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    #: The attributes or claims mapped at the last sign-in (the mapped values only).
    profile: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb"), default=dict
    )
    #: SAML: the NameID format and the IdP session index of the last sign-in, for Single Logout.
    name_id_format: Mapped[str | None] = mapped_column(String(256), nullable=True)
    session_index: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SsoFlow(TenantBase):
    """A sign-in in progress: issued by this tenant and connection, for one browser, used once.

    ``handle`` is the SAML AuthnRequest ID, or the SHA-256 (hex) of the OIDC ``state``.
    ``browser`` is the SHA-256 of the random cookie set on the browser that started the flow.
    """

    __tablename__ = "sso_flows"
    __table_args__ = (
        CheckConstraint("kind::text IN ('saml', 'oidc')", name="kind"),
        Index("ix_sso_flows_handle", "handle", unique=True),
        Index("ix_sso_flows_expires_at", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    connection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sso_connections.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(10))
    handle: Mapped[str] = mapped_column(String(128))
    browser: Mapped[str] = mapped_column(String(64))
    #: OIDC only: the nonce and the PKCE verifier (encrypted, ``sso.secrets``).
    nonce: Mapped[str | None] = mapped_column(String(128), nullable=True)
    code_verifier: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Where to go after signing in: a local path on this tenant's host.
    next_path: Mapped[str] = mapped_column(String(2000), server_default=text("'/'"))
    #: A "test connection" run by an admin: show what arrived, start no session.
    test: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SsoReplay(TenantBase):
    """A SAML assertion ID already accepted, kept until its NotOnOrAfter plus the clock skew."""

    __tablename__ = "sso_replays"
    __table_args__ = (Index("ix_sso_replays_expires_at", "expires_at"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sso_connections.id", ondelete="CASCADE"), primary_key=True
    )
    assertion_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SsoFailure(TenantBase):
    """A failed sign-in through a connection and why (no secrets, no assertions, no tokens)."""

    __tablename__ = "sso_failures"
    __table_args__ = (Index("ix_sso_failures_connection_id_at", "connection_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    connection_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sso_connections.id", ondelete="CASCADE")
    )
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(1000))
    detail: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb"), default=dict
    )
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    test: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
