"""Rate limits of sign-in and sign-up on a real server, on two tenants: brute force on an account
from many addresses, a flood from one address, sign-up floods, 429 with ``Retry-After`` in the
error shape, budgets kept per tenant, and budgets shared through Redis by two servers.

Client addresses come from ``X-Forwarded-For``, which uvicorn trusts from 127.0.0.1 (its default
``FORWARDED_ALLOW_IPS``), as it would from a reverse proxy on the same machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tenants.schemas import TenantView
from tests.conftest import REQUIRE_PEERS
from tests.integration.accounts_support import PASSWORD, ClientFor
from whitelabel.accounts.models import User
from whitelabel.app import create_app
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent
from whitelabel.testing.kit import LiveServer, TenantFactory, host_client, wait_for_route

REDIS_URL = "redis://127.0.0.1:6379/13"
WRONG = "not the password!"


def _login(client: httpx.Client, email: str, ip: str, password: str = WRONG) -> httpx.Response:
    client.cookies.clear()
    body = {"email": email, "password": password}
    return client.post("/api/v1/auth/login", json=body, headers={"x-forwarded-for": ip})


def _signup(client: httpx.Client, email: str, ip: str, password: str = PASSWORD) -> httpx.Response:
    client.cookies.clear()
    body = {"email": email, "password": password, "display_name": "Someone"}
    return client.post("/api/v1/auth/signup", json=body, headers={"x-forwarded-for": ip})


def _limited(response: httpx.Response, longest: int) -> int:
    """Assert a 429 in the error shape; the wait in seconds."""
    assert response.status_code == 429, response.text
    body = response.json()
    wait = body["detail"]["retry_after"]
    assert body == {
        "code": "rate_limited",
        "message": body["message"],
        "detail": {"retry_after": wait},
    }
    assert isinstance(wait, int)
    assert 1 <= wait <= longest
    assert response.headers["retry-after"] == str(wait)
    assert "Try again in" in body["message"]
    assert "set-cookie" not in response.headers
    return wait


def _actions(runtime: Runtime, tenant: TenantView) -> list[str]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.at)))


def _user_count(runtime: Runtime, tenant: TenantView) -> int:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


def test_brute_force_on_one_account_from_many_addresses_gets_429(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = tenant_client(first)
    assert _signup(client, "ada@example.org", "192.0.2.1").status_code == 201
    assert _signup(tenant_client(second), "ada@example.org", "192.0.2.1").status_code == 201
    for i in range(10):  # the account's budget: 10 failures per 15 minutes, from any address
        assert _login(client, "ada@example.org", f"198.51.100.{i}").status_code == 401
    _limited(_login(client, "ADA@example.org", "198.51.100.10"), 90)
    # Now even the right password waits: the check comes before any password work.
    _limited(_login(client, "ada@example.org", "198.51.100.11", PASSWORD), 90)
    actions = _actions(whitelabel_runtime, first)
    assert actions.count("user.login_failed") == 10  # the refused attempts never got that far
    assert "user.login" not in actions
    # Another account, from an address that tried: not limited.
    assert _login(client, "bob@example.org", "198.51.100.10").status_code == 401
    # The other tenant's account with the same email has its own budget.
    other = tenant_client(second)
    assert _login(other, "ada@example.org", "198.51.100.10").status_code == 401
    assert _login(other, "ada@example.org", "198.51.100.10", PASSWORD).status_code == 200


def test_successful_sign_ins_do_not_count_against_the_account(
    tenant_pair: tuple[TenantView, TenantView], tenant_client: ClientFor
) -> None:
    first, _ = tenant_pair
    client = tenant_client(first)
    assert _signup(client, "ada@example.org", "192.0.2.1").status_code == 201
    for i in range(12):
        assert _login(client, "ada@example.org", f"203.0.113.{i}", PASSWORD).status_code == 200
    for i in range(10):
        assert _login(client, "ada@example.org", f"198.51.100.{i}").status_code == 401
    _limited(_login(client, "ada@example.org", "198.51.100.10"), 90)


@pytest.fixture
def server_for(whitelabel_runtime: Runtime) -> Iterator[Callable[..., tuple[Runtime, LiveServer]]]:
    """``server_for(rate_limits=..., redis_url=...)``: another server (own runtime, routing table
    and limiter) with those settings; all are stopped afterwards."""
    started: list[tuple[Runtime, LiveServer]] = []

    def start(**changes: Any) -> tuple[Runtime, LiveServer]:
        runtime = Runtime.start(replace(whitelabel_runtime.settings, **changes))
        live = LiveServer(create_app(runtime=runtime, access_log=False)).start()
        started.append((runtime, live))
        return runtime, live

    yield start
    for runtime, live in started:
        live.stop()
        runtime.db.sync_engine.dispose()


def _client(server: tuple[Runtime, LiveServer], tenant: TenantView) -> httpx.Client:
    runtime, live = server
    wait_for_route(runtime, tenant.primary_host or "")
    return host_client(live.url, tenant.primary_host or "")


def test_one_address_gets_its_budget_whatever_the_accounts(
    server_for: Callable[..., tuple[Runtime, LiveServer]], make_tenant: TenantFactory
) -> None:
    server = server_for(rate_limits="login.ip=5/5m")
    tenant = make_tenant()
    with _client(server, tenant) as client:
        assert _signup(client, "ada@example.org", "192.0.2.1").status_code == 201
        assert _login(client, "ada@example.org", "198.51.100.7", PASSWORD).status_code == 200
        for i in range(4):  # successes count too: every attempt costs a password check
            assert _login(client, f"user{i}@example.org", "198.51.100.7").status_code == 401
        _limited(_login(client, "user9@example.org", "198.51.100.7"), 60)
        _limited(_login(client, "ada@example.org", "198.51.100.7", PASSWORD), 60)
        assert _login(client, "user9@example.org", "198.51.100.8").status_code == 401
        # IPv6 clients count per /64: another address in it shares the budget.
        for i in range(5):
            assert (
                _login(client, f"user{i}@example.org", f"2001:db8:0:1::{i + 1}").status_code == 401
            )
        _limited(_login(client, "user9@example.org", "2001:db8:0:1:ffff::9"), 60)
        assert _login(client, "user9@example.org", "2001:db8:0:2::1").status_code == 401


def test_a_sign_up_flood_gets_429_and_refused_input_does_not_count(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = tenant_client(first)
    for i in range(5):  # invalid input is refused before any work, and not counted
        refused = _signup(client, f"weak{i}@example.org", "192.0.2.50", "short")
        assert refused.status_code == 422
    for i in range(10):
        assert _signup(client, f"user{i}@example.org", "192.0.2.50").status_code == 201
    taken = _signup(client, "user0@example.org", "192.0.2.51")
    assert taken.status_code == 409  # probing for taken addresses counts as well
    _limited(_signup(client, "user10@example.org", "192.0.2.50"), 360)
    _limited(_signup(client, "user10@example.org", "192.0.2.50", "short"), 360)  # checked first
    assert _user_count(whitelabel_runtime, first) == 10
    assert _signup(client, "user10@example.org", "192.0.2.52").status_code == 201
    # The other tenant: the same address has a fresh budget there.
    assert _signup(tenant_client(second), "user0@example.org", "192.0.2.50").status_code == 201
    assert _user_count(whitelabel_runtime, second) == 1


@pytest.fixture
def redis_db() -> str:
    """The test Redis database URL; skipped (failed in CI) without a Redis server."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"no Redis at {REDIS_URL} ({exc}); CI runs one"
        if REQUIRE_PEERS:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()
    return REDIS_URL


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
def test_two_servers_share_budgets_through_redis_only(
    server_for: Callable[..., tuple[Runtime, LiveServer]],
    make_tenant: TenantFactory,
    request: pytest.FixtureRequest,
    shared: bool,
) -> None:
    redis_url: str | None = request.getfixturevalue("redis_db") if shared else None
    rules = "login.account=4/15m"
    one = server_for(rate_limits=rules, redis_url=redis_url)
    two = server_for(rate_limits=rules, redis_url=redis_url)
    tenant = make_tenant()
    with _client(one, tenant) as a, _client(two, tenant) as b:
        assert _signup(a, "ada@example.org", "192.0.2.1").status_code == 201
        for i in range(4):  # alternate between the servers
            assert (
                _login(a if i % 2 else b, "ada@example.org", f"198.51.100.{i}").status_code == 401
            )
        fifth = [_login(c, "ada@example.org", "198.51.100.9") for c in (a, b)]
        if shared:
            for response in fifth:
                _limited(response, 225)
        else:  # each server counted only its own two failures
            assert [r.status_code for r in fifth] == [401, 401]
