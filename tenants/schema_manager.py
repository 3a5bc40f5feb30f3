"""Tenant schemas in PostgreSQL: the template kept at head, creating from it, dropping.

Identifiers reach SQL only through ``psycopg.sql.Identifier`` and only after
:func:`whitelabel.context.is_tenant_schema_name` accepted them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy import Connection, Engine, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert

from migrations import runner
from tenants.blueprint import FORMAT_MARKER, TEMPLATE_SCHEMA, read_blueprint
from tenants.models import PooledSchema, SchemaBlueprint
from whitelabel.context import is_tenant_schema_name, schema_name_for

__all__ = [
    "TEMPLATE_SCHEMA",
    "claim_pooled_schema",
    "create_schema_from_blueprint",
    "drain_pool",
    "drop_schema",
    "ensure_template",
    "fill_pool",
    "load_blueprint",
    "schema_exists",
]

# Serialise template upgrades, and pool refills, between processes (fixed advisory-lock keys).
_TEMPLATE_LOCK = 0x77_6C_74_6D_70
_POOL_LOCK = 0x77_6C_70_6F_6F


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


def create_schema_from_blueprint(conn: Connection, schema: str, statements: Sequence[str]) -> None:
    """Create ``schema`` and its tables from a blueprint, inside the caller's transaction."""
    _check(schema)
    conn.exec_driver_sql(_sql(conn, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema))))
    runner.set_local_search_path(conn, schema)
    # One round trip: psycopg sends a parameterless multi-statement string as a simple query.
    # It still reads '%' as a placeholder mark (SQLAlchemy passes an empty parameter mapping),
    # so a literal '%' (a function body's RAISE format, a seed row) is doubled.
    body = ";\n".join(s for s in statements if not s.startswith("--"))
    conn.exec_driver_sql(body.replace("%", "%%"))


def drop_schema(conn: Connection, schema: str) -> None:
    """Drop ``schema`` and everything in it, inside the caller's transaction (no-op if absent)."""
    _check(schema)
    conn.exec_driver_sql(
        _sql(conn, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    )


def claim_pooled_schema(conn: Connection, revision: str) -> str | None:
    """Take one ready schema of ``revision`` from the pool, inside the caller's transaction.

    Concurrent claims never take the same schema (``FOR UPDATE SKIP LOCKED``); if the caller's
    transaction rolls back, the schema goes back to the pool with it.
    """
    oldest = (
        select(PooledSchema.schema_name)
        .where(PooledSchema.revision == revision)
        .order_by(PooledSchema.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = conn.execute(
        delete(PooledSchema)
        .where(PooledSchema.schema_name == oldest)
        .returning(PooledSchema.schema_name)
    ).scalar_one_or_none()
    return claimed


def fill_pool(
    engine: Engine, size: int, script: ScriptDirectory | None = None, *, wait: bool = False
) -> int:
    """Keep ``size`` ready schemas at the tenant head; drop pooled schemas of older revisions.

    One transaction under an advisory lock: a second filler at the same time returns at once
    (``wait=True``, as ``db upgrade`` uses, waits for it instead). Returns how many were made.

    Raises:
        RuntimeError: no blueprint is stored for the head (``ensure_template`` failed to store it).
    """
    target = ensure_template(engine, script)
    with engine.begin() as conn:
        if wait:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _POOL_LOCK})
        elif not conn.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _POOL_LOCK}
        ).scalar_one():
            return 0
        stale = conn.execute(
            delete(PooledSchema)
            .where(PooledSchema.revision != target)
            .returning(PooledSchema.schema_name)
        ).scalars()
        for schema in list(stale):
            drop_schema(conn, schema)
        ready = conn.execute(select(func.count()).select_from(PooledSchema)).scalar_one()
        statements = load_blueprint(conn, target)
        if statements is None:
            raise RuntimeError(f"no blueprint is stored for tenant revision {target}")
        missing = max(0, size - ready)
        for _ in range(missing):
            schema = schema_name_for(uuid.uuid4())
            create_schema_from_blueprint(conn, schema, statements)
            conn.execute(insert(PooledSchema).values(schema_name=schema, revision=target))
    return missing


def drain_pool(engine: Engine) -> int:
    """Drop every pooled schema (e.g. before changing the pool size to 0); returns how many."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _POOL_LOCK})
        dropped = list(
            conn.execute(delete(PooledSchema).returning(PooledSchema.schema_name)).scalars()
        )
        for schema in dropped:
            drop_schema(conn, schema)
    return len(dropped)
