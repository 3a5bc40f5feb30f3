"""Tenant schemas in PostgreSQL: the template kept at head, creating from it, dropping.

Identifiers reach SQL only through ``psycopg.sql.Identifier`` and only after
:func:`whitelabel.context.is_tenant_schema_name` accepted them.
"""

from __future__ import annotations

from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects.postgresql import insert

from migrations import runner
from tenants.blueprint import FORMAT_MARKER, TEMPLATE_SCHEMA, read_blueprint
from tenants.models import SchemaBlueprint
from whitelabel.context import is_tenant_schema_name

__all__ = [
    "TEMPLATE_SCHEMA",
    "create_schema_from_blueprint",
    "drop_schema",
    "ensure_template",
    "load_blueprint",
    "schema_exists",
]

# Serialises template upgrades between processes (an arbitrary, fixed advisory-lock key).
_TEMPLATE_LOCK = 0x77_6C_74_6D_70


def _sql(conn: Connection, composed: sql.Composable) -> str:
    raw = conn.connection.driver_connection
    assert raw is not None  # inside a transaction the DBAPI connection is live
    return composed.as_string(raw)


def _check(schema: str) -> None:
    if not is_tenant_schema_name(schema):
        raise ValueError(f"not a tenant schema name: {schema!r}")


def schema_exists(conn: Connection, schema: str) -> bool:
    """Whether a schema of that name exists."""
    found = conn.execute(
        text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
    ).first()
    return found is not None


def ensure_template(engine: Engine, script: ScriptDirectory | None = None) -> str:
    """Bring the template schema to the tenant head and store its blueprint; returns the head.

    Cheap when nothing changed: one advisory lock, one revision read and one blueprint lookup.
    """
    target = runner.head("tenant", script)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _TEMPLATE_LOCK})
        conn.exec_driver_sql(
            _sql(
                conn,
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(TEMPLATE_SCHEMA)),
            )
        )
        if runner.current_revision(conn, TEMPLATE_SCHEMA) != target:
            runner.upgrade(conn, "tenant", schema=TEMPLATE_SCHEMA, script=script)
        stored = load_blueprint(conn, target)
        if stored is None or stored[:1] != [FORMAT_MARKER]:
            statements = read_blueprint(conn, TEMPLATE_SCHEMA)
            conn.execute(
                insert(SchemaBlueprint)
                .values(revision=target, statements=statements)
                .on_conflict_do_update(
                    index_elements=[SchemaBlueprint.revision], set_={"statements": statements}
                )
            )
    return target


def load_blueprint(conn: Connection, revision: str) -> list[str] | None:
    """The stored blueprint for ``revision``, or ``None``."""
    return conn.execute(
        select(SchemaBlueprint.statements).where(SchemaBlueprint.revision == revision)
    ).scalar_one_or_none()


def create_schema_from_blueprint(conn: Connection, schema: str, statements: list[str]) -> None:
    """Create ``schema`` and its tables from a blueprint, inside the caller's transaction."""
    _check(schema)
    conn.exec_driver_sql(_sql(conn, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema))))
    runner.set_local_search_path(conn, schema)
    # One round trip: psycopg sends a parameterless multi-statement string as a simple query.
    conn.exec_driver_sql(";\n".join(s for s in statements if not s.startswith("--")))


def drop_schema(conn: Connection, schema: str) -> None:
    """Drop ``schema`` and everything in it, inside the caller's transaction (no-op if absent)."""
    _check(schema)
    conn.exec_driver_sql(
        _sql(conn, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    )
