"""A tenant schema cloned from the template equals one built by replaying every tenant migration.

The comparison reads the catalog of both schemas with ``search_path`` set to each in turn, so every
definition prints unqualified and two equal schemas give equal snapshots. The snapshot itself is
tested too: each kind of difference it claims to see must change it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from migrations import runner
from tenants.blueprint import TEMPLATE_SCHEMA, UnsupportedTemplate, read_blueprint
from tenants.schema_manager import create_schema_from_blueprint
from tenants.schemas import TenantView
from whitelabel.runtime import Runtime
from whitelabel.testing import TenantFactory

Snapshot = dict[str, list[tuple[Any, ...]]]

_CATALOG: dict[str, str] = {
    "relations": """
        SELECT c.relname, c.relkind, c.relpersistence, c.reloptions::text, c.relrowsecurity,
               c.relacl::text, obj_description(c.oid, 'pg_class')
          FROM pg_class c WHERE c.relnamespace = CAST(:schema AS regnamespace)
         ORDER BY c.relname""",
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, co.collname,
               col_description(c.oid, a.attnum),
               row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum)
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          LEFT JOIN pg_collation co ON co.oid = a.attcollation
         WHERE c.relnamespace = CAST(:schema AS regnamespace) AND c.relkind IN ('r', 'p', 'v', 'm')
           AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY c.relname, a.attnum""",
    "constraints": """
        SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid),
               con.condeferrable, con.condeferred, con.convalidated
          FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
         WHERE c.relnamespace = CAST(:schema AS regnamespace)
         ORDER BY c.relname, con.conname""",
    "indexes": """
        SELECT i.relname, replace(pg_get_indexdef(ix.indexrelid), quote_ident(:schema) || '.', ''),
               ix.indisunique, ix.indisprimary, ix.indimmediate
          FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid
         WHERE i.relnamespace = CAST(:schema AS regnamespace)
         ORDER BY i.relname""",
    "sequences": """
        SELECT c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmax,
               s.seqmin, s.seqcache, s.seqcycle
          FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
         WHERE c.relnamespace = CAST(:schema AS regnamespace)
         ORDER BY c.relname""",
    "enums": """
        SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
          FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
         WHERE t.typnamespace = CAST(:schema AS regnamespace)
         GROUP BY t.typname ORDER BY t.typname""",
    "types": """
        SELECT t.typname, t.typtype FROM pg_type t
         WHERE t.typnamespace = CAST(:schema AS regnamespace) AND t.typcategory <> 'A'
           AND (t.typrelid = 0 OR t.typtype <> 'c')
         ORDER BY t.typname""",
    "routines": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), p.prokind,
               CASE WHEN p.prokind IN ('f', 'p') THEN replace(pg_get_functiondef(p.oid),
                    quote_ident(:schema) || '.', '') END
          FROM pg_proc p
         WHERE p.pronamespace = CAST(:schema AS regnamespace) ORDER BY 1, 2""",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid, true), t.tgenabled FROM pg_trigger t
          JOIN pg_class c ON c.oid = t.tgrelid
         WHERE c.relnamespace = CAST(:schema AS regnamespace) AND NOT t.tgisinternal
         ORDER BY 1, 2""",
    "policies": """
        SELECT c.relname, p.polname, p.polcmd::text, pg_get_expr(p.polqual, p.polrelid)
          FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
         WHERE c.relnamespace = CAST(:schema AS regnamespace) ORDER BY 1, 2""",
}


def _quoted(conn: Connection, schema: str) -> str:
    raw = conn.connection.driver_connection
    assert raw is not None
    return sql.Identifier(schema).as_string(raw)


def snapshot(conn: Connection, schema: str) -> Snapshot:
    """The catalog of ``schema`` as comparable rows (inside the caller's transaction)."""
    runner.set_local_search_path(conn, schema)
    result = {
        name: [tuple(row) for row in conn.execute(text(query), {"schema": schema})]
        for name, query in _CATALOG.items()
    }
    has_versions = conn.execute(
        text("SELECT to_regclass(:t) IS NOT NULL"),
        {"t": f"{_quoted(conn, schema)}.alembic_version"},
    ).scalar_one()
    result["alembic_version"] = (
        [tuple(r) for r in conn.execute(text("SELECT version_num FROM alembic_version ORDER BY 1"))]
        if has_versions
        else []
    )
    return result


def _diff(left: Snapshot, right: Snapshot) -> dict[str, tuple[list[Any], list[Any]]]:
    return {
        key: (
            [row for row in left[key] if row not in right[key]],
            [row for row in right[key] if row not in left[key]],
        )
        for key in left
        if left[key] != right[key]
    }


def _fresh_name() -> str:
    return f"tenant_{uuid.uuid4().hex}"


def _create_schema(conn: Connection, schema: str) -> None:
    conn.exec_driver_sql(f"CREATE SCHEMA {_quoted(conn, schema)}")


@pytest.fixture
def migrated_schema(whitelabel_runtime: Runtime) -> Iterator[str]:
    """A schema built by running every tenant migration on an empty schema (dropped afterwards)."""
    schema = _fresh_name()
    engine = whitelabel_runtime.db.sync_engine
    with engine.begin() as conn:
        _create_schema(conn, schema)
        runner.upgrade(conn, "tenant", schema=schema)
    try:
        yield schema
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {_quoted(conn, schema)} CASCADE")


def test_clone_equals_full_migration(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory, migrated_schema: str
) -> None:
    clone: TenantView = make_tenant()
    with whitelabel_runtime.db.sync_engine.begin() as conn:
        migrated = snapshot(conn, migrated_schema)
        cloned = snapshot(conn, clone.schema_name)
        template = snapshot(conn, TEMPLATE_SCHEMA)
    # the comparison has something to compare: the kernel tables and the version row
    tables = {row[0] for row in migrated["relations"] if row[1] == "r"}
    assert {"audit_log", "settings", "alembic_version"} <= tables
    assert migrated["indexes"] and migrated["constraints"] and migrated["columns"]
    assert migrated["alembic_version"] == [(runner.head("tenant"),)]
    assert _diff(migrated, cloned) == {}
    assert _diff(migrated, template) == {}


@pytest.mark.parametrize(
    ("change", "section"),
    [
        ("ALTER TABLE audit_log ALTER COLUMN actor SET DEFAULT 'x'", "columns"),
        ("ALTER TABLE audit_log ALTER COLUMN ip SET NOT NULL", "columns"),
        ('ALTER TABLE audit_log ALTER COLUMN target TYPE varchar(320) COLLATE "C"', "columns"),
        ("ALTER TABLE settings ADD COLUMN extra int GENERATED ALWAYS AS (1) STORED", "columns"),
        ("ALTER TABLE audit_log ADD CONSTRAINT ck_actor CHECK (actor <> '')", "constraints"),
        ("CREATE INDEX ix_extra ON audit_log (lower(actor)) WHERE ip IS NULL", "indexes"),
        ("ALTER TABLE settings ADD COLUMN n int GENERATED BY DEFAULT AS IDENTITY", "sequences"),
        ("CREATE TYPE mood AS ENUM ('a', 'b')", "enums"),
        ("COMMENT ON TABLE settings IS 'x'", "relations"),
        ("UPDATE alembic_version SET version_num = 'other'", "alembic_version"),
        ("CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'", "routines"),
        (
            "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger"
            " LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'",
            "routines",
        ),
        ("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only", "triggers"),
        (
            "CREATE TRIGGER extra BEFORE INSERT ON settings"
            " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
            "triggers",
        ),
    ],
)
def test_the_snapshot_sees_each_kind_of_difference(
    whitelabel_runtime: Runtime, migrated_schema: str, change: str, section: str
) -> None:
    engine = whitelabel_runtime.db.sync_engine
    with engine.connect() as conn:
        before = snapshot(conn, migrated_schema)
        conn.exec_driver_sql(change)
        after = snapshot(conn, migrated_schema)
        conn.rollback()
    assert section in _diff(before, after)


# A template-like schema using every feature the blueprint claims to reproduce.
_RICH_SCHEMA = [
    "CREATE TYPE mood AS ENUM ('happy', 'sad', 'it''s complicated')",
    'CREATE TABLE parent (id bigint GENERATED ALWAYS AS IDENTITY, code text COLLATE "C" NOT NULL,'
    " rank smallint GENERATED BY DEFAULT AS IDENTITY"
    " (START WITH -1 INCREMENT BY -1 MINVALUE -100 MAXVALUE -1 CYCLE),"
    " CONSTRAINT pk_parent PRIMARY KEY (id), CONSTRAINT uq_parent_code UNIQUE (code))",
    "CREATE TABLE child (id uuid DEFAULT gen_random_uuid() NOT NULL,"
    " parent_id bigint NOT NULL, feeling mood DEFAULT 'happy'::mood NOT NULL,"
    " price_minor integer DEFAULT 0 NOT NULL, qty integer NOT NULL DEFAULT 1,"
    " total integer GENERATED ALWAYS AS (price_minor * qty) STORED,"
    " seq bigint GENERATED BY DEFAULT AS IDENTITY (START WITH 100 INCREMENT BY 5 CACHE 3),"
    " tags text[] DEFAULT '{}'::text[] NOT NULL,"
    " at timestamptz DEFAULT now() NOT NULL, note varchar(40),"
    " CONSTRAINT pk_child PRIMARY KEY (id),"
    " CONSTRAINT fk_child_parent_id_parent FOREIGN KEY (parent_id) REFERENCES parent (id)"
    " ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,"
    " CONSTRAINT ck_child_qty CHECK (qty > 0))",
    "CREATE INDEX ix_child_parent_at ON child (parent_id, at DESC) INCLUDE (feeling)",
    "CREATE UNIQUE INDEX uq_child_note_lower ON child (lower(note)) WHERE note IS NOT NULL",
    "CREATE INDEX ix_child_tags ON child USING gin (tags)",
    "CREATE TABLE alembic_version (version_num varchar(32) NOT NULL,"
    " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
    "INSERT INTO alembic_version VALUES ('rich0001')",
    # seed rows, one table referencing the other (and sorting before it: rows precede the keys)
    "CREATE TABLE kinds (code text PRIMARY KEY, label text NOT NULL, extra jsonb,"
    " label_length int GENERATED ALWAYS AS (length(label)) STORED)",
    "INSERT INTO kinds VALUES ('a', 'Alpha', NULL),"
    " ('b', 'B''s \"quoted\" (label), with commas', '{\"k\": [1, \"two\"]}')",
    "CREATE TABLE kind_aliases (alias text PRIMARY KEY,"
    " code text NOT NULL REFERENCES kinds (code))",
    "INSERT INTO kind_aliases VALUES ('z', 'b')",
    # functions (SQL and PL/pgSQL, one taking the schema's enum) and the triggers calling them;
    # the seed rows above are inserted before the triggers exist and must not fire them. ('%%' is
    # one '%' once the driver has read it: the blueprint must carry a '%' through.)
    "CREATE FUNCTION cheer(m mood, times int DEFAULT 1) RETURNS text LANGUAGE sql IMMUTABLE"
    " AS $$ SELECT repeat(m::text || '%%', times) $$",
    "CREATE FUNCTION kinds_frozen() RETURNS trigger LANGUAGE plpgsql AS $body$"
    " BEGIN IF current_setting('wl.thaw', true) = 'on' THEN RETURN NEW; END IF;"
    " RAISE EXCEPTION 'kinds are frozen (%%)', TG_OP; END $body$",
    "CREATE TRIGGER kinds_frozen BEFORE UPDATE OR DELETE ON kinds"
    " FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION kinds_frozen()",
    "CREATE TRIGGER kinds_no_truncate BEFORE TRUNCATE ON kinds"
    " FOR EACH STATEMENT EXECUTE FUNCTION kinds_frozen()",
    "CREATE TRIGGER child_note_touch BEFORE INSERT OR UPDATE OF note ON child"
    " FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()",
]
_SEEDED = ("kinds", "kind_aliases")


def test_blueprint_reproduces_every_supported_feature(whitelabel_runtime: Runtime) -> None:
    source, target = f"wl_scratch_{uuid.uuid4().hex[:12]}", _fresh_name()
    with whitelabel_runtime.db.sync_engine.connect() as conn:
        _create_schema(conn, source)
        runner.set_local_search_path(conn, source)
        for statement in _RICH_SCHEMA:
            conn.exec_driver_sql(statement)
        statements = read_blueprint(conn, source)
        create_schema_from_blueprint(conn, target, statements)
        original, replayed = snapshot(conn, source), snapshot(conn, target)
        # the replayed trigger and function work in the new schema, on its own tables
        with pytest.raises(DBAPIError, match="kinds are frozen"), conn.begin_nested():
            conn.exec_driver_sql(f'DELETE FROM "{target}".kinds')
        cheer = conn.exec_driver_sql(f"SELECT \"{target}\".cheer('sad', 2)").scalar_one()
        with pytest.raises(DBAPIError, match=r"kinds are frozen \(TRUNCATE\)"), conn.begin_nested():
            conn.exec_driver_sql(f'TRUNCATE "{target}".kinds CASCADE')
        rows = {
            schema: {
                table: conn.exec_driver_sql(
                    f'SELECT to_jsonb(t) FROM "{schema}".{table} AS t ORDER BY 1::text'
                ).all()
                for table in _SEEDED
            }
            for schema in (source, target)
        }
        conn.rollback()  # nothing of either schema is kept
    assert {row[0] for row in original["relations"]} >= {"parent", "child", "ix_child_tags"}
    assert {row[1] for row in original["triggers"]} == {
        "kinds_frozen",
        "kinds_no_truncate",
        "child_note_touch",
    }
    assert {row[0] for row in original["routines"]} == {"cheer", "kinds_frozen"}
    assert _diff(original, replayed) == {}
    assert cheer == "sad%sad%"
    assert len(rows[source]["kinds"]) == 2
    assert rows[source] == rows[target]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("CREATE VIEW recent AS SELECT * FROM audit_log", "relation recent of kind v"),
        (
            "CREATE AGGREGATE total(int) (SFUNC = int4pl, STYPE = int)",
            "function total of kind a",
        ),
        (
            "CREATE FUNCTION here() RETURNS bigint LANGUAGE sql"
            " AS 'SELECT count(*) FROM {schema}.settings'",
            "function here names the schema",
        ),
        (
            "CREATE FUNCTION pinned() RETURNS int LANGUAGE sql SET search_path = {schema}"
            " AS 'SELECT 1'",
            "function pinned names the schema",
        ),
        (
            "CREATE TRIGGER outside BEFORE INSERT ON settings"
            " FOR EACH ROW EXECUTE FUNCTION {other}.outside()",
            "trigger outside",
        ),
        (
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
            "trigger audit_log_append_only",
        ),
        (
            "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1';"
            " CREATE TABLE calls (n int DEFAULT one())",
            "column default or generated column of calls",
        ),
        ("CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x", "relation mv of kind m"),
        ("CREATE SEQUENCE counter", "sequence counter"),
        ("CREATE TABLE serials (id serial PRIMARY KEY)", "column default using a sequence"),
        ("CREATE UNLOGGED TABLE scratch (x int)", "relation scratch of kind r"),
        ("CREATE TABLE parted (x int) PARTITION BY RANGE (x)", "relation parted of kind p"),
        ("CREATE DOMAIN positive AS int CHECK (VALUE > 0)", "type positive"),
        ("CREATE TYPE pair AS (a int, b int)", "relation pair of kind c"),
        (
            "CREATE TABLE refs (tenant_id uuid REFERENCES platform.tenants (id))",
            "foreign key refs_tenant_id_fkey to another schema",
        ),
        (
            "CREATE TABLE counted (id int GENERATED ALWAYS AS IDENTITY);"
            " INSERT INTO counted DEFAULT VALUES",
            "table counted has an identity column and rows",
        ),
        ("CREATE TABLE big AS SELECT g FROM generate_series(1, 1001) AS g", "big holds over"),
    ],
)
def test_read_blueprint_refuses_what_it_cannot_clone(
    whitelabel_runtime: Runtime, extra: str, named: str
) -> None:
    scratch, other = (f"wl_scratch_{uuid.uuid4().hex[:12]}" for _ in range(2))
    with whitelabel_runtime.db.sync_engine.connect() as conn:
        _create_schema(conn, scratch)
        _create_schema(conn, other)
        conn.exec_driver_sql(
            f"CREATE FUNCTION {other}.outside() RETURNS trigger LANGUAGE plpgsql"
            " AS 'BEGIN RETURN NEW; END'"
        )
        runner.upgrade(conn, "tenant", schema=scratch)
        assert any(s.startswith("CREATE TABLE audit_log") for s in read_blueprint(conn, scratch))
        runner.set_local_search_path(conn, scratch)
        conn.exec_driver_sql(extra.format(schema=scratch, other=other))
        with pytest.raises(UnsupportedTemplate, match=named):
            read_blueprint(conn, scratch)
        conn.rollback()
    with whitelabel_runtime.db.sync_engine.connect() as conn:
        gone = conn.execute(
            text("SELECT count(*) FROM pg_namespace WHERE nspname IN (:s, :o)"),
            {"s": scratch, "o": other},
        ).scalar_one()
    assert gone == 0
