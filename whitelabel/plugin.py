"""The core plugin: health endpoints, request ids and logs, the error contract."""

from __future__ import annotations

import logging

from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins import InitPlugin
from sqlalchemy.ext.asyncio import AsyncEngine

from whitelabel.errors import ClientError
from whitelabel.health import healthz, readyz
from whitelabel.http_errors import (
    client_error_response,
    http_exception_response,
    internal_error_response,
)
from whitelabel.logging import RequestContextMiddleware, configure_logging
from whitelabel.runtime import Runtime

__all__ = ["CorePlugin"]


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
        runtime = self.runtime

        def provide_runtime() -> Runtime:
            return runtime

        app_config.dependencies["engine"] = Provide(provide_engine, sync_to_thread=False)
        app_config.dependencies["runtime"] = Provide(provide_runtime, sync_to_thread=False)
        app_config.middleware.insert(0, RequestContextMiddleware(access_log=self.access_log))
        app_config.exception_handlers[ClientError] = client_error_response
        app_config.exception_handlers[HTTPException] = http_exception_response
        app_config.exception_handlers[Exception] = internal_error_response
        app_config.state["runtime"] = self.runtime
        app_config.on_shutdown.append(self._dispose)
        return app_config

    async def _dispose(self) -> None:
        await self.runtime.db.dispose()
