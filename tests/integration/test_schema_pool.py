"""The warm pool of tenant schemas: made from the blueprint, claimed by create, refilled."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import select, text, update

from tenants import schema_manager
from tenants.blueprint import TEMPLATE_SCHEMA, read_blueprint
from tenants.fleet import upgrade_fleet
from tenants.models import PooledSchema
from tenants.service import TenantService
from whitelabel.errors import Conflict
from whitelabel.runtime import Runtime
from whitelabel.testing import TenantFactory

POOL = 3


def _pooled(runtime: Runtime) -> list[str]:
    with runtime.db.sync_engine.connect() as conn:
        return list(conn.execute(select(PooledSchema.schema_name)).scalars())


def _exists(runtime: Runtime, schema: str) -> bool:
    with runtime.db.sync_engine.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
        ).first()
    return found is not None


@pytest.fixture
def pooled_service(whitelabel_runtime: Runtime) -> Iterator[TenantService]:
    """A tenant service that keeps a pool of three schemas; the pool is drained afterwards."""
    settings = replace(whitelabel_runtime.settings, schema_pool=POOL)
    service = TenantService(whitelabel_runtime.db, settings)
    schema_manager.drain_pool(whitelabel_runtime.db.sync_engine)
    yield service
    service._refilling.acquire(timeout=30)  # let a running refill finish first
    service._refilling.release()
    schema_manager.drain_pool(whitelabel_runtime.db.sync_engine)


@pytest.fixture
def pooled_tenants(
    whitelabel_runtime: Runtime, pooled_service: TenantService
) -> Iterator[TenantFactory]:
    factory = TenantFactory(whitelabel_runtime)
    factory.runtime = replace(whitelabel_runtime, tenants=pooled_service)
    yield factory
    factory.cleanup()


def _wait_for_pool(runtime: Runtime, size: int) -> list[str]:
    deadline = time.monotonic() + 15
    while len(pooled := _pooled(runtime)) != size:
        assert time.monotonic() < deadline, f"pool holds {len(pooled)}, expected {size}"
        time.sleep(0.02)
    return pooled


def test_fill_makes_schemas_like_the_template_once(
    whitelabel_runtime: Runtime, pooled_service: TenantService
) -> None:
    engine = whitelabel_runtime.db.sync_engine
    assert schema_manager.fill_pool(engine, POOL) == POOL
    assert schema_manager.fill_pool(engine, POOL) == 0  # already full
    pooled = _pooled(whitelabel_runtime)
    assert len(pooled) == POOL
    with engine.begin() as conn:
        template = read_blueprint(conn, TEMPLATE_SCHEMA)
        for schema in pooled:
            assert read_blueprint(conn, schema) == template  # the same catalog and rows


def test_create_takes_the_oldest_pooled_schema_and_the_pool_refills(
    whitelabel_runtime: Runtime, pooled_service: TenantService, pooled_tenants: TenantFactory
) -> None:
    schema_manager.fill_pool(whitelabel_runtime.db.sync_engine, POOL)
    with whitelabel_runtime.db.sync_engine.connect() as conn:
        oldest = conn.execute(
            select(PooledSchema.schema_name).order_by(PooledSchema.created_at).limit(1)
        ).scalar_one()
    tenant = pooled_tenants()
    assert tenant.schema_name == oldest
    assert tenant.id.hex == oldest.removeprefix("tenant_")
    assert tenant.schema_status == "ready"
    refilled = _wait_for_pool(whitelabel_runtime, POOL)
    assert oldest not in refilled


def test_a_failed_create_gives_its_schema_back(
    whitelabel_runtime: Runtime, pooled_service: TenantService, pooled_tenants: TenantFactory
) -> None:
    owner = pooled_tenants(domains=("taken.example.org",))
    _wait_for_pool(whitelabel_runtime, POOL)
    before = sorted(_pooled(whitelabel_runtime))
    with pytest.raises(Conflict):
        pooled_service.create("pool-conflict", "Conflict", domains=["taken.example.org"])
    assert sorted(_pooled(whitelabel_runtime)) == before
    assert all(_exists(whitelabel_runtime, s) for s in before)
    assert owner.schema_name not in before


def test_concurrent_creates_take_different_schemas(
    whitelabel_runtime: Runtime, pooled_service: TenantService, pooled_tenants: TenantFactory
) -> None:
    schema_manager.fill_pool(whitelabel_runtime.db.sync_engine, POOL)
    made: list[str] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            made.append(pooled_tenants().schema_name)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(made)) == 2


def test_stale_pooled_schemas_are_dropped_not_migrated(
    whitelabel_runtime: Runtime, pooled_service: TenantService
) -> None:
    engine = whitelabel_runtime.db.sync_engine
    schema_manager.fill_pool(engine, 1)
    (stale,) = _pooled(whitelabel_runtime)
    with engine.begin() as conn:
        conn.execute(
            update(PooledSchema)
            .where(PooledSchema.schema_name == stale)
            .values(revision="an-older-revision")
        )
    assert schema_manager.fill_pool(engine, 1) == 1
    assert not _exists(whitelabel_runtime, stale)
    assert stale not in _pooled(whitelabel_runtime)


def test_db_upgrade_refills_the_pool_waiting_for_a_running_refill(
    whitelabel_runtime: Runtime, pooled_service: TenantService
) -> None:
    engine = whitelabel_runtime.db.sync_engine
    report = upgrade_fleet(engine, schema_pool=2)
    assert report.pool_created == 2
    assert len(_pooled(whitelabel_runtime)) == 2
    assert schema_manager.fill_pool(engine, 2, wait=True) == 0
    assert upgrade_fleet(engine, schema_pool=2).pool_created == 0
