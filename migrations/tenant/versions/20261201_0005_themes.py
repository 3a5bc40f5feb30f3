"""Themes: the tenant's brand versions (one draft, every published version) and image assets.

Revision ID: t0005
Revises: t0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "t0005"
down_revision: str | Sequence[str] | None = "t0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "theme_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("base", sa.String(63), nullable=False),
        sa.Column("brand", postgresql.JSONB(), nullable=False),
        sa.Column(
            "icons", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("css", sa.Text(), nullable=True),
        sa.Column("css_hash", sa.String(16), nullable=True),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        # ``::text`` keeps the definitions stable when PostgreSQL prints and re-reads them (the
        # template clone copies the printed form).
        sa.CheckConstraint(
            "status::text IN ('draft', 'published')", name=op.f("ck_theme_versions_status")
        ),
        sa.CheckConstraint(
            "status::text = 'draft' AND version IS NULL"
            " OR status::text = 'published' AND version IS NOT NULL AND version > 0"
            " AND css IS NOT NULL AND css_hash IS NOT NULL AND published_at IS NOT NULL",
            name=op.f("ck_theme_versions_published_fields"),
        ),
        sa.PrimaryKeyConstraint("id", name="pk_theme_versions"),
    )
    op.create_index("ix_theme_versions_version", "theme_versions", ["version"], unique=True)
    # At most one draft per tenant.
    op.create_index(
        "ix_theme_versions_one_draft",
        "theme_versions",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status::text = 'draft'"),
    )
    op.create_table(
        "theme_assets",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("ext", sa.String(10), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_theme_assets"),
    )


def downgrade() -> None:
    op.drop_table("theme_assets")
    op.drop_table("theme_versions")
