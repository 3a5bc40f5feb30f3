"""Run the two migration streams through Alembic's own API, without re-reading ``env.py``.

``platform`` migrates the ``platform`` schema. ``tenant`` migrates one tenant schema at a time: the
transaction starts with ``SET LOCAL search_path`` to that schema, so tenant migrations are written
with unqualified names, and Alembic's version table lives inside the schema. The caller owns the
transaction, so a tenant's DDL and its ledger row commit (or roll back) together.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Any, Literal

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy import Connection, MetaData

from whitelabel.db.base import PLATFORM_SCHEMA
from whitelabel.db.metadata import platform_metadata, tenant_metadata_unqualified

__all__ = [
    "STREAMS",
    "current_revision",
    "head",
    "script_directory",
    "script_directory_at",
    "set_local_search_path",
    "upgrade",
]

# Alembic's ``op`` and ``context`` are module-level proxies that every thread shares: two migrations
# running at once in one process send each other's DDL down the wrong connection, i.e. into another
# tenant's schema (seen as DuplicateColumn under ``upgrade_fleet(concurrency=2)`` in
# benchmarks/fleet_upgrade.py). One migration at a time per process; threads still overlap the rest.
_ALEMBIC_LOCK = threading.Lock()

Stream = Literal["platform", "tenant"]
STREAMS: dict[Stream, Path] = {
    "platform": Path(__file__).parent / "platform",
    "tenant": Path(__file__).parent / "tenant",
}


@cache
def config(stream: Stream) -> Config:
    """An Alembic config for ``stream`` (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(STREAMS[stream]))
    cfg.set_main_option("whitelabel_stream", stream)
    return cfg


@cache
def script_directory(stream: Stream) -> ScriptDirectory:
    """The parsed revision scripts of ``stream`` (parsed once per process)."""
    return ScriptDirectory.from_config(config(stream))


def script_directory_at(location: str) -> ScriptDirectory:
    """A script directory at another location (a copy of a stream with extra revisions)."""
    cfg = Config()
    cfg.set_main_option("script_location", location)
    return ScriptDirectory.from_config(cfg)


def head(stream: Stream, script: ScriptDirectory | None = None) -> str:
    """The single head revision of ``stream`` (or of ``script``, another script directory).

    Raises:
        alembic.util.CommandError: the stream has several heads (merge them first).
    """
    result = (script or script_directory(stream)).get_current_head()
    if result is None:
        raise RuntimeError(f"the {stream} migration stream has no revisions")
    return result


def set_local_search_path(conn: Connection, schema: str) -> None:
    """Point unqualified names at ``schema`` until the current transaction ends."""
    raw = conn.connection.driver_connection
    assert raw is not None  # a live DBAPI connection is always present inside a transaction
    conn.exec_driver_sql(
        sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)).as_string(raw)
    )


def current_revision(conn: Connection, schema: str) -> str | None:
    """The revision recorded in ``schema``'s own version table (``None`` if it has none)."""
    ctx = MigrationContext.configure(conn, opts={"version_table_schema": schema})
    return ctx.get_current_revision()


def _metadata(stream: Stream) -> MetaData:
    if stream == "platform":
        return platform_metadata()
    return tenant_metadata_unqualified()


def upgrade(
    conn: Connection,
    stream: Stream,
    *,
    schema: str = PLATFORM_SCHEMA,
    target: str = "heads",
    script: ScriptDirectory | None = None,
) -> None:
    """Upgrade ``schema`` to ``target`` inside the caller's transaction.

    For the tenant stream ``schema`` is the tenant schema (or the template); it must exist.
    ``script`` replaces the stream's own revisions (benchmarks and tests that add a migration).
    """
    set_local_search_path(conn, schema)
    script = script or script_directory(stream)

    def fn(rev: Any, context: MigrationContext) -> Any:
        return script._upgrade_revs(target, rev)

    with (
        _ALEMBIC_LOCK,
        EnvironmentContext(config(stream), script, fn=fn, destination_rev=target) as env,
    ):
        env.configure(
            connection=conn,
            version_table_schema=schema,
            target_metadata=_metadata(stream),
            transaction_per_migration=False,
        )
        env.run_migrations()
