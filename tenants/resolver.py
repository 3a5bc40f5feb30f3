"""Host → tenant resolution from an in-process routing table, kept fresh by change signals.

The whole routing table (every routable hostname with its tenant) is held in memory, so a lookup
is one dict access: zero database queries per request, for known and unknown hosts alike (an
unknown host cannot be used to make the database work). Writers send a signal in the same
transaction as their change (:func:`notify_routing_change`): PostgreSQL ``NOTIFY`` always, and Redis
pub/sub as well when ``REDIS_URL`` is set. Each process listens to both and reloads the changed
tenant's rows, well within a second; a periodic full reload is the safety net for a lost signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from sqlalchemy import Connection, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from tenants.models import Domain, Tenant
from whitelabel.context import TenantContext, TenantStatus

__all__ = ["CHANNEL", "Resolver", "notify_routing_change"]

log = logging.getLogger("whitelabel.routing")

CHANNEL = "whitelabel_routing"
_FULL_RELOAD = "*"
_ROUTABLE = (TenantStatus.ACTIVE.value, TenantStatus.SUSPENDED.value)


def notify_routing_change(conn: Connection, tenant_id: uuid.UUID | None = None) -> None:
    """Queue a routing-change signal in ``conn``'s transaction (delivered only if it commits)."""
    payload = tenant_id.hex if tenant_id else _FULL_RELOAD
    conn.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
    )


def publish_redis(redis_url: str, tenant_id: uuid.UUID | None = None) -> None:
    """Publish a routing-change signal on Redis (call after the change has committed)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.publish(CHANNEL, tenant_id.hex if tenant_id else _FULL_RELOAD)
    finally:
        client.close()


def _route_query(tenant_id: uuid.UUID | None = None) -> Any:
    stmt = (
        select(
            Domain.hostname,
            Domain.is_primary,
            Tenant.id,
            Tenant.slug,
            Tenant.name,
            Tenant.schema_name,
            Tenant.status,
            Tenant.theme,
            Tenant.theme_version,
        )
        .join(Tenant, Tenant.id == Domain.tenant_id)
        .where(Tenant.status.in_(_ROUTABLE))
    )
    if tenant_id is not None:
        stmt = stmt.where(Tenant.id == tenant_id)
    return stmt


def _build(rows: Iterable[Any]) -> dict[str, TenantContext]:
    rows = list(rows)
    primary: dict[uuid.UUID, str] = {}
    for row in rows:
        if row.is_primary or row.id not in primary:
            primary[row.id] = row.hostname
    contexts: dict[uuid.UUID, TenantContext] = {}
    table: dict[str, TenantContext] = {}
    for row in rows:
        ctx = contexts.get(row.id)
        if ctx is None:
            ctx = contexts[row.id] = TenantContext(
                id=row.id,
                slug=row.slug,
                name=row.name,
                schema=row.schema_name,
                status=TenantStatus(row.status),
                primary_host=primary[row.id],
                theme=row.theme,
                theme_version=row.theme_version,
            )
        table[row.hostname] = ctx
    return table


class Resolver:
    """The per-process routing table. Reads are lock-free: the table is replaced, never mutated.

    Args:
        database_url: SQLAlchemy URL of the platform database (for the ``LISTEN`` connection).
        redis_url: when set, signals are also read from Redis pub/sub.
        listen_url: the URL for the ``LISTEN`` connection when it must bypass a transaction
            pooler (PgBouncer delivers no notifications); default ``database_url``.
        full_reload_seconds: period of the safety-net full reload.
    """

    def __init__(
        self,
        database_url: str,
        *,
        redis_url: str | None = None,
        listen_url: str | None = None,
        full_reload_seconds: float = 60.0,
    ) -> None:
        self._table: Mapping[str, TenantContext] = {}
        self._database_url = database_url
        self._listen_url = listen_url or database_url
        self._redis_url = redis_url
        self._full_reload_seconds = full_reload_seconds
        self._tasks: dict[asyncio.AbstractEventLoop, list[asyncio.Task[None]]] = {}
        self.reloads = 0

    def resolve(self, host: str) -> TenantContext | None:
        """The routable tenant (active or suspended) for a normalised host, or ``None``."""
        return self._table.get(host)

    def __len__(self) -> int:
        return len(self._table)

    async def load_all(self, conn: AsyncConnection) -> None:
        """Replace the whole table from the database."""
        rows = (await conn.execute(_route_query())).all()
        self._table = _build(rows)
        self.reloads += 1

    def load_all_sync(self, conn: Connection) -> None:
        """Replace the whole table from the database (sync callers: tests, benchmarks)."""
        self._table = _build(conn.execute(_route_query()).all())
        self.reloads += 1

    async def reload_tenant(self, conn: AsyncConnection, tenant_id: uuid.UUID) -> None:
        """Replace one tenant's hosts, leaving every other entry as it is."""
        rows = (await conn.execute(_route_query(tenant_id))).all()
        table = {host: ctx for host, ctx in self._table.items() if ctx.id != tenant_id}
        table.update(_build(rows))
        self._table = table
        self.reloads += 1

    async def apply_signal(self, conn: AsyncConnection, payload: str) -> None:
        """Act on one change signal: a tenant id (hex) or ``*`` for everything."""
        try:
            tenant_id = None if payload == _FULL_RELOAD else uuid.UUID(hex=payload)
        except ValueError:
            tenant_id = None
        if tenant_id is None:
            await self.load_all(conn)
        else:
            await self.reload_tenant(conn, tenant_id)

    # -- background listening -------------------------------------------------------------

    def start(self, connect: Any) -> asyncio.Event:
        """Start listening on the running event loop; returns an event set once subscribed.

        ``connect`` is a factory of async context managers giving a connection (``engine.connect``).
        PostgreSQL ``LISTEN`` always runs (every writer sends ``NOTIFY``); with ``REDIS_URL`` a
        Redis subscription runs beside it, so a writer configured either way is heard. Several
        apps may share one resolver: each loop's tasks are stopped by that loop's :meth:`stop`.
        """
        ready = asyncio.Event()
        tasks = [
            asyncio.create_task(
                self._listen(self._listen_postgres, connect, ready), name="routing-pg"
            ),
            asyncio.create_task(self._periodic(connect), name="routing-reload"),
        ]
        if self._redis_url:
            tasks.append(
                asyncio.create_task(
                    self._listen(self._listen_redis, connect, asyncio.Event()), name="routing-redis"
                )
            )
        self._tasks.setdefault(asyncio.get_running_loop(), []).extend(tasks)
        return ready

    async def stop(self) -> None:
        """Stop the background tasks started from the running event loop."""
        tasks = self._tasks.pop(asyncio.get_running_loop(), [])
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _periodic(self, connect: Any) -> None:
        while True:
            await asyncio.sleep(self._full_reload_seconds)
            try:
                async with connect() as conn:
                    await self.load_all(conn)
            except Exception:
                log.exception("periodic routing reload failed")

    async def _listen(self, listener: Any, connect: Any, ready: asyncio.Event) -> None:
        backoff = 0.2
        while True:
            try:
                await listener(connect, ready)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("routing listener lost its connection; reconnecting", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _listen_postgres(self, connect: Any, ready: asyncio.Event) -> None:
        url = make_url(self._listen_url).set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as listener:
            await listener.execute(f"LISTEN {CHANNEL}")
            async with connect() as conn:  # reload after (re)subscribing: nothing is missed
                await self.load_all(conn)
            ready.set()
            async for note in listener.notifies():
                async with connect() as conn:
                    await self.apply_signal(conn, note.payload)

    async def _listen_redis(self, connect: Any, ready: asyncio.Event) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self._redis_url or "")
        try:
            pubsub = client.pubsub()
            await pubsub.subscribe(CHANNEL)
            async with connect() as conn:
                await self.load_all(conn)
            ready.set()
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                data = message["data"]
                payload = data.decode() if isinstance(data, bytes) else str(data)
                async with connect() as conn:
                    await self.apply_signal(conn, payload)
        finally:
            await client.aclose()
