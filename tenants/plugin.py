"""The tenancy plugin: middleware, ``tenant``/``db_session`` dependencies, routing, CLI."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from click import Group
from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins import CLIPlugin, InitPlugin

from tenants.deps import db_session_provider, provide_tenant
from tenants.middleware import STATE_TENANT, TenancyMiddleware, answer_for, decide
from tenants.responses import as_response
from whitelabel.http_errors import http_exception_response
from whitelabel.logging import request_id_for
from whitelabel.runtime import Runtime, require_migrated_platform

__all__ = ["TenancyPlugin"]

_LISTENER_READY_TIMEOUT = 10.0


class TenancyPlugin(InitPlugin, CLIPlugin):
    """Binds every request to its tenant and keeps the routing table fresh.

    ``runtime`` may be omitted when the plugin is only asked for its commands.
    """

    def __init__(self, runtime: Runtime | None = None) -> None:
        self._runtime = runtime

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("TenancyPlugin needs a Runtime to serve requests")
        return self._runtime

    def on_cli_init(self, cli: Group) -> None:
        from tenants.cli import db_group, domains_group, tenants_group

        for group in (tenants_group, domains_group, db_group):
            cli.add_command(group)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        runtime = self.runtime
        settings = runtime.settings
        app_config.middleware.append(TenancyMiddleware(runtime.resolver, settings.platform_host))
        app_config.dependencies["tenant"] = Provide(provide_tenant, sync_to_thread=False)
        app_config.dependencies["db_session"] = Provide(db_session_provider(runtime.db))

        def host_first(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
            """400/404/405 raised before any middleware ran (the router found no route, or
            refused the Host header's bytes): judge the host as the middleware would, so an
            unknown host answers the same bytes whatever the path; else the usual error."""
            decision = decide(request.scope, runtime.resolver, settings.platform_host)
            if decision.kind not in ("tenant", "platform"):
                answer = answer_for(decision, request.scope["path"], request.scope)
                return as_response(answer, request_id_for(request.scope))
            if decision.tenant is not None:  # the tenant's error page is branded
                request.scope["state"].setdefault(STATE_TENANT, decision.tenant)
            return http_exception_response(request, exc)

        for status in (400, 404, 405):
            app_config.exception_handlers[status] = host_first
        app_config.on_startup.append(self._start_routing)
        app_config.on_shutdown.insert(0, self._stop_routing)
        return app_config

    async def _start_routing(self) -> None:
        runtime = self.runtime
        engine = runtime.db.async_engine
        async with engine.connect() as conn:
            await conn.run_sync(require_migrated_platform)
            await runtime.resolver.load_all(conn)
        ready = runtime.resolver.start(engine.connect)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), _LISTENER_READY_TIMEOUT)

    async def _stop_routing(self) -> None:
        await self.runtime.resolver.stop()
