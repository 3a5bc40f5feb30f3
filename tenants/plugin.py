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
from litestar.exceptions.responses import create_exception_response
from litestar.plugins import CLIPlugin, InitPlugin
from sqlalchemy import Connection

from migrations import runner
from tenants.deps import provide_db_session, provide_tenant
from tenants.middleware import TenancyMiddleware, answer_for, decide
from tenants.responses import as_response, wants_json
from whitelabel.db.base import PLATFORM_SCHEMA
from whitelabel.errors import WhitelabelError
from whitelabel.logging import request_id_for
from whitelabel.runtime import Runtime

__all__ = ["TenancyPlugin"]

_LISTENER_READY_TIMEOUT = 10.0


def _require_migrated_platform(conn: Connection) -> None:
    """Refuse to serve from a platform schema that is not at the code's head revision."""
    expected = runner.head("platform")
    found = runner.current_revision(conn, PLATFORM_SCHEMA)
    if found != expected:
        raise WhitelabelError(
            f"the platform schema is at revision {found or 'none (not created)'}, this code needs "
            f"{expected}: run `whitelabel db upgrade` first"
        )


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
        app_config.dependencies["db_session"] = Provide(provide_db_session)

        def routing_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
            """404/405 from the router (no route matched): judge the host first."""
            decision = decide(request.scope, runtime.resolver, settings.platform_host)
            request_id = request_id_for(request.scope)  # no middleware ran: add it as they do
            # scope["path"], not request.url: building the URL parses the Host header, and a
            # malformed one (port 99999) would raise here instead of answering 400.
            path: str = request.scope["path"]
            if decision.kind not in ("tenant", "platform"):
                return as_response(answer_for(decision, path), request_id)
            body = {
                "code": "not_found" if exc.status_code == 404 else "method_not_allowed",
                "message": exc.detail,
                "detail": None,
            }
            if wants_json(path):
                return Response(
                    body, status_code=exc.status_code, headers={"x-request-id": request_id}
                )
            return Response(
                f"<!doctype html><title>{exc.status_code}</title><h1>{exc.detail}</h1>".encode(),
                status_code=exc.status_code,
                media_type="text/html",
                headers={"x-request-id": request_id},
            )

        def bad_request(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
            """Litestar's router refuses a Host header with bytes no host may hold (400, before
            any middleware): answer it like every other malformed host; other 400s unchanged."""
            decision = decide(request.scope, runtime.resolver, settings.platform_host)
            if decision.kind == "invalid":
                answer = answer_for(decision, request.scope["path"])
                return as_response(answer, request_id_for(request.scope))
            return create_exception_response(request, exc)

        app_config.exception_handlers[400] = bad_request
        app_config.exception_handlers[404] = routing_error
        app_config.exception_handlers[405] = routing_error
        app_config.on_startup.append(self._start_routing)
        app_config.on_shutdown.insert(0, self._stop_routing)
        return app_config

    async def _start_routing(self) -> None:
        runtime = self.runtime
        engine = runtime.db.async_engine
        async with engine.connect() as conn:
            await conn.run_sync(_require_migrated_platform)
            await runtime.resolver.load_all(conn)
        runtime.resolver.start(engine.connect)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.resolver.ready.wait(), _LISTENER_READY_TIMEOUT)

    async def _stop_routing(self) -> None:
        await self.runtime.resolver.stop()
