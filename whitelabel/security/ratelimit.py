"""Rate limits of sensitive actions, per client address and per account, inside each tenant.

Modules call :func:`enforce` before the expensive or sensitive work::

    await ratelimit.enforce(request, "login", account=data.email)   # may raise RateLimited
    user, token = await service.log_in(...)
    await ratelimit.forgive(request, "login", account=data.email)   # it was not a failure

``enforce`` takes one unit of every budget of the rule (:data:`~whitelabel.security.budgets.
DEFAULT_RULES`): the per-address budgets, then, when ``account`` is given, the per-account ones.
The first budget that is spent raises :class:`RateLimited` (429 ``rate_limited`` with
``Retry-After``), before any password is hashed. :func:`forgive` gives back the units of the
rule's *refundable* budgets: this is how the login account budget counts failed sign-ins only.
Reserving first and refunding success (rather than counting failures afterwards) keeps the count
exact under concurrency: a hundred parallel guesses cannot all pass before the first failure is
recorded.

Counting is GCRA (:mod:`whitelabel.security.limiter`), in this process, or in Redis when
``REDIS_URL`` is set so that every process shares the budgets. Keys start with the tenant
(:func:`~whitelabel.context.tenant_key`): tenants never share a budget. Accounts are keyed by a
hash of the address as typed (normalised), whether or not such an account exists, so limits
reveal nothing about which accounts exist, and Redis holds no email addresses.

The client address is the ASGI client: uvicorn replaces it with the ``X-Forwarded-For`` address
only for the proxies in ``FORWARDED_ALLOW_IPS``. IPv6 clients are counted per ``/64`` network
(one subscriber's allocation), so rotating addresses inside it does not multiply the budget.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
import unicodedata
from typing import Any

from litestar import Litestar, Request

from whitelabel.context import tenant_key
from whitelabel.errors import ClientError
from whitelabel.runtime import Runtime
from whitelabel.security.budgets import Budget, Rules, rules_with
from whitelabel.security.limiter import Clock, Counter, MemoryCounter, RedisCounter
from whitelabel.settings import Settings

__all__ = [
    "STATE_LIMITER",
    "RateLimited",
    "RateLimiter",
    "client_address",
    "enforce",
    "forgive",
    "limiter_for",
]

AnyRequest = Request[Any, Any, Any]

#: ``app.state`` key of the app's :class:`RateLimiter`.
STATE_LIMITER = "rate_limiter"


class RateLimited(ClientError):
    """Too many attempts: 429 ``rate_limited``, ``detail.retry_after`` and ``Retry-After`` in
    whole seconds."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        if seconds < 120:
            wait = "1 second" if seconds == 1 else f"{seconds} seconds"
        else:
            wait = f"{math.ceil(seconds / 60)} minutes"
        super().__init__(
            f"Too many attempts. Try again in {wait}.",
            detail={"retry_after": seconds},
            headers={"retry-after": str(seconds)},
        )
        self.retry_after = seconds


def client_address(request: AnyRequest) -> str:
    """The key of the request's client: its IPv4 address, or its IPv6 ``/64`` network.

    An IPv4-mapped IPv6 address counts as the IPv4 address; a missing or unparsable client is
    ``unknown`` (all such requests share one budget).
    """
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _account_subject(account: str) -> str:
    """A stable, non-reversible key part for an account as typed (NFKC, trimmed, lower-case)."""
    text = unicodedata.normalize("NFKC", account[:1000]).strip().lower()
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class RateLimiter:
    """The rules of a deployment and where they are counted; one per app."""

    def __init__(self, rules: Rules, counter: Counter) -> None:
        self.rules = rules
        self.counter = counter

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = time.time) -> RateLimiter:
        """Rules from ``WHITELABEL_RATE_LIMITS``; counted in Redis when ``REDIS_URL`` is set."""
        counter: Counter = (
            RedisCounter(settings.redis_url, clock) if settings.redis_url else MemoryCounter(clock)
        )
        return cls(rules_with(settings.rate_limits), counter)

    def _keys(self, rule: str, address: str, account: str | None) -> list[tuple[str, Budget]]:
        try:
            budgets = self.rules[rule]
        except KeyError:
            raise ValueError(f"no rate-limit rule {rule!r}") from None
        keyed = []
        for budget in budgets:
            if budget.per == "ip":
                keyed.append((tenant_key("rl", rule, "ip", address), budget))
            elif account is not None:
                keyed.append((tenant_key("rl", rule, "account", _account_subject(account)), budget))
        return keyed

    async def enforce(self, rule: str, address: str, account: str | None = None) -> None:
        """Take one unit of each budget of ``rule`` for the bound tenant.

        Raises:
            RateLimited: a budget is spent (the budgets before it in the rule keep their unit).
            TenantNotBoundError: no tenant is bound.
            ValueError: ``rule`` is not a rule.
        """
        for key, budget in self._keys(rule, address, account):
            wait = await self.counter.hit(key, budget.limit, budget.period)
            if wait > 0:
                raise RateLimited(wait)

    async def forgive(self, rule: str, address: str, account: str | None = None) -> None:
        """Give back the unit that :meth:`enforce` took from each refundable budget."""
        for key, budget in self._keys(rule, address, account):
            if budget.refundable:
                await self.counter.refund(key, budget.limit, budget.period)

    async def aclose(self) -> None:
        """Release the counter's connections."""
        await self.counter.aclose()


def limiter_for(app: Litestar) -> RateLimiter:
    """The app's limiter, which :class:`~whitelabel.security.plugin.SecurityPlugin` makes at
    start-up; an app built without that plugin gets one on first use, from its runtime's
    settings, so a module's limits are never silently off (that one's Redis connection is not
    closed at shutdown)."""
    limiter: RateLimiter | None = app.state.get(STATE_LIMITER)
    if limiter is None:
        runtime: Runtime = app.state["runtime"]
        limiter = app.state.setdefault(STATE_LIMITER, RateLimiter.from_settings(runtime.settings))
    return limiter


async def enforce(request: AnyRequest, rule: str, *, account: str | None = None) -> None:
    """Take one unit of each budget of ``rule`` for this request's client (and ``account``).

    Call it before the work the rule protects. ``account`` is the account the request names
    (an email address as typed); without it, only the per-address budgets count.

    Raises:
        RateLimited: 429 ``rate_limited``, with ``detail.retry_after`` and ``Retry-After``.
        TenantNotBoundError: outside a tenant.
        ValueError: ``rule`` is not one of the rules.
    """
    await limiter_for(request.app).enforce(rule, client_address(request), account)


async def forgive(request: AnyRequest, rule: str, *, account: str | None = None) -> None:
    """The attempt that :func:`enforce` counted does not count for the rule's refundable
    budgets (a successful sign-in; sign-up input refused as invalid)."""
    await limiter_for(request.app).forgive(rule, client_address(request), account)
