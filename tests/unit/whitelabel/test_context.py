"""The tenant context: scopes nest and restore, tasks and threads are isolated, unbound fails."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path

import pytest

from whitelabel.context import (
    TenantContext,
    TenantStatus,
    current_tenant,
    current_tenant_or_none,
    schema_name_for,
    tenant_file_dir,
    tenant_key,
    tenant_scope,
)
from whitelabel.errors import TenantNotBoundError


def make_context(slug: str) -> TenantContext:
    tenant_id = uuid.uuid4()
    return TenantContext(
        id=tenant_id,
        slug=slug,
        name=f"Tenant {slug}",
        schema=schema_name_for(tenant_id),
        status=TenantStatus.ACTIVE,
        primary_host=f"{slug}.localhost",
    )


@pytest.fixture
def pair() -> tuple[TenantContext, TenantContext]:
    return make_context("alpha"), make_context("beta")


def test_nothing_bound_outside_a_scope() -> None:
    assert current_tenant_or_none() is None
    with pytest.raises(TenantNotBoundError):
        current_tenant()


def test_scopes_nest_and_restore(pair: tuple[TenantContext, TenantContext]) -> None:
    alpha, beta = pair
    with tenant_scope(alpha) as bound:
        assert bound is alpha
        assert current_tenant() is alpha
        with tenant_scope(beta):
            assert current_tenant() is beta
            with tenant_scope(alpha):
                assert current_tenant() is alpha
            assert current_tenant() is beta
        assert current_tenant() is alpha
    assert current_tenant_or_none() is None
    with pytest.raises(TenantNotBoundError):
        current_tenant()


def test_scope_restores_after_an_error(pair: tuple[TenantContext, TenantContext]) -> None:
    alpha, beta = pair
    with tenant_scope(alpha):
        with pytest.raises(RuntimeError, match="boom"), tenant_scope(beta):
            raise RuntimeError("boom")
        assert current_tenant() is alpha
    assert current_tenant_or_none() is None


def test_concurrent_tasks_never_see_each_other(
    pair: tuple[TenantContext, TenantContext],
) -> None:
    alpha, beta = pair
    both_bound = asyncio.Barrier(2)
    seen: dict[str, list[str]] = {"alpha": [], "beta": []}

    async def work(tenant: TenantContext) -> None:
        with tenant_scope(tenant):
            for step in range(50):
                if step == 0:
                    await both_bound.wait()  # both scopes are open at the same moment
                await asyncio.sleep(0)
                seen[tenant.slug].append(current_tenant().slug)
        assert current_tenant_or_none() is None

    async def main() -> None:
        assert current_tenant_or_none() is None
        await asyncio.gather(work(alpha), work(beta))
        assert current_tenant_or_none() is None

    asyncio.run(main())
    assert seen == {"alpha": ["alpha"] * 50, "beta": ["beta"] * 50}


def test_a_task_started_inside_a_scope_keeps_it_and_cannot_change_the_parent(
    pair: tuple[TenantContext, TenantContext],
) -> None:
    alpha, beta = pair

    async def child() -> str:
        inherited = current_tenant().slug
        with tenant_scope(beta):
            await asyncio.sleep(0)
        return inherited

    async def main() -> tuple[str, str]:
        with tenant_scope(alpha):
            inherited = await asyncio.create_task(child())
            return inherited, current_tenant().slug

    assert asyncio.run(main()) == ("alpha", "alpha")


def test_threads_are_isolated(pair: tuple[TenantContext, TenantContext]) -> None:
    alpha, beta = pair
    inside = threading.Event()
    release = threading.Event()
    seen: list[str | None] = []

    def other_thread() -> None:
        with tenant_scope(beta):
            inside.set()
            release.wait(5)
            seen.append(current_tenant().slug)

    thread = threading.Thread(target=other_thread)
    with tenant_scope(alpha):
        thread.start()
        assert inside.wait(5)
        assert current_tenant() is alpha
        release.set()
        thread.join(5)
    assert seen == ["beta"]

    unbound: list[TenantContext | None] = []
    with tenant_scope(alpha):
        reader = threading.Thread(target=lambda: unbound.append(current_tenant_or_none()))
        reader.start()
        reader.join(5)
    assert unbound == [None]  # a new thread does not inherit the binding


def test_tenant_key_is_namespaced_by_id(pair: tuple[TenantContext, TenantContext]) -> None:
    alpha, beta = pair
    with tenant_scope(alpha):
        key = tenant_key("sessions", "abc")
        assert key == f"wl:t:{alpha.id.hex}:sessions:abc"
        assert tenant_key("sessions", "abc", tenant=beta) == f"wl:t:{beta.id.hex}:sessions:abc"
    with tenant_scope(beta):
        assert tenant_key("sessions", "abc") != key
    assert alpha.slug not in key  # the stable id, never the slug (slugs can change)


def test_tenant_key_without_tenant_raises() -> None:
    with pytest.raises(TenantNotBoundError):
        tenant_key("sessions")


def test_tenant_file_dir_is_namespaced_by_id(
    tmp_path: Path, pair: tuple[TenantContext, TenantContext]
) -> None:
    alpha, beta = pair
    with tenant_scope(alpha):
        alpha_dir = tenant_file_dir(tmp_path)
        assert tenant_file_dir(tmp_path, beta) == tmp_path / "files" / beta.id.hex
    assert alpha_dir == tmp_path / "files" / alpha.id.hex
    with tenant_scope(beta):
        assert tenant_file_dir(tmp_path) != alpha_dir
    assert not alpha_dir.is_relative_to(tmp_path / "files" / beta.id.hex)


def test_tenant_file_dir_without_tenant_raises(tmp_path: Path) -> None:
    with pytest.raises(TenantNotBoundError):
        tenant_file_dir(tmp_path)


@pytest.mark.parametrize(
    "schema",
    [
        "public",
        "platform",
        "tenant_",
        "tenant_acme",
        "tenant_" + "0" * 31,
        "tenant_" + "0" * 33,
        "tenant_" + "A" * 32,
        "Tenant_" + "0" * 32,
        "tenant_" + "0" * 32 + "\n",
        'tenant_"; DROP SCHEMA platform; --',
        "tenant_" + "0" * 31 + "g",
        "",
    ],
)
def test_tenant_context_refuses_a_bad_schema_name(schema: str) -> None:
    with pytest.raises(ValueError, match="not a tenant schema name"):
        TenantContext(
            id=uuid.uuid4(),
            slug="acme",
            name="Acme",
            schema=schema,
            status=TenantStatus.ACTIVE,
            primary_host="acme.localhost",
        )


def test_tenant_context_is_frozen(pair: tuple[TenantContext, TenantContext]) -> None:
    alpha, beta = pair
    with pytest.raises(AttributeError):
        alpha.schema = beta.schema  # type: ignore[misc]
