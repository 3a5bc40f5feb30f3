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


def _before_cursor_execute(
    conn: Connection,
    cursor: DBAPICursor,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    compiled = getattr(context, "compiled", None)
    if compiled is not None and not isinstance(compiled.statement, TextClause):
        return  # compiled SQL is already rendered for the tenant schema
    schema_map = conn.get_execution_options().get("schema_translate_map")
    schema = schema_map.get(TENANT_SCHEMA) if schema_map else None
    if schema is None:
        return
    # SET LOCAL lasts until its transaction (or the savepoint it ran in) ends: remember where it
    # was made, and make it again in any other transaction or savepoint. Only textual SQL pays.
    where = (conn.get_transaction(), conn.get_nested_transaction())
    made = conn.info.get(_PATH_SET_KEY)
    if made is not None and made[0] is where[0] and made[1] is where[1]:
        return
    cursor.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
    conn.info[_PATH_SET_KEY] = where


def install_engine_hooks(engine: Engine) -> None:
    """Install the textual-SQL ``search_path`` hook on a (sync or async's sync) engine.

    It is the only engine event whitelabel listens to: each listener makes SQLAlchemy dispatch
    events on every execution, which the request path pays for.
    """
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
    """Make statements on tenant tables raise in sessions of ``session_class`` without a tenant.

    Install it on the session class used without a tenant (platform work); sessions bound to a
    tenant do not need the check, and the request path does not pay for it.
    """
    event.listen(session_class, "do_orm_execute", _do_orm_execute)
