"""Rate limiting without a server: GCRA with an injected clock, in process and in Redis, the
rules and their setting, client addresses, tenant and account keys, the error."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from litestar import Request

from tests.conftest import REQUIRE_PEERS
from whitelabel.context import TenantContext, TenantStatus, schema_name_for, tenant_scope
from whitelabel.errors import SettingsError, TenantNotBoundError
from whitelabel.security.budgets import DEFAULT_RULES, Budget, parse_overrides, rules_with
from whitelabel.security.limiter import Counter, MemoryCounter, RedisCounter, gcra
from whitelabel.security.ratelimit import RateLimited, RateLimiter, client_address
from whitelabel.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/13"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _tenant(slug: str) -> TenantContext:
    tenant_id = uuid.uuid4()
    return TenantContext(
        id=tenant_id,
        slug=slug,
        name=slug.title(),
        schema=schema_name_for(tenant_id),
        status=TenantStatus.ACTIVE,
        primary_host=f"{slug}.localhost",
    )


# -- the algorithm ---------------------------------------------------------------------------


def test_gcra_allows_a_burst_then_one_unit_per_interval() -> None:
    now, tat = 1000.0, None
    for _ in range(3):  # 3 per 60 s: a burst of 3, then one every 20 s
        tat, wait = gcra(tat, now, 3, 60)
        assert wait == 0
    assert gcra(tat, now, 3, 60) == (None, 20.0)
    assert gcra(tat, now + 5, 3, 60) == (None, 15.0)
    assert gcra(tat, now + 20, 3, 60) == (1080.0, 0.0)
    assert gcra(tat, now + 60, 3, 60) == (1080.0, 0.0)  # idle for a period: fully open
    assert gcra(None, now, 1, 900) == (1900.0, 0.0)


# Steps: (seconds since start, "hit" or "refund", the wait that hit answers; None for refund).
# The budget is 3 per 60 s.
STEPS: list[tuple[float, str, float | None]] = [
    (0, "hit", 0),
    (0, "hit", 0),
    (0, "hit", 0),
    (0, "hit", 20),
    (1, "hit", 19),  # refused hits do not push the window further out
    (10, "hit", 10),
    (20, "hit", 0),
    (20, "hit", 20),
    (20, "refund", None),  # gives back the unit taken at 20
    (20, "hit", 0),
    (20, "hit", 20),
    (200, "hit", 0),  # long idle: a full burst again
    (200, "hit", 0),
    (200, "hit", 0),
    (200, "hit", 20),
]


async def _play(counter: Counter, clock: Clock, key: str) -> list[float | None]:
    start = clock.now
    seen: list[float | None] = []
    for at, op, _ in STEPS:
        clock.now = start + at
        if op == "hit":
            seen.append(await counter.hit(key, 3, 60))
        else:
            await counter.refund(key, 3, 60)
            seen.append(None)
    return seen


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix on the test Redis; its keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        message = f"no Redis at {REDIS_URL} ({exc}); CI runs one"
        if REQUIRE_PEERS:
            pytest.fail(message)
        pytest.skip(message)
    prefix = f"wl-test:{uuid.uuid4().hex}:"
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


T = TypeVar("T")


def _run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


def test_memory_counter_follows_gcra() -> None:
    clock = Clock()
    seen = _run(lambda: _play(MemoryCounter(clock), clock, "k"))
    assert seen == [wait for _, _, wait in STEPS]


def test_redis_counter_follows_gcra(redis_prefix: str) -> None:
    clock = Clock()

    async def scenario() -> list[float | None]:
        counter = RedisCounter(REDIS_URL, clock)
        try:
            return await _play(counter, clock, f"{redis_prefix}k")
        finally:
            await counter.aclose()

    assert _run(scenario) == [wait for _, _, wait in STEPS]


def test_redis_keys_expire_with_their_state(redis_prefix: str) -> None:
    import redis

    clock = Clock()

    async def scenario() -> None:
        counter = RedisCounter(REDIS_URL, clock)
        try:
            await counter.hit(f"{redis_prefix}k", 3, 60)
            await counter.refund(f"{redis_prefix}gone", 3, 60)  # unused: nothing is written
        finally:
            await counter.aclose()

    _run(scenario)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert 0 < client.pttl(f"{redis_prefix}k") <= 20_000  # one unit of 3 per 60 s
        assert client.exists(f"{redis_prefix}gone") == 0
    finally:
        client.close()


def test_redis_counters_of_two_clients_share_the_budget(redis_prefix: str) -> None:
    clock = Clock()

    async def scenario() -> list[float]:
        one, two = RedisCounter(REDIS_URL, clock), RedisCounter(REDIS_URL, clock)
        try:
            key = f"{redis_prefix}shared"
            return [await (one if i % 2 else two).hit(key, 3, 60) for i in range(4)]
        finally:
            await one.aclose()
            await two.aclose()

    assert _run(scenario) == [0, 0, 0, 20]


def test_without_redis_the_limits_stay_on_in_this_process() -> None:
    clock = Clock()

    async def scenario() -> list[float]:
        counter = RedisCounter("redis://127.0.0.1:1/0", clock, timeout=0.2)
        try:
            waits = [await counter.hit("k", 2, 60) for _ in range(3)]
            await counter.refund("k", 2, 60)
            return [*waits, await counter.hit("k", 2, 60)]
        finally:
            await counter.aclose()

    assert _run(scenario) == [0, 0, 30, 0]


def test_the_in_process_table_drops_expired_then_oldest_keys() -> None:
    clock = Clock()
    counter = MemoryCounter(clock, max_keys=10)
    for i in range(10):
        assert counter.hit_now(f"k{i}", 1, 60) == 0
    assert counter.hit_now("k0", 1, 60) == 60  # spent
    counter.hit_now("k10", 1, 60)  # table full of live keys: the oldest (k0) is dropped
    assert counter.hit_now("k0", 1, 60) == 0
    assert counter.hit_now("k5", 1, 60) == 60  # the others keep their count
    clock.now += 61
    counter.hit_now("fresh", 1, 60)  # expired keys are swept first
    assert counter.hit_now("fresh", 1, 60) == 60


# -- rules, the setting ----------------------------------------------------------------------


def test_default_rules() -> None:
    assert DEFAULT_RULES["login"] == (
        Budget("ip", 30, 300),
        Budget("account", 10, 900, refundable=True),
    )
    assert DEFAULT_RULES["signup"] == (Budget("ip", 10, 3600, refundable=True),)
    assert set(DEFAULT_RULES) == {
        "login",
        "signup",
        "password_reset",
        "verify_email",
        "invite_accept",
    }


def test_overrides_change_limits_and_periods_only() -> None:
    rules = rules_with(" login.ip=100/5m , login.account=5/1h,signup.ip=50/1d ")
    assert rules["login"] == (
        Budget("ip", 100, 300),
        Budget("account", 5, 3600, refundable=True),
    )
    assert rules["signup"] == (Budget("ip", 50, 86400, refundable=True),)
    assert rules["password_reset"] == DEFAULT_RULES["password_reset"]
    assert rules_with("") == DEFAULT_RULES
    assert parse_overrides("invite_accept.ip=1/30s") == {("invite_accept", "ip"): (1, 30)}


@pytest.mark.parametrize(
    "value",
    [
        "login.ip=0/5m",
        "login.ip=1000001/5m",
        "login.ip=10/0s",
        "login.ip=10/8d",
        "login.ip=10/5",
        "login.ip=10/5w",
        "login.ip=-1/5m",
        "login.ip=off",
        "login=10/5m",
        "signup.account=1/1h",  # no such budget to change
        "nope.ip=1/1h",
        "LOGIN.ip=1/1h",
        "login.ip=\uff11\uff10/5m",  # full-width digits
        "login.ip=10/5m;signup.ip=1/1h",
        "login.ip=10/5m x",
        "x" * 10_000,
    ],
)
def test_bad_overrides_are_a_settings_error(value: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_overrides(value)
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({"WHITELABEL_SECRET_KEY": "s" * 32, "WHITELABEL_RATE_LIMITS": value})
    assert exc.value.variable == "WHITELABEL_RATE_LIMITS"
    assert "RULE.PER=LIMIT/PERIOD" in exc.value.expected
    assert len(str(exc.value)) < 600  # the bad value is quoted at most in part


def test_the_setting_is_read_from_the_environment() -> None:
    env = {"WHITELABEL_SECRET_KEY": "s" * 32}
    assert Settings.from_env(env).rate_limits == ""
    got = Settings.from_env({**env, "WHITELABEL_RATE_LIMITS": "login.ip=60/5m"})
    assert got.rate_limits == "login.ip=60/5m"


# -- addresses, keys, the error --------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),  # same /64, same budget
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("::1", "::/64"),
        ("not an address", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_client_address(host: str | None, key: str) -> None:
    scope: dict[str, Any] = {"type": "http", "headers": []}
    if host is not None:
        scope["client"] = (host, 50000)
    assert client_address(Request(scope)) == key  # type: ignore[arg-type]


def _limiter(clock: Clock, text: str = "") -> RateLimiter:
    return RateLimiter(rules_with(text), MemoryCounter(clock))


def test_account_budgets_count_per_tenant_and_normalised_account() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    first, second = _tenant("first"), _tenant("second")

    async def scenario() -> None:
        with tenant_scope(first):
            for i in range(10):  # each from another address: the account budget is global
                await limiter.enforce("login", f"198.51.100.{i}", "ada@example.org")
            with pytest.raises(RateLimited) as exc:
                await limiter.enforce("login", "198.51.100.99", " ADA@Example.ORG ")
            assert exc.value.retry_after == 90
            with pytest.raises(RateLimited):  # NFKC: full-width letters are the same account
                await limiter.enforce("login", "198.51.100.98", "\uff41\uff44\uff41@example.org")
            await limiter.enforce("login", "198.51.100.99", "bob@example.org")
            # A success gives its unit back: one more attempt for the account.
            await limiter.forgive("login", "198.51.100.0", "ada@example.org")
            await limiter.enforce("login", "198.51.100.0", "ada@example.org")
            with pytest.raises(RateLimited):
                await limiter.enforce("login", "198.51.100.0", "ada@example.org")
        with tenant_scope(second):
            await limiter.enforce("login", "198.51.100.99", "ada@example.org")
        clock.now += 90
        with tenant_scope(first):
            await limiter.enforce("login", "198.51.100.99", "ada@example.org")

    _run(scenario)


def test_address_budgets_count_every_attempt() -> None:
    clock = Clock()
    limiter = _limiter(clock, "login.ip=3/1m")
    tenant = _tenant("ip")

    async def scenario() -> None:
        with tenant_scope(tenant):
            for i in range(3):
                await limiter.enforce("login", "203.0.113.1", f"user{i}@example.org")
                await limiter.forgive("login", "203.0.113.1", f"user{i}@example.org")
            with pytest.raises(RateLimited) as exc:  # successes count against the address
                await limiter.enforce("login", "203.0.113.1", "user9@example.org")
            assert exc.value.retry_after == 20
            await limiter.enforce("login", "203.0.113.2", "user9@example.org")
            # Without an account, only the address budgets apply.
            await limiter.enforce("signup", "203.0.113.1")

    _run(scenario)


def test_an_unknown_rule_or_no_tenant_fails_loudly() -> None:
    limiter = _limiter(Clock())

    async def unknown() -> None:
        with tenant_scope(_tenant("rules")):
            await limiter.enforce("logn", "203.0.113.1")

    with pytest.raises(ValueError, match="logn"):
        _run(unknown)
    with pytest.raises(TenantNotBoundError):
        _run(lambda: limiter.enforce("login", "203.0.113.1"))


@pytest.mark.parametrize(
    ("wait", "seconds", "words"),
    [
        (0.001, 1, "in 1 second."),
        (1.0, 1, "in 1 second."),
        (89.2, 90, "in 90 seconds."),
        (119.5, 120, "in 2 minutes."),
        (900, 900, "in 15 minutes."),
    ],
)
def test_the_error_says_when_to_retry(wait: float, seconds: int, words: str) -> None:
    exc = RateLimited(wait)
    assert exc.status_code == 429
    assert exc.code == "rate_limited"
    assert exc.retry_after == seconds
    assert exc.detail == {"retry_after": seconds}
    assert exc.headers == {"retry-after": str(seconds)}
    assert words in exc.message
