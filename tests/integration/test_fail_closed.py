"""Fail closed: tenant data is unreachable without a tenant, and tenants never see each other.

Every test here would pass vacuously if the guard were missing in a way the test cannot see, so
each one also proves its precondition (the statement really was attempted, the connection really
was the same pooled one, the other tenant really had rows).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import psycopg
import pytest
from litestar import get
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.plugins import InitPlugin
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine as SyncEngine
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.schemas import TenantView
from tests.integration.tenancy_support import audit_events, context_of
from whitelabel.app import create_app
from whitelabel.context import current_tenant, current_tenant_or_none, tenant_key, tenant_scope
from whitelabel.db.engine import Database
from whitelabel.deps import DbSession, Engine
from whitelabel.errors import TenantNotBoundError
from whitelabel.runtime import Runtime
from whitelabel.settings import Settings
from whitelabel.tenant_data import AuditEvent, record_event
from whitelabel.testing import LiveServer, host_client, wait_for_route

GENERIC_500 = {
    "code": "internal_error",
    "message": "Something went wrong on our side.",
    "detail": None,
}


class _StatementSpy:
    """Records every statement an engine sends (to prove what did, or did not, reach the wire)."""

    def __init__(self, *engines: SyncEngine) -> None:
        self.engines = engines
        self.statements: list[str] = []

    def _record(self, *args: Any) -> None:
        self.statements.append(str(args[2]))

    def __enter__(self) -> _StatementSpy:
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        for engine in self.engines:
            event.remove(engine, "before_cursor_execute", self._record)

    def touching(self, table: str) -> list[str]:
        return [s for s in self.statements if table in s]


def _write_marks(db: Database, view: TenantView, marks: list[str]) -> None:
    with db.tenant_sync_session(context_of(view)) as session:
        for mark in marks:
            record_event(session, "mark", actor="test", target=mark)
        session.commit()


def _default_search_path(url: str) -> str:
    """``search_path`` of a brand-new connection that no pool has touched."""
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SHOW search_path").fetchone()
    assert row is not None
    return str(row[0])


# -- no tenant bound -----------------------------------------------------------------------


def test_no_schema_named_like_the_placeholder_exists(whitelabel_runtime: Runtime) -> None:
    # The backstop behind the session guard: SQL that escapes translation names schema "tenant",
    # which must not exist, or it would silently read whatever lives there.
    with whitelabel_runtime.db.sync_engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = 'tenant'")).first()
    assert found is None


@pytest.mark.parametrize(
    ("label", "statement"),
    [
        ("entity", select(AuditEvent)),
        ("column", select(AuditEvent.target).where(AuditEvent.action == "x")),
        ("aggregate over a column", select(func.count(AuditEvent.id))),
        ("core: count from the entity", select(func.count()).select_from(AuditEvent)),
        ("core: the table", select(AuditEvent.__table__)),
    ],
)
def test_orm_query_without_tenant_raises_before_any_sql(
    whitelabel_runtime: Runtime,
    tenant_pair: tuple[TenantView, TenantView],
    label: str,
    statement: Any,
) -> None:
    db = whitelabel_runtime.db
    _write_marks(db, tenant_pair[0], ["visible-only-to-a"])

    async def attempt() -> None:
        async with db.platform_session() as session:
            with pytest.raises(TenantNotBoundError):
                await session.execute(statement)
            with pytest.raises(TenantNotBoundError):
                await session.get(AuditEvent, uuid.uuid4())

    with _StatementSpy(db.async_engine.sync_engine, db.sync_engine) as spy:
        asyncio.run(attempt())
        with db.platform_sync_session() as session:
            with pytest.raises(TenantNotBoundError):
                session.execute(statement)
            with pytest.raises(TenantNotBoundError):
                session.get(AuditEvent, uuid.uuid4())
    assert spy.touching("audit_log") == [], label


def test_flush_without_tenant_hits_the_missing_placeholder_schema(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    # A unit-of-work flush does not pass the ORM execute guard; it still fails closed: it is
    # rendered into the placeholder schema, which does not exist.
    db = whitelabel_runtime.db
    first, second = tenant_pair
    before = [audit_events(db, first), audit_events(db, second)]
    with db.platform_sync_session() as session:
        session.add(AuditEvent(actor="nobody", action="orphan", detail={}))
        with pytest.raises(ProgrammingError, match=r'relation "tenant\.audit_log"'):
            session.flush()
    assert [audit_events(db, first), audit_events(db, second)] == before


def test_textual_sql_on_a_platform_connection_finds_no_tenant_table(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    db = whitelabel_runtime.db
    _write_marks(db, tenant_pair[0], ["a-mark"])
    missing = 'relation "audit_log" does not exist'
    with db.sync_engine.connect() as conn, pytest.raises(ProgrammingError, match=missing):
        conn.execute(text("SELECT * FROM audit_log"))
    with db.platform_sync_session() as session, pytest.raises(ProgrammingError, match=missing):
        session.execute(text("SELECT * FROM audit_log"))


def test_current_tenant_outside_a_scope_raises(tenant_pair: tuple[TenantView, TenantView]) -> None:
    ctx = context_of(tenant_pair[0])
    with pytest.raises(TenantNotBoundError):
        current_tenant()
    with pytest.raises(TenantNotBoundError):
        tenant_key("cache")
    assert current_tenant_or_none() is None
    with tenant_scope(ctx):
        assert current_tenant() is ctx
        with tenant_scope(context_of(tenant_pair[1])):
            assert current_tenant().id == tenant_pair[1].id
        assert current_tenant() is ctx
    with pytest.raises(TenantNotBoundError):
        current_tenant()


def test_a_tenant_session_needs_a_tenant(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    db = whitelabel_runtime.db
    with pytest.raises(TenantNotBoundError):
        db.tenant_sync_session()
    with pytest.raises(TenantNotBoundError):
        db.tenant_session()
    _write_marks(db, tenant_pair[0], ["scoped-mark"])
    with tenant_scope(context_of(tenant_pair[0])), db.tenant_sync_session() as session:
        targets = set(session.scalars(select(AuditEvent.target)))
    assert "scoped-mark" in targets


# -- one tenant never sees another -------------------------------------------------------------


def test_tenant_sessions_see_only_their_own_rows(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    db = whitelabel_runtime.db
    first, second = tenant_pair
    marks = {
        t.slug: [f"{t.slug}-{i}-{secrets.token_hex(3)}" for i in range(5)] for t in tenant_pair
    }
    for tenant in tenant_pair:
        _write_marks(db, tenant, marks[tenant.slug])

    def expected(tenant: TenantView) -> set[str]:
        # the tenant's own creation event (target = its slug) plus its marks
        return {tenant.slug, *marks[tenant.slug]}

    # A dedicated one-connection pool makes both tenants share the same physical connection.
    url = whitelabel_runtime.settings.sqlalchemy_url
    own_db = Database(url, pool_size=1)
    try:
        for tenant in (first, second, first, second):
            with own_db.tenant_sync_session(context_of(tenant)) as session:
                orm = set(session.scalars(select(AuditEvent.target)))
                textual = {r[0] for r in session.execute(text("SELECT target FROM audit_log"))}
            assert orm == textual == expected(tenant)
    finally:
        own_db.sync_engine.dispose()

    async def read_async() -> dict[str, tuple[set[str | None], set[str | None]]]:
        adb = Database(url, pool_size=1)
        seen: dict[str, tuple[set[str | None], set[str | None]]] = {}
        try:
            for tenant in (first, second, first, second):
                session: AsyncSession
                async with adb.tenant_session(context_of(tenant)) as session:
                    orm = set((await session.scalars(select(AuditEvent.target))).all())
                    rows = await session.execute(text("SELECT target FROM audit_log"))
                    seen[tenant.slug] = (orm, {r[0] for r in rows})
        finally:
            await adb.dispose()
        return seen

    for slug, (orm, textual) in asyncio.run(read_async()).items():
        tenant = first if slug == first.slug else second
        assert orm == textual == expected(tenant)
    other_marks = set(marks[second.slug]) | {second.slug}
    assert not {t for _, _, t in audit_events(db, first)} & other_marks


def test_nothing_session_level_survives_on_a_pooled_connection(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    url = whitelabel_runtime.settings.sqlalchemy_url
    default_path = _default_search_path(url)
    first = context_of(tenant_pair[0])
    db = Database(url, pool_size=1)
    try:
        with db.sync_engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            assert conn.execute(text("SHOW search_path")).scalar_one() == default_path

        # committed, rolled back, and failed tenant transactions on the one pooled connection
        with db.tenant_sync_session(first) as session:
            assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
            assert session.execute(text("SHOW search_path")).scalar_one() == first.schema
            record_event(session, "mark", actor="test", target="committed")
            session.commit()
        with db.tenant_sync_session(first) as session:
            session.execute(text("SELECT count(*) FROM audit_log"))
            session.rollback()
        with db.tenant_sync_session(first) as session:
            session.execute(text("SELECT count(*) FROM audit_log"))
            with pytest.raises(ProgrammingError):
                session.execute(text("SELECT no_such_column FROM audit_log"))

        with db.sync_engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
            assert conn.execute(text("SHOW search_path")).scalar_one() == default_path
            with pytest.raises(ProgrammingError, match='relation "audit_log" does not exist'):
                conn.execute(text("SELECT * FROM audit_log"))
    finally:
        db.sync_engine.dispose()

    async def on_async_pool() -> tuple[int, str, int, str, str]:
        adb = Database(url, pool_size=1)
        try:
            async with adb.tenant_session(first) as session:
                pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                inside = (await session.execute(text("SHOW search_path"))).scalar_one()
                await session.commit()
            async with adb.async_engine.connect() as conn:
                again = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                after = (await conn.execute(text("SHOW search_path"))).scalar_one()
                tables = (
                    await conn.execute(text("SELECT to_regclass('audit_log')::text"))
                ).scalar_one()
        finally:
            await adb.dispose()
        return pid, inside, again, after, str(tables)

    pid, inside, again, after, tables = asyncio.run(on_async_pool())
    assert again == pid
    assert inside == first.schema
    assert after == default_path
    assert tables == "None"


# -- through a real server ----------------------------------------------------------------------


@get("/api/v1/_failclosed/forgetful")
async def forgetful_orm(state: State) -> list[str | None]:
    """A handler that forgets the tenant: reads tenant rows through a platform session."""
    runtime: Runtime = state["runtime"]
    async with runtime.db.platform_session() as session:
        return list((await session.scalars(select(AuditEvent.target))).all())


@get("/api/v1/_failclosed/forgetful-sql")
async def forgetful_sql(state: State) -> list[str | None]:
    """The same mistake with textual SQL: no tenant, so no search_path points at its tables."""
    runtime: Runtime = state["runtime"]
    async with runtime.db.platform_session() as session:
        return list((await session.execute(text("SELECT target FROM audit_log"))).scalars())


@get("/api/v1/_failclosed/in-tenant")
async def in_tenant(db_session: DbSession) -> dict[str, Any]:
    """The correct handler: textual SQL in the request's tenant session."""
    pid = (await db_session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    path = (await db_session.execute(text("SHOW search_path"))).scalar_one()
    targets = (await db_session.execute(text("SELECT target FROM audit_log"))).scalars().all()
    return {"pid": pid, "search_path": path, "targets": sorted(t or "" for t in targets)}


@get("/_failclosed/connection")
async def connection_state(engine: Engine) -> dict[str, Any]:
    """What the next pooled connection carries (served on the platform host)."""
    async with engine.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        path = (await conn.execute(text("SHOW search_path"))).scalar_one()
    return {"pid": pid, "search_path": path}


class FailClosedProbe(InitPlugin):
    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(
            [forgetful_orm, forgetful_sql, in_tenant, connection_state]
        )
        return app_config


@pytest.fixture(scope="module")
def one_connection_server(whitelabel_settings: Settings) -> Iterator[tuple[Runtime, LiveServer]]:
    """The app plus a probe plugin, on its own runtime whose request pool has one connection."""
    runtime = Runtime.start(replace(whitelabel_settings, pool_size=1))
    app = create_app(runtime=runtime, plugins=[FailClosedProbe()], access_log=False)
    server = LiveServer(app).start()
    try:
        yield runtime, server
    finally:
        server.stop()
        runtime.db.sync_engine.dispose()


def _client(server: LiveServer, host: str) -> httpx.Client:
    return host_client(server.url, host, timeout=10.0)


@pytest.mark.parametrize(
    ("path", "reaches_sql"),
    [("/api/v1/_failclosed/forgetful", False), ("/api/v1/_failclosed/forgetful-sql", True)],
    ids=["orm", "textual"],
)
def test_a_handler_that_forgets_the_tenant_answers_500_and_leaks_nothing(
    one_connection_server: tuple[Runtime, LiveServer],
    tenant_pair: tuple[TenantView, TenantView],
    path: str,
    reaches_sql: bool,
) -> None:
    runtime, server = one_connection_server
    first, second = tenant_pair
    secret = f"secret-{secrets.token_hex(8)}"
    _write_marks(runtime.db, first, [secret])
    host = first.primary_host or ""
    wait_for_route(runtime, host)
    with _StatementSpy(runtime.db.async_engine.sync_engine) as spy, _client(server, host) as client:
        response = client.get(path)
        forgot = spy.touching("audit_log")
        sanity = client.get("/api/v1/_failclosed/in-tenant")
    assert response.status_code == 500
    assert response.json() == GENERIC_500
    for leaked in (secret, first.slug, first.schema_name, second.schema_name, "audit_log"):
        assert leaked not in response.text
    # The ORM guard stops the statement before SQL; textual SQL is sent and finds no table.
    assert len(forgot) == (1 if reaches_sql else 0)
    assert sanity.status_code == 200
    assert secret in sanity.json()["targets"]


def test_after_a_request_the_pooled_connection_is_back_to_default(
    one_connection_server: tuple[Runtime, LiveServer],
    tenant_pair: tuple[TenantView, TenantView],
) -> None:
    runtime, server = one_connection_server
    default_path = _default_search_path(runtime.settings.sqlalchemy_url)
    marks = {}
    for tenant in tenant_pair:
        marks[tenant.slug] = f"mark-{tenant.slug}"
        _write_marks(runtime.db, tenant, [marks[tenant.slug]])
        wait_for_route(runtime, tenant.primary_host or "")
    pids: set[int] = set()
    with _client(server, runtime.settings.platform_host) as platform:
        for tenant in (*tenant_pair, *tenant_pair):
            other = tenant_pair[1] if tenant is tenant_pair[0] else tenant_pair[0]
            with _client(server, tenant.primary_host or "") as client:
                inside = client.get("/api/v1/_failclosed/in-tenant").json()
            assert inside["search_path"] == tenant.schema_name
            assert marks[tenant.slug] in inside["targets"]
            assert marks[other.slug] not in inside["targets"]
            after = platform.get("/_failclosed/connection").json()
            assert after == {"pid": inside["pid"], "search_path": default_path}
            pids.add(inside["pid"])
    assert len(pids) == 1  # every request really ran on the one pooled connection
