"""Warm pool of tenant schemas made ahead of time from the blueprint.

Revision ID: p0002
Revises: p0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p0002"
down_revision: str | Sequence[str] | None = "p0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "platform"


def upgrade() -> None:
    op.create_table(
        "schema_pool",
        sa.Column("schema_name", sa.String(63), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("schema_name", name="pk_schema_pool"),
        schema=S,
    )
    op.create_index("ix_schema_pool_revision", "schema_pool", ["revision"], schema=S)


def downgrade() -> None:
    op.drop_table("schema_pool", schema=S)
