"""Audit log: append-only in the database.

A trigger refuses ``UPDATE`` and ``DELETE`` of ``audit_log`` rows unless the transaction has set
``SET LOCAL whitelabel.audit_redaction = 'on'`` (GDPR erasure does, to pseudonymise the erased
person's rows), and refuses ``TRUNCATE`` always. It guards against code that rewrites history by
mistake; a role that may run DDL can still drop the trigger, so it is no defence against a
database administrator.

The template clone reproduces the function and the triggers (tenants/blueprint.py).

Revision ID: t0004
Revises: t0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "t0004"
down_revision: str | Sequence[str] | None = "t0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Unqualified names: the runner sets the tenant schema as the transaction's search_path, and the
# blueprint refuses a function that names its own schema.
_FUNCTION = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE')
       AND current_setting('whitelabel.audit_redaction', true) = 'on' THEN
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Only GDPR erasure rewrites audit rows (whitelabel.audit_redaction).';
END
$body$
"""


def upgrade() -> None:
    op.execute(_FUNCTION)
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log"
        " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
        " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
