"""``/healthz`` (the process is up) and ``/readyz`` (the database answers), on any host."""

from __future__ import annotations

import asyncio

from litestar import Response, get
from sqlalchemy import text

from whitelabel.deps import Engine

__all__ = ["healthz", "readyz"]

_READY_TIMEOUT = 2.0


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests."""
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(engine: Engine) -> Response[dict[str, str]]:
    """200 when ``SELECT 1`` succeeds within two seconds, else 503 with the reason."""
    try:
        async with asyncio.timeout(_READY_TIMEOUT), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return Response(
            {
                "status": "unavailable",
                "code": "database_unavailable",
                "message": "The database does not answer.",
                "detail": type(exc).__name__,
            },
            status_code=503,
        )
    return Response({"status": "ok"})
