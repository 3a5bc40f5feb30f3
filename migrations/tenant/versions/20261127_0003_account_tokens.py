"""Accounts: one-time emailed links (password reset, email verification, invitations).

Revision ID: t0003
Revises: t0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "t0003"
down_revision: str | Sequence[str] | None = "t0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        # SHA-256 (hex) of the link's secret; the secret is only in the email.
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("role", sa.String(10), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        # ``::text`` keeps the definitions stable when PostgreSQL prints and re-reads them (the
        # template clone copies the printed form).
        sa.CheckConstraint(
            "purpose::text IN ('password_reset', 'email_verify', 'invitation')",
            name=op.f("ck_account_tokens_purpose"),
        ),
        sa.CheckConstraint(
            "role::text IN ('member', 'admin', 'owner')", name=op.f("ck_account_tokens_role")
        ),
        sa.CheckConstraint(
            "purpose::text = 'invitation' AND email IS NOT NULL AND role IS NOT NULL"
            " OR purpose::text <> 'invitation' AND user_id IS NOT NULL AND email IS NOT NULL",
            name=op.f("ck_account_tokens_subject"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_account_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name="fk_account_tokens_created_by_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_account_tokens"),
    )
    op.create_index("ix_account_tokens_token_hash", "account_tokens", ["token_hash"], unique=True)
    op.create_index("ix_account_tokens_user_id", "account_tokens", ["user_id"])
    # At most one pending invitation per address; also what the admins' list reads.
    op.create_index(
        "ix_account_tokens_pending_invitation",
        "account_tokens",
        ["email"],
        unique=True,
        postgresql_where=sa.text(
            "purpose::text = 'invitation' AND used_at IS NULL AND revoked_at IS NULL"
        ),
    )


def downgrade() -> None:
    op.drop_table("account_tokens")
