"""The building blocks behind the pytest fixtures; usable from scripts and benchmarks too."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import httpx
from litestar import Litestar

from tenants.schemas import TenantView
from whitelabel.db.embedded import embedded_url
from whitelabel.errors import NotFound
from whitelabel.runtime import Runtime
from whitelabel.settings import Settings

__all__ = [
    "LiveServer",
    "TenantFactory",
    "host_client",
    "settings_for_tests",
    "start_test_runtime",
    "wait_for_route",
]

TEST_DATABASE = "whitelabel_test"


def settings_for_tests(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for tests: the environment's, with an insecure secret allowed.

    Without ``DATABASE_URL`` the embedded server in ``WHITELABEL_DATA_DIR`` (default
    ``.whitelabel/``) is used, with a separate database so tests never touch the demo's data.
    """
    env = dict(os.environ if environ is None else environ)
    env.setdefault("WHITELABEL_SECRET_KEY", "test-only-" + "x" * 40)
    # No background pool refills while tests count schemas; the pool's own tests turn it on.
    env.setdefault("WHITELABEL_SCHEMA_POOL", "0")
    # No mail dispatcher in the test server: tests read the outbox, or drain it themselves.
    env.setdefault("WHITELABEL_MAIL_DISPATCH", "off")
    settings = Settings.from_env(env, allow_insecure_secret=True)
    if settings.database_url is None:
        # Resolve the embedded server's test database now, so every runtime a test builds from
        # these settings (a second server, a subprocess's environment) lands in the same place.
        url = embedded_url(settings.data_dir, TEST_DATABASE)
        settings = replace(settings, database_url=url)
    return settings


def start_test_runtime(settings: Settings) -> Runtime:
    """A runtime on the test database with the platform schema and template at head."""
    from tenants.fleet import upgrade_fleet

    runtime = Runtime.start(settings, embedded_database=TEST_DATABASE)
    report = upgrade_fleet(runtime.db.sync_engine)
    if not report.ok:
        raise RuntimeError(f"test database: {len(report.failed)} tenant schemas failed to migrate")
    return runtime


class TenantFactory:
    """Creates uniquely named tenants and purges them all on :meth:`cleanup`."""

    def __init__(self, runtime: Runtime, prefix: str = "t") -> None:
        self.runtime = runtime
        self.prefix = prefix
        self.created: list[str] = []

    def __call__(
        self, slug: str | None = None, *, name: str | None = None, domains: tuple[str, ...] = ()
    ) -> TenantView:
        """Create a tenant (default: a random slug and a name derived from it)."""
        slug = slug or f"{self.prefix}{secrets.token_hex(5)}"
        view, _ = self.runtime.tenants.create(
            slug, name or f"Tenant {slug}", domains=domains, actor="test"
        )
        self.created.append(slug)
        return view

    def cleanup(self) -> None:
        """Delete and purge every tenant this factory created (already purged ones are skipped)."""
        for slug in reversed(self.created):
            try:
                self.runtime.tenants.delete(slug)
                self.runtime.tenants.purge(slug)
            except NotFound:
                pass
        self.created.clear()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """An app served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: Litestar, port: int | None = None) -> None:
        import uvicorn

        self.port = port or _free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="whitelabel-live", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the server (connect here; send the tenant's Host header)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> LiveServer:
        """Start and wait until the server accepts requests."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=15)


def wait_for_route(
    runtime: Runtime, host: str, *, routable: bool = True, timeout: float = 3.0
) -> None:
    """Wait until this process's routing table has caught up with a change to ``host``.

    Raises:
        TimeoutError: the change did not arrive in time (routing signals are broken).
    """
    deadline = time.monotonic() + timeout
    while (runtime.resolver.resolve(host) is not None) != routable:
        if time.monotonic() > deadline:
            raise TimeoutError(f"routing for {host} did not change within {timeout}s")
        time.sleep(0.005)


def host_client(server_url: str, host: str, **kwargs: Any) -> httpx.Client:
    """An HTTP client that connects to ``server_url`` and presents ``host`` as its Host header.

    Python's resolver does not resolve ``*.localhost``, so the client connects to the server's
    address and sends the tenant's host; each client keeps its own cookies.
    """
    port = server_url.rsplit(":", 1)[1]
    headers = {"host": f"{host}:{port}", **kwargs.pop("headers", {})}
    return httpx.Client(base_url=server_url, headers=headers, **kwargs)
