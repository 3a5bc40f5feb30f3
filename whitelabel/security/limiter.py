"""Rate-limit counters: GCRA in this process, or in Redis shared by every process.

**Algorithm: GCRA** (the generic cell rate algorithm, as in redis-cell and Stripe's limiters).
A budget of ``limit`` units per ``period`` seconds spaces units ``T = period / limit`` apart and
allows a burst of ``limit``. Each key keeps one number, its *theoretical arrival time* (TAT). A
unit taken at ``now`` moves it to ``max(TAT, now) + T``, and is allowed when that is at most
``now + period``; a refused unit changes nothing and must wait ``max(TAT, now) + T - period -
now`` seconds. So the state never runs ahead of ``now + period``: once units stop being
taken, the key is fully open again within ``period`` and takes one more within ``T`` (no
window is ever extended by refused attempts). A refund moves the TAT back by ``T``.

It is exact (no window edges that allow twice the budget, unlike fixed windows), needs one value
per key (unlike a sliding log), and is a single atomic step: a Lua script in Redis, a lock here.

Keys expire with their TAT, in Redis by ``PX`` and here by sweeping when the table is large.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog

__all__ = ["Clock", "Counter", "MemoryCounter", "RedisCounter", "gcra"]

Clock = Callable[[], float]
log = structlog.get_logger("whitelabel.ratelimit")

#: Above this many keys the in-process table drops expired ones, then the oldest ones.
MAX_KEYS = 100_000
#: After a Redis error, count in this process for this many seconds before trying Redis again.
REDIS_RETRY_AFTER = 5.0


def gcra(tat: float | None, now: float, limit: int, period: float) -> tuple[float | None, float]:
    """One unit of a ``limit`` per ``period`` budget whose TAT is ``tat`` (None: unused).

    Returns ``(new TAT, 0.0)`` when allowed, ``(None, seconds to wait)`` when refused.
    """
    new = (now if tat is None else max(tat, now)) + period / limit
    if new > now + period:
        return None, new - period - now
    return new, 0.0


class Counter(Protocol):
    """Where budgets are counted (the algorithm is :func:`gcra` everywhere)."""

    async def hit(self, key: str, limit: int, period: int) -> float:
        """Take one unit: 0 when allowed, else the seconds to wait (nothing taken)."""
        ...

    async def refund(self, key: str, limit: int, period: int) -> None:
        """Give one unit back (no effect on an unused key)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class MemoryCounter:
    """Budgets of this process (one table per counter); thread-safe.

    Each server process (``--workers``) counts on its own: a client spread over ``N`` workers
    gets up to ``N`` times the budget. Set ``REDIS_URL`` to share the budgets.
    """

    def __init__(self, clock: Clock = time.time, max_keys: int = MAX_KEYS) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def hit_now(self, key: str, limit: int, period: int) -> float:
        """:meth:`hit`, synchronously."""
        now = self.clock()
        with self._lock:
            new, wait = gcra(self._tat.get(key), now, limit, period)
            if new is not None:
                if key not in self._tat and len(self._tat) >= self.max_keys:
                    self._sweep(now)
                self._tat[key] = new
            return wait

    def refund_now(self, key: str, limit: int, period: int) -> None:
        """:meth:`refund`, synchronously."""
        now = self.clock()
        with self._lock:
            tat = self._tat.get(key)
            if tat is None:
                return
            tat -= period / limit
            if tat <= now:
                del self._tat[key]
            else:
                self._tat[key] = tat

    def _sweep(self, now: float) -> None:
        """Drop expired keys (their state equals a fresh key's); if the table is still full,
        drop the oldest tenth (they lose their count: an attacker needs ``max_keys`` fresh
        keys within a period to cause that, and each of those keys is limited by itself)."""
        for key in [k for k, tat in self._tat.items() if tat <= now]:
            del self._tat[key]
        excess = len(self._tat) - self.max_keys * 9 // 10
        for key in list(self._tat)[: max(excess, 0)]:
            del self._tat[key]

    async def hit(self, key: str, limit: int, period: int) -> float:
        """Take one unit (see :class:`Counter`)."""
        return self.hit_now(key, limit, period)

    async def refund(self, key: str, limit: int, period: int) -> None:
        """Give one unit back (see :class:`Counter`)."""
        self.refund_now(key, limit, period)

    async def aclose(self) -> None:
        """Nothing to release."""


# Times are whole milliseconds of the caller's clock (servers should run NTP: a skewed clock
# shifts only its own requests' view of the shared TAT).
_HIT = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new = tat + interval
if new > now + period then
  return new - period - now
end
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', string.format('%d', new - now))
return 0
"""

_REFUND = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local new = tat - interval
if new <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%d', new), 'PX', string.format('%d', new - now))
end
return 1
"""


class RedisCounter:
    """Budgets in Redis, shared by every process that uses the same server.

    Each step is one Lua script (atomic in Redis). When Redis fails (down, slow), the step is
    counted in this process instead, logged, and Redis is tried again after
    :data:`REDIS_RETRY_AFTER` seconds: limits stay on, per process, rather than off.
    The client is made on first use, in the event loop of the app that uses it.
    """

    def __init__(self, url: str, clock: Clock = time.time, *, timeout: float = 0.5) -> None:
        self.url = url
        self.clock = clock
        self.timeout = timeout
        self.fallback = MemoryCounter(clock)
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._down_until = 0.0

    def _script(self, name: str, source: str) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
        if name not in self._scripts:
            self._scripts[name] = self._client.register_script(source)
        return self._scripts[name]

    async def _run(self, name: str, source: str, key: str, *args: int) -> int | None:
        """The script's answer, or None when Redis failed (the caller falls back)."""
        from redis.exceptions import RedisError

        if time.monotonic() < self._down_until:
            return None
        try:
            result = await self._script(name, source)(keys=[key], args=list(args))
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + REDIS_RETRY_AFTER
            log.warning("rate limits counted in this process: Redis failed", error=repr(exc))
            return None
        return int(result)

    async def hit(self, key: str, limit: int, period: int) -> float:
        """Take one unit (see :class:`Counter`)."""
        now = int(self.clock() * 1000)
        interval = max(1, round(period * 1000 / limit))
        waited = await self._run("hit", _HIT, key, now, interval, period * 1000)
        if waited is None:
            return self.fallback.hit_now(key, limit, period)
        return waited / 1000

    async def refund(self, key: str, limit: int, period: int) -> None:
        """Give one unit back (see :class:`Counter`)."""
        now = int(self.clock() * 1000)
        interval = max(1, round(period * 1000 / limit))
        if await self._run("refund", _REFUND, key, now, interval) is None:
            self.fallback.refund_now(key, limit, period)

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            client, self._client = self._client, None
            self._scripts.clear()
            await client.aclose()
