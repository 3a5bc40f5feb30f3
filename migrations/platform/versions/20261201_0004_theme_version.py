"""Tenants carry their published theme version, so the routing table knows it (issue 4).

The resolver loads it with the tenant's hosts; a publish updates it in the same transaction as
the new ``theme_versions`` row of the tenant schema and sends the routing signal, so every
process serves the new version's stylesheet within a second, with no cache purge.

Revision ID: p0004
Revises: p0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "p0004"
down_revision: str | Sequence[str] | None = "p0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "platform"


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "tenants",
        sa.Column("theme_version", sa.Integer(), server_default="0", nullable=False),
        schema=S,
    )
    op.create_check_constraint(
        "ck_tenants_theme_version", "tenants", "theme_version >= 0", schema=S
    )


def downgrade() -> None:
    op.drop_constraint("ck_tenants_theme_version", "tenants", schema=S)
    op.drop_column("tenants", "theme_version", schema=S)
