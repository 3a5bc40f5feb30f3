"""Clone the template schema: read its catalog once, replay the DDL into each new tenant schema.

``db upgrade`` keeps the template schema (``tenant_template``) at the tenant stream's head and
stores its *blueprint*: the ordered DDL that recreates it, written with unqualified names. Creating
a tenant is then one transaction: ``CREATE SCHEMA``, ``SET LOCAL search_path``, the blueprint as one
multi-statement round trip, and the version row. No migration is replayed.

The blueprint covers what tenant migrations create: enum types, tables (columns, types, defaults,
identity and generated columns, collations), every constraint, every index, the rows of small
tables (seed data a migration inserted, and ``alembic_version``) as a snapshot, and functions in
SQL or PL/pgSQL with the triggers that call them (the audit log's append-only guard, issue 3).
Anything else in the template (views, aggregates, functions in other languages or naming their
own schema, triggers calling a function of another schema or not plainly enabled, standalone
sequences, domains, partitioned or unlogged tables, foreign keys to other schemas, large or
identity tables holding rows) makes :func:`read_blueprint` raise :class:`UnsupportedTemplate` so
that the gap is fixed here rather than cloned wrongly; the catalog comparison test
(tests/integration/test_template_clone.py) guards the equivalence.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from migrations.runner import set_local_search_path

__all__ = ["TEMPLATE_SCHEMA", "UnsupportedTemplate", "read_blueprint"]

TEMPLATE_SCHEMA = "tenant_template"


_MAX_SEED_ROWS = 1000
#: First statement of every blueprint; a stored blueprint with another marker is rebuilt.
FORMAT_MARKER = "-- whitelabel blueprint format 2"


class UnsupportedTemplate(RuntimeError):
    """The template holds an object kind the blueprint cannot reproduce exactly."""


def _rows(conn: Connection, query: str, **params: Any) -> list[Any]:
    return list(conn.execute(text(query), params).all())


_UNSUPPORTED = """
SELECT 'foreign key ' || con.conname::text || ' to another schema'
  FROM pg_constraint con
  JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_class r ON r.oid = con.confrelid
 WHERE c.relnamespace = CAST(:schema AS regnamespace) AND con.contype = 'f'
   AND r.relnamespace <> c.relnamespace
UNION ALL
SELECT 'relation ' || c.relname::text || ' of kind ' || c.relkind::text
  FROM pg_class c
 WHERE c.relnamespace = CAST(:schema AS regnamespace)
   AND (c.relkind NOT IN ('r', 'i', 'S') OR c.relpersistence <> 'p')
UNION ALL
SELECT 'sequence ' || c.relname || ' (only identity sequences are cloned)'
  FROM pg_class c
 WHERE c.relnamespace = CAST(:schema AS regnamespace) AND c.relkind = 'S'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i')
UNION ALL
SELECT 'function ' || p.proname || ' of kind ' || p.prokind::text || ' in ' || l.lanname::text
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE p.pronamespace = CAST(:schema AS regnamespace)
   AND (p.prokind NOT IN ('f', 'p') OR l.lanname NOT IN ('sql', 'plpgsql'))
UNION ALL
SELECT 'trigger ' || t.tgname || ' (calls a function of another schema, or is not plainly enabled)'
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
 WHERE c.relnamespace = CAST(:schema AS regnamespace) AND NOT t.tgisinternal
   AND (t.tgenabled <> 'O' OR p.pronamespace NOT IN (c.relnamespace, 'pg_catalog'::regnamespace))
UNION ALL
SELECT 'column default or generated column of ' || c.relname || ' calling a function of the schema'
  FROM pg_attrdef a JOIN pg_class c ON c.oid = a.adrelid
  JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = a.oid
   AND d.refclassid = 'pg_proc'::regclass
  JOIN pg_proc p ON p.oid = d.refobjid
 WHERE c.relnamespace = CAST(:schema AS regnamespace) AND p.pronamespace = c.relnamespace
UNION ALL
SELECT 'type ' || t.typname FROM pg_type t
 WHERE t.typnamespace = CAST(:schema AS regnamespace) AND t.typtype NOT IN ('e', 'c', 'b')
UNION ALL
SELECT 'column default using a sequence in ' || c.relname FROM pg_attrdef a
  JOIN pg_class c ON c.oid = a.adrelid
 WHERE c.relnamespace = CAST(:schema AS regnamespace)
   AND pg_get_expr(a.adbin, a.adrelid) LIKE 'nextval(%'
"""

_ENUMS = """
SELECT t.typname AS name,
       array_agg(quote_literal(e.enumlabel) ORDER BY e.enumsortorder) AS labels
  FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
 WHERE t.typnamespace = CAST(:schema AS regnamespace)
 GROUP BY t.typname ORDER BY t.typname
"""

_TABLES = """
SELECT c.oid, c.relname FROM pg_class c
 WHERE c.relnamespace = CAST(:schema AS regnamespace) AND c.relkind = 'r'
 ORDER BY c.relname
"""

_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
       a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END AS collation,
       s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
  LEFT JOIN pg_sequence s ON a.attidentity <> '' AND s.seqrelid = (
       SELECT dep.objid FROM pg_depend dep
        WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
          AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype = 'i'
        LIMIT 1)
 WHERE a.attrelid = :oid AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""

_CONSTRAINTS = """
SELECT con.conname, con.contype, pg_get_constraintdef(con.oid) AS definition, c.relname
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
 WHERE c.relnamespace = CAST(:schema AS regnamespace) AND con.contype IN ('p', 'u', 'c', 'x', 'f')
 ORDER BY CASE con.contype WHEN 'f' THEN 1 ELSE 0 END, c.relname, con.conname
"""

_FUNCTIONS = """
SELECT p.proname AS name, pg_get_functiondef(p.oid) AS definition
  FROM pg_proc p
 WHERE p.pronamespace = CAST(:schema AS regnamespace)
 ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)
"""

_TRIGGERS = """
SELECT t.tgname AS name, c.relname AS table_name, pg_get_triggerdef(t.oid, true) AS definition
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = CAST(:schema AS regnamespace) AND NOT t.tgisinternal
 ORDER BY c.relname, t.tgname
"""

_INDEXES = """
SELECT i.relname AS name, c.relname AS table_name, ix.indisunique AS is_unique,
       pg_get_indexdef(ix.indexrelid) AS definition,
       quote_ident(:schema) || '.' || quote_ident(c.relname) AS qualified_table
  FROM pg_index ix
  JOIN pg_class i ON i.oid = ix.indexrelid
  JOIN pg_class c ON c.oid = ix.indrelid
 WHERE c.relnamespace = CAST(:schema AS regnamespace)
   AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid
                   AND con.conrelid = ix.indrelid)
 ORDER BY c.relname, i.relname
"""


def _quote(conn: Connection, name: str) -> str:
    return str(conn.execute(text("SELECT quote_ident(:n)"), {"n": name}).scalar_one())


def _column_sql(conn: Connection, col: Any) -> str:
    parts = [_quote(conn, col.attname), col.type]
    if col.collation:
        parts.append(f"COLLATE {_quote(conn, col.collation)}")
    if col.attgenerated == "s":
        parts.append(f"GENERATED ALWAYS AS ({col.default_expr}) STORED")
    elif col.default_expr is not None:
        parts.append(f"DEFAULT {col.default_expr}")
    if col.attidentity in ("a", "d"):
        # The identity sequence's options too (START WITH, INCREMENT BY, ...): without them a
        # clone of `sa.Identity(start=1000)` would count from 1 (integers from the catalog).
        kind = "ALWAYS" if col.attidentity == "a" else "BY DEFAULT"
        parts.append(
            f"GENERATED {kind} AS IDENTITY (START WITH {int(col.seqstart)}"
            f" INCREMENT BY {int(col.seqincrement)} MINVALUE {int(col.seqmin)}"
            f" MAXVALUE {int(col.seqmax)} CACHE {int(col.seqcache)}"
            f"{' CYCLE' if col.seqcycle else ' NO CYCLE'})"
        )
    if col.attnotnull:
        parts.append("NOT NULL")
    return " ".join(parts)


def _index_sql(conn: Connection, idx: Any) -> str:
    unique = "UNIQUE " if idx.is_unique else ""
    prefix = f"CREATE {unique}INDEX {_quote(conn, idx.name)} ON {idx.qualified_table} "
    if not idx.definition.startswith(prefix):
        raise UnsupportedTemplate(f"index {idx.name} has an unexpected definition")
    rest = idx.definition[len(prefix) :]
    return f"CREATE {unique}INDEX {_quote(conn, idx.name)} ON {_quote(conn, idx.table_name)} {rest}"


def _function_sql(conn: Connection, schema: str, fn: Any) -> str:
    """``CREATE FUNCTION name(...)``: the catalog's definition, its qualified name made plain.

    ``pg_get_functiondef`` always qualifies the function's own name; argument and result types
    print unqualified under the transaction's ``search_path``. A definition that still names the
    schema (a qualified table in the body, ``SET search_path`` to it) would tie every clone to
    the template, so it is refused.
    """
    definition: str = fn.definition
    qualified = f"{_quote(conn, schema)}.{_quote(conn, fn.name)}("
    for kind in ("FUNCTION", "PROCEDURE"):
        prefix = f"CREATE OR REPLACE {kind} {qualified}"
        if definition.startswith(prefix):
            rest = definition[len(prefix) :]
            if schema in rest:
                raise UnsupportedTemplate(f"function {fn.name} names the schema {schema}")
            return f"CREATE {kind} {_quote(conn, fn.name)}({rest.rstrip()}"
    raise UnsupportedTemplate(f"function {fn.name} has an unexpected definition")


def _constraint_sql(conn: Connection, con: Any) -> str:
    return (
        f"ALTER TABLE {_quote(conn, con.relname)} "
        f"ADD CONSTRAINT {_quote(conn, con.conname)} {con.definition}"
    )


def _rows_sql(conn: Connection, schema: str, table: str) -> list[str]:
    """The table's rows as one INSERT of row literals (a snapshot taken now), or nothing."""
    qualified = f"{_quote(conn, schema)}.{_quote(conn, table)}"
    literals = [
        row[0]
        for row in conn.execute(
            text(f"SELECT quote_literal(t::text) FROM {qualified} AS t LIMIT :n"),  # noqa: S608
            {"n": _MAX_SEED_ROWS + 1},
        )
    ]
    if not literals:
        return []
    if len(literals) > _MAX_SEED_ROWS:
        raise UnsupportedTemplate(
            f"table {table} holds over {_MAX_SEED_ROWS} rows; seed data belongs in small tables"
        )
    identity = conn.execute(
        text(
            "SELECT 1 FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) AND attidentity <> ''"
        ),
        {"t": qualified},
    ).first()
    if identity is not None:
        raise UnsupportedTemplate(f"table {table} has an identity column and rows to copy")
    name = _quote(conn, table)
    columns = [
        _quote(conn, row[0])
        for row in conn.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass)"
                " AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
            ),
            {"t": qualified},
        )
    ]
    names = ", ".join(columns)
    picked = ", ".join(f"x.{c}" for c in columns)
    values = ", ".join(f"({literal})" for literal in literals)
    # Each literal is the text of a whole row, cast back to the new table's row type; generated
    # columns are left out (the database computes them).
    return [
        f"INSERT INTO {name} ({names}) SELECT {picked} FROM "  # noqa: S608
        f"(SELECT (CAST(r AS {name})).* FROM (VALUES {values}) AS v(r)) AS x"
    ]


def read_blueprint(conn: Connection, schema: str = TEMPLATE_SCHEMA) -> list[str]:
    """The DDL and rows (seed data, the version row) that recreate ``schema``, unqualified.

    Runs inside the caller's transaction (it sets a transaction-local ``search_path`` so that the
    catalog functions print names unqualified).

    Raises:
        UnsupportedTemplate: the template holds objects the blueprint cannot reproduce.
    """
    problems = [row[0] for row in _rows(conn, _UNSUPPORTED, schema=schema)]
    if problems:
        raise UnsupportedTemplate("the template schema holds: " + "; ".join(problems))
    set_local_search_path(conn, schema)
    statements: list[str] = [FORMAT_MARKER]
    for enum in _rows(conn, _ENUMS, schema=schema):
        statements.append(
            f"CREATE TYPE {_quote(conn, enum.name)} AS ENUM ({', '.join(enum.labels)})"
        )
    tables = _rows(conn, _TABLES, schema=schema)
    for table in tables:
        columns = ", ".join(_column_sql(conn, col) for col in _rows(conn, _COLUMNS, oid=table.oid))
        statements.append(f"CREATE TABLE {_quote(conn, table.relname)} ({columns})")
    constraints = _rows(conn, _CONSTRAINTS, schema=schema)  # foreign keys come last
    # Functions after the tables (SQL bodies are checked against them when created), before the
    # constraints and indexes that may call them.
    for fn in _rows(conn, _FUNCTIONS, schema=schema):
        statements.append(_function_sql(conn, schema, fn))
    for con in (c for c in constraints if c.contype != "f"):
        statements.append(_constraint_sql(conn, con))
    # Rows (seed data and the version row) before the foreign keys, so their order is free.
    for table in tables:
        statements.extend(_rows_sql(conn, schema, table.relname))
    for con in (c for c in constraints if c.contype == "f"):
        statements.append(_constraint_sql(conn, con))
    for idx in _rows(conn, _INDEXES, schema=schema):
        statements.append(_index_sql(conn, idx))
    # Triggers last: the copied rows are the template's final state and must not fire them.
    # pg_get_triggerdef's pretty form prints the table and the function unqualified under the
    # search_path (the plain form always qualifies the table).
    for trigger in _rows(conn, _TRIGGERS, schema=schema):
        if schema in trigger.definition:
            raise UnsupportedTemplate(f"trigger {trigger.name} names the schema {schema}")
        statements.append(trigger.definition)
    return statements
