"""Extra tenant revisions for benchmarks, and undoing them afterwards.

:func:`extra_revisions` gives a ``ScriptDirectory``: a copy of ``migrations/tenant/`` with additive
revisions appended after the stream's head (each adds a column to ``audit_log`` and a new table with
an index, the shape of an everyday migration). Revision ids, columns and tables are named
``bench_...``. :func:`reset_revisions` takes every schema (tenants and the template) back to the
stream's own head: it drops those objects, rewrites the version rows, the ledger and the stored
blueprints, so the stock ``db upgrade`` works on the database again.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy import Engine, text

from migrations import runner
from tenants.blueprint import TEMPLATE_SCHEMA

__all__ = ["PREFIX", "extra_revisions", "reset_revisions"]

PREFIX = "bench_"
_NAME = re.compile(r"^bench_[a-z0-9_]{1,40}$")
_BATCH = 50  # schemas per transaction: keeps the lock table small

_REVISION = '''"""Benchmark revision {rev}: one column on audit_log, one new table with an index."""

import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("{rev}", sa.String(50), nullable=True))
    op.create_table(
        "{rev}_notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("id", name="pk_{rev}_notes"),
    )
    op.create_index("ix_{rev}_notes_created_at", "{rev}_notes", ["created_at"])


def downgrade() -> None:
    op.drop_table("{rev}_notes")
    op.drop_column("audit_log", "{rev}")
'''


@contextmanager
def extra_revisions(names: Sequence[str]) -> Iterator[ScriptDirectory]:
    """The tenant stream plus one additive revision per name, chained in order after its head."""
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"benchmark revision names look like bench_xyz, not {name!r}")
    with tempfile.TemporaryDirectory(prefix="wl-bench-revisions-") as folder:
        location = Path(folder) / "tenant"
        shutil.copytree(
            runner.STREAMS["tenant"], location, ignore=shutil.ignore_patterns("__pycache__")
        )
        down = runner.head("tenant")
        for n, name in enumerate(names):
            path = location / "versions" / f"99990101_{n:04d}_{name}.py"
            path.write_text(_REVISION.format(rev=name, down=down))
            down = name
        config = Config()
        config.set_main_option("script_location", str(location))
        yield ScriptDirectory.from_config(config)


def reset_revisions(engine: Engine) -> int:
    """Take every schema at a benchmark revision back to the stream's head; returns how many."""
    stock = runner.head("tenant")
    like = PREFIX.replace("_", r"\_") + "%"
    with engine.connect() as conn:
        schemas = list(
            conn.execute(
                text("SELECT schema_name FROM platform.schema_states WHERE revision LIKE :p"),
                {"p": like},
            ).scalars()
        )
        template = conn.execute(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": TEMPLATE_SCHEMA}
        ).first()
        if template and runner.current_revision(conn, TEMPLATE_SCHEMA) != stock:
            schemas.append(TEMPLATE_SCHEMA)
    for start in range(0, len(schemas), _BATCH):
        batch = schemas[start : start + _BATCH]
        with engine.begin() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            tables = conn.execute(
                text(
                    "SELECT n.nspname, c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'r' AND c.relname LIKE :p AND n.nspname = ANY(:s)"
                ),
                {"p": like, "s": batch},
            ).all()
            columns = conn.execute(
                text(
                    "SELECT n.nspname, a.attname FROM pg_attribute a "
                    "JOIN pg_class c ON c.oid = a.attrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relname = 'audit_log' AND a.attname LIKE :p "
                    "AND NOT a.attisdropped AND n.nspname = ANY(:s)"
                ),
                {"p": like, "s": batch},
            ).all()
            statements: list[sql.Composable] = [
                sql.SQL("DROP TABLE {}.{}").format(sql.Identifier(s), sql.Identifier(t))
                for s, t in tables
            ]
            statements += [
                sql.SQL("ALTER TABLE {}.audit_log DROP COLUMN {}").format(
                    sql.Identifier(s), sql.Identifier(c)
                )
                for s, c in columns
            ]
            statements += [
                sql.SQL("UPDATE {}.alembic_version SET version_num = {}").format(
                    sql.Identifier(s), sql.Literal(stock)
                )
                for s in batch
            ]
            conn.exec_driver_sql(";\n".join(s.as_string(raw) for s in statements))
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE platform.schema_states SET revision = :r, status = 'ready', "
                "last_error = NULL WHERE revision LIKE :p"
            ),
            {"r": stock, "p": like},
        )
        conn.execute(
            text("DELETE FROM platform.schema_blueprints WHERE revision LIKE :p"), {"p": like}
        )
    return len(schemas)
