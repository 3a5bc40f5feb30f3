"""The core plugin: health endpoints, request ids and logs, the error contract."""

from __future__ import annotations

import logging
from html import escape
from typing import Any

import structlog
from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins import InitPlugin
from sqlalchemy.ext.asyncio import AsyncEngine

from tenants.responses import wants_json
from whitelabel.errors import ClientError, TenantNotBoundError
from whitelabel.health import healthz, readyz
from whitelabel.logging import RequestContextMiddleware, configure_logging
from whitelabel.runtime import Runtime

__all__ = ["CorePlugin"]

log = structlog.get_logger("whitelabel")


def client_error_handler(request: Request[Any, Any, Any], exc: ClientError) -> Response[Any]:
    """A client error as ``{"code", "message", "detail"}`` (JSON paths) or a short page."""
    if wants_json(request.url.path):
        return Response(exc.to_dict(), status_code=exc.status_code)
    return Response(
        f"<!doctype html><title>{exc.status_code}</title><h1>{escape(exc.message)}</h1>".encode(),
        status_code=exc.status_code,
        media_type="text/html",
    )


def tenant_not_bound_handler(
    request: Request[Any, Any, Any], exc: TenantNotBoundError
) -> Response[Any]:
    """Fail closed: a handler reached tenant data without a tenant. Logged, answered 500."""
    log.error("tenant data touched without a tenant", path=request.url.path, error=str(exc))
    body = {
        "code": "internal_error",
        "message": "Something went wrong on our side.",
        "detail": None,
    }
    return Response(body, status_code=500)


class CorePlugin(InitPlugin):
    """Adds ``/healthz``, ``/readyz``, request ids, structured logs and error handlers."""

    def __init__(self, runtime: Runtime, *, access_log: bool = True) -> None:
        self.runtime = runtime
        self.access_log = access_log

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        configure_logging(logging.INFO)
        engine = self.runtime.db.async_engine

        def provide_engine() -> AsyncEngine:
            return engine

        app_config.route_handlers.extend([healthz, readyz])
        app_config.dependencies["engine"] = Provide(provide_engine, sync_to_thread=False)
        app_config.middleware.insert(0, RequestContextMiddleware(access_log=self.access_log))
        app_config.exception_handlers[ClientError] = client_error_handler
        app_config.exception_handlers[TenantNotBoundError] = tenant_not_bound_handler
        app_config.state["runtime"] = self.runtime
        app_config.on_shutdown.append(self._dispose)
        return app_config

    async def _dispose(self) -> None:
        await self.runtime.db.dispose()
