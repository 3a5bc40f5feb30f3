"""SSO: connections, SP signing keys, linked identities, flows, the replay cache, failures;
and ``users.profile`` (fields filled from IdP attributes).

Revision ID: t0006
Revises: t0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "t0006"
down_revision: str | Sequence[str] | None = "t0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column[Any]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _connection_id(table: str) -> sa.Column[Any]:
    return sa.Column(
        "connection_id",
        sa.Uuid(),
        sa.ForeignKey(
            "sso_connections.id",
            name=f"fk_{table}_connection_id_sso_connections",
            ondelete="CASCADE",
        ),
        nullable=False,
    )


def upgrade() -> None:
    empty_json = sa.text("'{}'::jsonb")
    op.add_column(
        "users",
        sa.Column("profile", postgresql.JSONB(), server_default=empty_json, nullable=False),
    )
    op.create_table(
        "sso_connections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(10), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "email_domains",
            postgresql.ARRAY(sa.String(253)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
        sa.Column("jit", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "default_role", sa.String(10), server_default=sa.text("'member'"), nullable=False
        ),
        sa.Column(
            "attribute_mapping", postgresql.JSONB(), server_default=empty_json, nullable=False
        ),
        sa.Column("allow_idp_initiated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("enforce_sso", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("config", postgresql.JSONB(), server_default=empty_json, nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=True),
        sa.Column("config_version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        _created_at(),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("type::text IN ('saml', 'oidc')", name=op.f("ck_sso_connections_type")),
        sa.CheckConstraint(
            "default_role::text IN ('member', 'admin')",
            name=op.f("ck_sso_connections_default_role"),
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sso_connections"),
    )
    op.create_table(
        "sso_sp_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        _connection_id("sso_sp_keys"),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        _created_at(),
        sa.CheckConstraint(
            "state::text IN ('next', 'current', 'retired')", name=op.f("ck_sso_sp_keys_state")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sso_sp_keys"),
    )
    op.create_index("ix_sso_sp_keys_connection_id", "sso_sp_keys", ["connection_id"])
    for state in ("current", "next"):
        op.create_index(
            f"ix_sso_sp_keys_one_{state}",
            "sso_sp_keys",
            ["connection_id"],
            unique=True,
            postgresql_where=sa.text(f"state::text = '{state}'"),
        )
    op.create_table(
        "sso_identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        _connection_id("sso_identities"),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column(
            "user_id",
            sa.Uuid(),
            sa.ForeignKey("users.id", name="fk_sso_identities_user_id_users", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("profile", postgresql.JSONB(), server_default=empty_json, nullable=False),
        sa.Column("name_id_format", sa.String(256), nullable=True),
        sa.Column("session_index", sa.String(256), nullable=True),
        _created_at(),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sso_identities"),
    )
    op.create_index(
        "ix_sso_identities_connection_id_subject",
        "sso_identities",
        ["connection_id", "subject"],
        unique=True,
    )
    op.create_index("ix_sso_identities_user_id", "sso_identities", ["user_id"])
    op.create_table(
        "sso_flows",
        sa.Column("id", sa.Uuid(), nullable=False),
        _connection_id("sso_flows"),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("handle", sa.String(128), nullable=False),
        sa.Column("browser", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=True),
        sa.Column("code_verifier", sa.Text(), nullable=True),
        sa.Column("next_path", sa.String(2000), server_default=sa.text("'/'"), nullable=False),
        sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False),
        _created_at(),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind::text IN ('saml', 'oidc')", name=op.f("ck_sso_flows_kind")),
        sa.PrimaryKeyConstraint("id", name="pk_sso_flows"),
    )
    op.create_index("ix_sso_flows_handle", "sso_flows", ["handle"], unique=True)
    op.create_index("ix_sso_flows_expires_at", "sso_flows", ["expires_at"])
    op.create_table(
        "sso_replays",
        _connection_id("sso_replays"),
        sa.Column("assertion_id", sa.String(256), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "assertion_id", name="pk_sso_replays"),
    )
    op.create_index("ix_sso_replays_expires_at", "sso_replays", ["expires_at"])
    op.create_table(
        "sso_failures",
        sa.Column("id", sa.Uuid(), nullable=False),
        _connection_id("sso_failures"),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("message", sa.String(1000), nullable=False),
        sa.Column("detail", postgresql.JSONB(), server_default=empty_json, nullable=False),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sso_failures"),
    )
    op.create_index("ix_sso_failures_connection_id_at", "sso_failures", ["connection_id", "at"])


def downgrade() -> None:
    for table in (
        "sso_failures",
        "sso_replays",
        "sso_flows",
        "sso_identities",
        "sso_sp_keys",
        "sso_connections",
    ):
        op.drop_table(table)
    op.drop_column("users", "profile")
