"""Fleet migrations: the platform schema, the template, then every tenant schema.

The ledger (``platform.schema_states``) says which schemas are behind, so a no-op upgrade of any
number of tenants is one query. Each tenant migrates in its own transaction together with its
ledger row, so a failure rolls back that tenant alone; the run goes on, reports every failure and
exits non-zero; running it again picks up exactly the schemas still behind (resume). Two runs at
once do not collide: each tenant row is taken with ``FOR UPDATE SKIP LOCKED``. Parallel work runs
in worker processes, because Alembic's operation proxy is global to a process.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Literal

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, or_, select, text, update

from migrations import runner
from tenants import schema_manager
from tenants.blueprint import TEMPLATE_SCHEMA
from tenants.models import SchemaState, SchemaStatus, Tenant
from whitelabel.db.base import PLATFORM_SCHEMA, utcnow
from whitelabel.errors import NotFound

__all__ = ["FleetReport", "TenantFailure", "fleet_status", "pending_tenants", "upgrade_fleet"]

_ERROR_MAX = 4000
DEFAULT_CONCURRENCY = min(4, os.cpu_count() or 1)

Outcome = tuple[Literal["upgraded", "locked", "failed"], str | None]


@dataclass(frozen=True, slots=True)
class TenantFailure:
    """One tenant schema that failed to migrate, with the database's error."""

    slug: str
    schema: str
    error: str


@dataclass(slots=True)
class FleetReport:
    """What an upgrade run did."""

    head: str
    platform_revision: str | None = None
    platform_head: str | None = None
    template_revision: str | None = None
    pool_created: int = 0
    pending: list[str] = field(default_factory=list)
    upgraded: list[str] = field(default_factory=list)
    failed: list[TenantFailure] = field(default_factory=list)
    skipped_locked: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when no tenant failed."""
        return not self.failed


def upgrade_platform(engine: Engine) -> str:
    """Bring the platform schema to its head; returns the head."""
    target = runner.head("platform")
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {PLATFORM_SCHEMA}"))
        if runner.current_revision(conn, PLATFORM_SCHEMA) != target:
            runner.upgrade(conn, "platform", schema=PLATFORM_SCHEMA)
    return target


def pending_tenants(
    engine: Engine, head: str, slug: str | None = None
) -> list[tuple[uuid.UUID, str, str]]:
    """(tenant id, slug, schema) of every live schema not at ``head`` or not ready."""
    stmt = (
        select(Tenant.id, Tenant.slug, SchemaState.schema_name)
        .join(SchemaState, SchemaState.tenant_id == Tenant.id)
        .where(
            Tenant.purged_at.is_(None),
            SchemaState.status != SchemaStatus.DROPPED.value,
            or_(
                SchemaState.revision.is_distinct_from(head),
                SchemaState.status != SchemaStatus.READY.value,
            ),
        )
        .order_by(Tenant.slug)
    )
    if slug is not None:
        stmt = stmt.where(Tenant.slug == slug)
    with engine.connect() as conn:
        return [(row.id, row.slug, row.schema_name) for row in conn.execute(stmt)]


def _record_failure(engine: Engine, tenant_id: uuid.UUID, error: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(SchemaState)
            .where(SchemaState.tenant_id == tenant_id)
            .values(
                status=SchemaStatus.FAILED.value, last_error=error[:_ERROR_MAX], updated_at=utcnow()
            )
        )


def _upgrade_one(
    engine: Engine, tenant_id: uuid.UUID, schema: str, head: str, script: ScriptDirectory | None
) -> Outcome:
    """Migrate one schema and its ledger row in one transaction; a failure is recorded."""
    try:
        with engine.begin() as conn:
            locked = conn.execute(
                select(SchemaState.tenant_id)
                .where(SchemaState.tenant_id == tenant_id)
                .with_for_update(skip_locked=True)
            ).first()
            if locked is None:
                return "locked", None
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            if runner.current_revision(conn, schema) != head:
                runner.upgrade(conn, "tenant", schema=schema, script=script)
            conn.execute(
                update(SchemaState)
                .where(SchemaState.tenant_id == tenant_id)
                .values(
                    revision=head,
                    status=SchemaStatus.READY.value,
                    last_error=None,
                    migrated_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}".strip()
        _record_failure(engine, tenant_id, message)
        return "failed", message
    return "upgraded", None


# -- worker processes ------------------------------------------------------------------------
# Alembic's ``op`` proxy is process-global (see migrations.runner), so migrations run in parallel
# only across processes. Each worker keeps one engine with one connection for its whole life.

_worker: dict[str, Any] = {}


def _worker_init(url: str, script_dir: str | None, prepare_threshold: int | None) -> None:
    from sqlalchemy import create_engine

    from whitelabel.db.switching import install_engine_hooks

    engine = create_engine(
        url,
        pool_size=1,
        max_overflow=0,
        connect_args={"prepare_threshold": prepare_threshold},
    )
    install_engine_hooks(engine)
    _worker["engine"] = engine
    _worker["script"] = runner.script_directory_at(script_dir) if script_dir else None


def _prepare_threshold(engine: Engine) -> int | None:
    """The parent engine's psycopg prepare threshold, for the workers' engines."""
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        return getattr(raw, "prepare_threshold", None)


def _worker_upgrade(tenant_id: uuid.UUID, schema: str, head: str) -> Outcome:
    return _upgrade_one(_worker["engine"], tenant_id, schema, head, _worker["script"])


def _run_in_processes(
    engine: Engine,
    todo: list[tuple[uuid.UUID, str, str]],
    head: str,
    script: ScriptDirectory | None,
    concurrency: int,
) -> Iterator[tuple[str, str, Outcome]]:
    url = engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    with ProcessPoolExecutor(
        max_workers=concurrency,
        mp_context=context,
        initializer=_worker_init,
        initargs=(url, script.dir if script else None, _prepare_threshold(engine)),
    ) as pool:
        futures = {
            pool.submit(_worker_upgrade, tid, schema, head): (tslug, schema)
            for tid, tslug, schema in todo
        }
        for future in as_completed(futures):
            tslug, schema = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # the worker itself died
                outcome = ("failed", f"{type(exc).__name__}: {exc}")
            yield tslug, schema, outcome


def upgrade_fleet(
    engine: Engine,
    *,
    slug: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    dry_run: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[str, bool], None] | None = None,
    script: ScriptDirectory | None = None,
    schema_pool: int = 0,
) -> FleetReport:
    """Upgrade the platform schema, the template, then every tenant schema that is behind.

    Args:
        engine: a sync engine for the platform work (and the tenants when ``concurrency`` is 1).
        slug: only this tenant.
        concurrency: worker processes migrating tenant schemas at once (1: in this process).
        dry_run: report what would be migrated and change nothing (the platform schema included).
        on_start: called with the number of pending tenants.
        on_progress: called per tenant with (slug, succeeded).
        script: tenant revisions to use instead of the tenant stream's own (benchmarks, tests).
        schema_pool: afterwards, keep this many ready schemas at the new head (older ones are
            dropped, never migrated).

    Raises:
        NotFound: ``slug`` names no live tenant.
    """
    started = time.perf_counter()
    head = runner.head("tenant", script)
    report = FleetReport(head=head, dry_run=dry_run)
    if slug is not None:
        _require_tenant(engine, slug)
    if dry_run:
        _dry_run(engine, report, slug, script)
        report.seconds = time.perf_counter() - started
        return report

    report.platform_revision = upgrade_platform(engine)
    schema_manager.ensure_template(engine, script)
    todo = pending_tenants(engine, head, slug)
    report.pending = [s for _, s, _ in todo]
    if on_start:
        on_start(len(todo))
    if concurrency <= 1 or len(todo) <= 1:
        outcomes: Iterable[tuple[str, str, Outcome]] = (
            (tslug, schema, _upgrade_one(engine, tid, schema, head, script))
            for tid, tslug, schema in todo
        )
    else:
        outcomes = _run_in_processes(engine, todo, head, script, min(concurrency, len(todo)))
    for tslug, schema, (kind, error) in outcomes:
        if kind == "upgraded":
            report.upgraded.append(tslug)
        elif kind == "locked":
            report.skipped_locked += 1
        else:
            report.failed.append(TenantFailure(tslug, schema, error or "unknown error"))
        if on_progress:
            on_progress(tslug, kind != "failed")
    report.upgraded.sort()
    report.failed.sort(key=lambda f: f.slug)
    if schema_pool > 0:
        report.pool_created = schema_manager.fill_pool(engine, schema_pool, script, wait=True)
    report.seconds = time.perf_counter() - started
    return report


def _require_tenant(engine: Engine, slug: str) -> None:
    with engine.connect() as conn:
        found = conn.execute(
            select(Tenant.id).where(Tenant.slug == slug, Tenant.purged_at.is_(None))
        ).first()
    if found is None:
        raise NotFound(f"There is no tenant {slug!r}.", code="tenant_not_found")


def _dry_run(
    engine: Engine, report: FleetReport, slug: str | None, script: ScriptDirectory | None
) -> None:
    with engine.connect() as conn:
        exists = {
            row[0]
            for row in conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname IN (:p, :t)"),
                {"p": PLATFORM_SCHEMA, "t": TEMPLATE_SCHEMA},
            )
        }
        if PLATFORM_SCHEMA in exists:
            report.platform_revision = runner.current_revision(conn, PLATFORM_SCHEMA)
        if TEMPLATE_SCHEMA in exists:
            report.template_revision = runner.current_revision(conn, TEMPLATE_SCHEMA)
    report.platform_head = runner.head("platform")
    if report.platform_revision is not None:
        report.pending = [s for _, s, _ in pending_tenants(engine, report.head, slug)]


def fleet_status(engine: Engine) -> list[tuple[str | None, str, int]]:
    """(revision, status, tenant count) over the live fleet, most common first."""
    stmt = (
        select(SchemaState.revision, SchemaState.status, func.count())
        .join(Tenant, Tenant.id == SchemaState.tenant_id)
        .where(Tenant.purged_at.is_(None))
        .group_by(SchemaState.revision, SchemaState.status)
        .order_by(func.count().desc())
    )
    with engine.connect() as conn:
        return [(r[0], r[1], int(r[2])) for r in conn.execute(stmt)]
