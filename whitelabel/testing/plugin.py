"""pytest fixtures of the whitelabel test kit (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from litestar import Litestar

from tenants.schemas import TenantView
from whitelabel.runtime import Runtime
from whitelabel.settings import Settings
from whitelabel.testing.kit import (
    LiveServer,
    TenantFactory,
    host_client,
    settings_for_tests,
    start_test_runtime,
    wait_for_route,
)


@pytest.fixture(scope="session")
def whitelabel_settings() -> Settings:
    """Settings for the test session (real PostgreSQL: ``DATABASE_URL`` or embedded)."""
    return settings_for_tests()


@pytest.fixture(scope="session")
def whitelabel_runtime(whitelabel_settings: Settings) -> Iterator[Runtime]:
    """The session's runtime, with the platform schema and the tenant template at head."""
    runtime = start_test_runtime(whitelabel_settings)
    yield runtime
    runtime.db.sync_engine.dispose()


@pytest.fixture
def make_tenant(whitelabel_runtime: Runtime) -> Iterator[TenantFactory]:
    """``make_tenant()`` creates a fresh tenant; all are purged after the test."""
    factory = TenantFactory(whitelabel_runtime)
    yield factory
    factory.cleanup()


@pytest.fixture
def tenant_pair(make_tenant: TenantFactory) -> tuple[TenantView, TenantView]:
    """Two fresh tenants: act on the first, assert nothing reached the second."""
    return make_tenant(), make_tenant()


@pytest.fixture(scope="session")
def whitelabel_app(whitelabel_runtime: Runtime) -> Litestar:
    """The application under test. Override to add your own plugins."""
    from whitelabel.app import create_app

    return create_app(runtime=whitelabel_runtime, access_log=False)


@pytest.fixture(scope="session")
def live_server(whitelabel_app: Litestar) -> Iterator[LiveServer]:
    """``whitelabel_app`` served on 127.0.0.1 for the whole session."""
    server = LiveServer(whitelabel_app).start()
    yield server
    server.stop()


@pytest.fixture
def tenant_client(
    live_server: LiveServer, whitelabel_runtime: Runtime
) -> Iterator[Callable[[TenantView | str], httpx.Client]]:
    """``tenant_client(tenant_or_host)`` gives a client on that host (a tenant's primary host
    waits until the live server routes it)."""
    clients: list[httpx.Client] = []

    def make(target: TenantView | str) -> httpx.Client:
        if isinstance(target, str):
            host = target
        else:
            host = target.primary_host or ""
            wait_for_route(whitelabel_runtime, host)
        client = host_client(live_server.url, host)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
