"""End to end through a real server: two tenants, each served from its own schema."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tenants.schemas import TenantView


def test_each_tenant_page_runs_in_its_own_schema(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: Callable[[TenantView | str], httpx.Client],
) -> None:
    first, second = tenant_pair
    for tenant, other in ((first, second), (second, first)):
        response = tenant_client(tenant).get("/")
        assert response.status_code == 200
        assert tenant.name in response.text
        assert tenant.schema_name in response.text
        assert other.schema_name not in response.text
        assert other.name not in response.text


def test_unknown_host_is_uniform_404(
    tenant_client: Callable[[TenantView | str], httpx.Client],
) -> None:
    responses = [
        tenant_client(h).get(p)
        for h in ("nope.localhost", "other.example.org")
        for p in ("/", "/no/such/path")
    ]
    assert {r.status_code for r in responses} == {404}
    assert len({r.content for r in responses}) == 1
