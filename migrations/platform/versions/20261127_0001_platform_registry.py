"""Platform registry: tenants, domains, the schema ledger and template blueprints.

Revision ID: p0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "p0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "platform"


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("schema_name", sa.String(63), nullable=False),
        sa.Column("theme", sa.String(63), server_default="default", nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('provisioning', 'active', 'suspended', 'deleted')",
            name="ck_tenants_status",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("schema_name", name="uq_tenants_schema_name"),
        schema=S,
    )
    op.create_index(
        "uq_tenants_slug_live",
        "tenants",
        ["slug"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("purged_at IS NULL"),
    )
    op.create_table(
        "domains",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hostname", sa.String(253), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("kind IN ('subdomain', 'custom')", name="ck_domains_kind"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            [f"{S}.tenants.id"],
            ondelete="CASCADE",
            name="fk_domains_tenant_id_tenants",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_domains"),
        sa.UniqueConstraint("hostname", name="uq_domains_hostname"),
        schema=S,
    )
    op.create_index("ix_domains_tenant_id", "domains", ["tenant_id"], schema=S)
    op.create_index(
        "uq_domains_primary_per_tenant",
        "domains",
        ["tenant_id"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("is_primary"),
    )
    op.create_table(
        "schema_states",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("schema_name", sa.String(63), nullable=False),
        sa.Column("revision", sa.String(64), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("migrated_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('pending', 'creating', 'ready', 'migrating', 'failed', 'dropped')",
            name="ck_schema_states_status",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            [f"{S}.tenants.id"],
            ondelete="CASCADE",
            name="fk_schema_states_tenant_id_tenants",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_schema_states"),
        sa.UniqueConstraint("schema_name", name="uq_schema_states_schema_name"),
        schema=S,
    )
    op.create_index("ix_schema_states_revision", "schema_states", ["revision"], schema=S)
    op.create_table(
        "schema_blueprints",
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("statements", postgresql.JSONB(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("revision", name="pk_schema_blueprints"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("schema_blueprints", schema=S)
    op.drop_table("schema_states", schema=S)
    op.drop_table("domains", schema=S)
    op.drop_table("tenants", schema=S)
