"""Structured logs: every line carries the request id and the tenant slug.

Both live in structlog's context variables, bound by :class:`RequestContextMiddleware` (request
id) and the tenancy middleware (tenant), so they reach every line logged while a request runs,
including lines from the standard library's loggers (uvicorn, SQLAlchemy) routed through structlog.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestContextMiddleware", "configure_logging", "request_id_for"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
_configured = False


def configure_logging(level: int = logging.INFO, *, json: bool | None = None) -> None:
    """Route stdlib and structlog logging through one JSON (or console) renderer. Idempotent."""
    global _configured
    if _configured:
        return
    _configured = True
    use_json = (not sys.stderr.isatty()) if json is None else json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # JSON lines carry the formatted traceback; the console renderer prints its own.
                *([structlog.processors.format_exc_info] if use_json else []),
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our access line carries more


def request_id_for(scope: Scope) -> str:
    """The request's valid incoming ``X-Request-ID``, else a fresh id.

    Also used by answers sent where no middleware runs (the router's 404/405), so every response
    carries the header the same way.
    """
    incoming = next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"), b"")
    text = incoming.decode("latin-1")
    return text if _REQUEST_ID.match(text) else uuid.uuid4().hex


class RequestContextMiddleware(ASGIMiddleware):
    """Gives each request an id (a valid incoming ``X-Request-ID`` is kept), echoes it in the
    response, and writes one access line when the response starts."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, access_log: bool = True) -> None:
        self.access_log = access_log
        self.log = structlog.get_logger("whitelabel.access")

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request_id = request_id_for(scope)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # An error answer may carry an id already: this one, the one logged, wins.
                headers = [h for h in message.get("headers", ()) if h[0] != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
                if self.access_log:
                    self.log.info(
                        "request",
                        method=scope.get("method"),
                        path=scope.get("path"),
                        status=message["status"],
                        ms=round((time.perf_counter() - started) * 1000, 2),
                    )
            await send(message)

        await next_app(scope, receive, send_with_id)
