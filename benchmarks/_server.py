"""The apps the HTTP benchmarks load, served by uvicorn (one worker) in their own process.

``python -m benchmarks._server whitelabel|baseline --port N [--schema S] [--no-access-log]
[--plugin module:callable ...]``

* ``whitelabel``: the full app from ``create_app`` (request ids and access log, the tenancy
  middleware with the resolver, the tenant-bound ``db_session``) plus :class:`BenchPlugin`.
* ``baseline``: a plain Litestar app with the same logging middleware and the same ``db_session``
  dependency shape, on an engine whose connections have ``search_path`` fixed to one schema at
  connect time: no tenancy middleware, no resolver, no schema translation, no session hooks.

Both serve the same routes: ``GET /bench/read`` (select one setting by key), ``POST /bench/write``
(the same select plus one audit row), ``GET /bench/nodb`` (no database work), ``GET /bench/stats``
(in-process counters: requests served, SQL statements sent, transactions begun and committed,
CPU time of the server process).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import uvicorn
from litestar import Litestar, get, post
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.plugins import InitPlugin, PluginProtocol
from sqlalchemy import DateTime, Engine, String, Uuid, event, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchmarks._common import SETTING_KEY, bench_settings
from whitelabel.app import create_app
from whitelabel.context import is_tenant_schema_name
from whitelabel.deps import DbSession
from whitelabel.health import healthz
from whitelabel.logging import RequestContextMiddleware, configure_logging
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent, TenantSetting

__all__ = ["BenchPlugin", "Counters", "baseline_app", "bench_routes", "whitelabel_app"]


@dataclass(slots=True)
class Counters:
    """What the server did, counted in-process with SQLAlchemy engine events."""

    requests: int = 0
    statements: int = 0
    begins: int = 0
    commits: int = 0

    def install(self, engine: Engine) -> None:
        """Count every statement sent, and every transaction begun and committed, on ``engine``."""
        event.listen(engine, "before_cursor_execute", self._on_execute)
        event.listen(engine, "begin", self._on_begin)
        event.listen(engine, "commit", self._on_commit)

    def _on_execute(self, *args: Any) -> None:
        self.statements += 1

    def _on_begin(self, *args: Any) -> None:
        self.begins += 1

    def _on_commit(self, *args: Any) -> None:
        self.commits += 1

    def snapshot(self) -> dict[str, int]:
        """The counters as a JSON object, with the process's CPU time so far (microseconds)."""
        return {**asdict(self), "cpu_us": round(time.process_time() * 1e6)}


def bench_routes(counters: Counters, setting: Any, audit: Any) -> list[HTTPRouteHandler]:
    """The benchmark routes over a settings model and an audit model (tenant or plain)."""

    @get("/bench/read")
    async def read(db_session: DbSession) -> dict[str, Any]:
        counters.requests += 1
        value = await db_session.scalar(select(setting.value).where(setting.key == SETTING_KEY))
        return {"value": value}

    @post("/bench/write", status_code=200)
    async def write(db_session: DbSession) -> dict[str, Any]:
        counters.requests += 1
        value = await db_session.scalar(select(setting.value).where(setting.key == SETTING_KEY))
        db_session.add(audit(actor="bench", action="bench.write", detail={"value": value}))
        return {"value": value}

    @get("/bench/nodb")
    async def nodb() -> dict[str, str]:
        counters.requests += 1
        return {"ok": "yes"}

    @get("/bench/stats", sync_to_thread=False)
    def stats() -> dict[str, int]:
        return counters.snapshot()

    return [read, write, nodb, stats]


class BenchPlugin(InitPlugin):
    """Adds the benchmark routes to the whitelabel app (they run in tenant context)."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(bench_routes(self.counters, TenantSetting, AuditEvent))
        return app_config


def whitelabel_app(
    *, access_log: bool = True, counters: Counters | None = None, extra: Sequence[str] = ()
) -> Litestar:
    """The full whitelabel app with the benchmark routes, plus the plugins named in ``extra``
    (``module:callable``, each called with no arguments: a benchmark's own routes)."""
    counters = counters or Counters()
    runtime = Runtime.start(bench_settings())
    counters.install(runtime.db.async_engine.sync_engine)
    counters.install(runtime.db.sync_engine)
    plugins: list[PluginProtocol] = [BenchPlugin(counters)]
    for name in extra:
        module, _, factory = name.partition(":")
        plugins.append(getattr(importlib.import_module(module), factory)())
    return create_app(runtime=runtime, plugins=plugins, access_log=access_log)


class PlainBase(DeclarativeBase):
    """Plain models with unqualified names (the baseline's connections fix ``search_path``)."""


class PlainSetting(PlainBase):
    """The same table as :class:`~whitelabel.tenant_data.TenantSetting`."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PlainAudit(PlainBase):
    """The same table as :class:`~whitelabel.tenant_data.AuditEvent`."""

    __tablename__ = "audit_log"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(String(320))
    ip: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


def baseline_app(schema: str, *, access_log: bool = True) -> Litestar:
    """A plain app: one engine on one fixed schema, same logging and ``db_session`` shape."""
    if not is_tenant_schema_name(schema):
        raise SystemExit(f"not a tenant schema name: {schema!r}")
    settings = bench_settings()
    engine = create_async_engine(
        settings.sqlalchemy_url,
        pool_size=settings.pool_size,
        max_overflow=0,  # as the whitelabel request pool
        connect_args={
            "options": f"-csearch_path={schema}",
            "prepare_threshold": settings.prepare_threshold,
        },
    )
    counters = Counters()
    counters.install(engine.sync_engine)
    factory = async_sessionmaker(engine, expire_on_commit=False)

    async def provide_db_session() -> AsyncGenerator[AsyncSession, None]:
        async with factory() as session:
            try:
                yield session
            except Exception:
                await session.rollback()
                raise
            await session.commit()

    configure_logging(logging.INFO)
    return Litestar(
        route_handlers=[healthz, *bench_routes(counters, PlainSetting, PlainAudit)],
        dependencies={"db_session": Provide(provide_db_session)},
        middleware=[RequestContextMiddleware(access_log=access_log)],
        on_shutdown=[engine.dispose],
        debug=False,
        logging_config=None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["whitelabel", "baseline"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--schema", default="", help="the baseline's fixed schema")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument(
        "--plugin", action="append", default=[], help="module:callable giving an extra plugin"
    )
    args = parser.parse_args()
    access_log = not args.no_access_log
    app = (
        whitelabel_app(access_log=access_log, extra=args.plugin)
        if args.kind == "whitelabel"
        else baseline_app(args.schema, access_log=access_log)
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
