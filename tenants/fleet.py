"""Fleet migrations: the platform schema, the template, then every tenant schema.

The ledger (``platform.schema_states``) says which schemas are behind, so a no-op upgrade of any
number of tenants is one query. Each tenant migrates in its own transaction together with its
ledger row, so a failure rolls back that tenant alone; the run goes on, reports every failure and
exits non-zero; running it again picks up exactly the schemas still behind (resume). Two runs at
once do not collide: each tenant row is taken with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, or_, select, text, update

from migrations import runner
from tenants import schema_manager
from tenants.models import SchemaState, SchemaStatus, Tenant
from whitelabel.db.base import PLATFORM_SCHEMA, utcnow

__all__ = ["FleetReport", "TenantFailure", "fleet_status", "pending_tenants", "upgrade_fleet"]

_ERROR_MAX = 4000


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
) -> bool:
    """Migrate one schema and its ledger row in one transaction; False if another run holds it."""
    with engine.begin() as conn:
        locked = conn.execute(
            select(SchemaState.tenant_id)
            .where(SchemaState.tenant_id == tenant_id)
            .with_for_update(skip_locked=True)
        ).first()
        if locked is None:
            return False
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
    return True


def upgrade_fleet(
    engine: Engine,
    *,
    slug: str | None = None,
    concurrency: int = 4,
    dry_run: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[str, bool], None] | None = None,
    script: ScriptDirectory | None = None,
) -> FleetReport:
    """Upgrade the platform schema, the template, then every tenant schema that is behind.

    Args:
        engine: a sync engine with a pool of at least ``concurrency`` connections.
        slug: only this tenant.
        concurrency: tenant schemas migrated at once (threads, one connection each).
        dry_run: report what would be migrated and change nothing (the platform schema included).
        on_start: called with the number of pending tenants.
        on_progress: called per tenant with (slug, succeeded).
        script: tenant revisions to use instead of the tenant stream's own (benchmarks, tests).
    """
    started = time.perf_counter()
    head = runner.head("tenant", script)
    report = FleetReport(head=head, dry_run=dry_run)
    if dry_run:
        with engine.connect() as conn:
            has_platform = conn.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": PLATFORM_SCHEMA}
            ).first()
            report.platform_revision = (
                runner.current_revision(conn, PLATFORM_SCHEMA) if has_platform else None
            )
        if report.platform_revision is not None:
            report.pending = [s for _, s, _ in pending_tenants(engine, head, slug)]
        report.seconds = time.perf_counter() - started
        return report

    report.platform_revision = upgrade_platform(engine)
    schema_manager.ensure_template(engine, script)
    todo = pending_tenants(engine, head, slug)
    report.pending = [s for _, s, _ in todo]
    if on_start:
        on_start(len(todo))
    if todo:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            futures = {
                pool.submit(_upgrade_one, engine, tid, schema, head, script): (tid, tslug, schema)
                for tid, tslug, schema in todo
            }
            for future in as_completed(futures):
                tid, tslug, schema = futures[future]
                try:
                    if future.result():
                        report.upgraded.append(tslug)
                    else:
                        report.skipped_locked += 1
                    ok = True
                except Exception as exc:
                    message = f"{type(exc).__name__}: {exc}".strip()
                    _record_failure(engine, tid, message)
                    report.failed.append(TenantFailure(tslug, schema, message))
                    ok = False
                if on_progress:
                    on_progress(tslug, ok)
    report.upgraded.sort()
    report.failed.sort(key=lambda f: f.slug)
    report.seconds = time.perf_counter() - started
    return report


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
