"""Per-transaction schema switching: the isolation chokepoint.

* ORM and Core statements on tenant tables are compiled once with the placeholder schema
  ``tenant`` and rendered for the bound tenant by ``schema_translate_map`` at execution time:
  no extra round trip, no state on the connection.
* Textual SQL (``text()``, ``exec_driver_sql``) cannot be translated, so before the first textual
  statement of a transaction the connection runs ``SET LOCAL search_path`` for the bound schema.
  ``SET LOCAL`` ends with the transaction, so nothing survives on a pooled connection (safe under
  PgBouncer transaction pooling). ORM-only transactions never pay for it.
* A statement touching a tenant table (ORM or Core) through a session with no tenant raises
  :class:`~whitelabel.errors.TenantNotBoundError` before any SQL is sent; what escapes that guard
  (a unit-of-work flush, a bare connection) names the placeholder schema ``tenant``, which does
  not exist, and fails in the database.
"""

from __future__ import annotations

from typing import Any, cast

from psycopg import sql
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.elements import ClauseElement, TextClause
from sqlalchemy.sql.util import find_tables

from whitelabel.db.base import TENANT_SCHEMA, TenantBase
from whitelabel.errors import TenantNotBoundError

__all__ = ["SCHEMA_INFO_KEY", "install_engine_hooks", "install_session_hooks", "translate_map"]

SCHEMA_INFO_KEY = "whitelabel_tenant_schema"
_PATH_SET_KEY = "whitelabel_search_path_set"


def translate_map(schema: str) -> dict[str | None, str | None]:
    """The ``schema_translate_map`` that renders tenant tables into ``schema``."""
    return {TENANT_SCHEMA: schema}


def _on_begin(conn: Connection) -> None:
    conn.info.pop(_PATH_SET_KEY, None)


def _on_rollback_savepoint(conn: Connection, name: str, context: object) -> None:
    # A SET LOCAL made inside the savepoint is undone with it: set it again when next needed.
    conn.info.pop(_PATH_SET_KEY, None)


def _before_cursor_execute(
    conn: Connection,
    cursor: DBAPICursor,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    options = conn.get_execution_options()
    schema_map = options.get("schema_translate_map")
    if not schema_map or conn.info.get(_PATH_SET_KEY):
        return
    compiled = getattr(context, "compiled", None)
    if compiled is not None and not isinstance(compiled.statement, TextClause):
        return  # compiled SQL is already rendered for the tenant schema
    schema = schema_map.get(TENANT_SCHEMA)
    if schema is None:
        return
    cursor.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
    conn.info[_PATH_SET_KEY] = True


def install_engine_hooks(engine: Engine) -> None:
    """Install the textual-SQL ``search_path`` hook on a (sync or async's sync) engine."""
    event.listen(engine, "begin", _on_begin)
    event.listen(engine, "rollback_savepoint", _on_rollback_savepoint)
    event.listen(engine, "before_cursor_execute", _before_cursor_execute)


def _tenant_table_touched(state: ORMExecuteState) -> bool:
    if any(m.class_ is not None and issubclass(m.class_, TenantBase) for m in state.all_mappers):
        return True
    # Core statements run through a session (select(func.count()).select_from(Model),
    # select(table)) carry no mapper: look at their tables. Only sessions without a tenant pay.
    statement = cast(ClauseElement, state.statement)
    tables = find_tables(statement, include_crud=True, include_joins=True)
    return any(table.schema == TENANT_SCHEMA for table in tables)


def _do_orm_execute(state: ORMExecuteState) -> None:
    if state.session.info.get(SCHEMA_INFO_KEY):
        return
    if _tenant_table_touched(state):
        raise TenantNotBoundError("a query on a tenant table")


def install_session_hooks(session_class: type[Session]) -> None:
    """Make ORM statements on tenant tables raise in sessions that carry no tenant."""
    event.listen(session_class, "do_orm_execute", _do_orm_execute)
