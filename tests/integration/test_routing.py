"""Host routing through a real server: tenant hosts, the uniform 404, 503, 400, and change signals.

Every test has at least two tenants: one is acted on, the other must not notice.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from litestar import WebSocket, get, websocket
from litestar.config.app import AppConfig
from litestar.params import FromQuery
from litestar.plugins import InitPlugin
from sqlalchemy import func, select, text, update
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tenants.models import Tenant
from tenants.resolver import notify_routing_change
from tenants.schemas import TenantView
from tests.conftest import REQUIRE_PEERS
from whitelabel.app import create_app
from whitelabel.context import TenantStatus, current_tenant
from whitelabel.db.switching import translate_map
from whitelabel.deps import CurrentTenant
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent
from whitelabel.testing import LiveServer, TenantFactory, host_client, wait_for_route

TenantClient = Callable[[TenantView | str], httpx.Client]

PATHS = ("/", "/api/v1/x", "/no/such/path")
METHODS = ("GET", "POST")
REDIS_URL = "redis://127.0.0.1:6379/15"
SIGNAL_DEADLINE = 1.0  # seconds for a routing change to reach another process's server
#: Headers that differ between any two responses (time, per-request id, peer address).
VOLATILE = frozenset({"date", "x-request-id"})


# -- helpers ---------------------------------------------------------------------------------


def host_of(tenant: TenantView) -> str:
    host = tenant.primary_host
    assert host is not None
    return host


@dataclass(frozen=True)
class Fingerprint:
    """Everything a client can observe of a response, apart from its time and request id."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def fingerprint(response: httpx.Response) -> Fingerprint:
    headers = tuple((k, v) for k, v in response.headers.multi_items() if k not in VOLATILE)
    assert "x-request-id" in response.headers  # present on every answer, never only on some
    return Fingerprint(response.status_code, headers, response.content)


def assert_serves(client: httpx.Client, tenant: TenantView, other: TenantView) -> None:
    """``client`` reaches ``tenant``'s landing page, served from its schema, with no trace of
    ``other``."""
    response = client.get("/")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert tenant.name in response.text
    assert tenant.schema_name in response.text
    assert other.name not in response.text
    assert other.schema_name not in response.text
    assert other.slug not in response.text


def wait_for_status(runtime: Runtime, host: str, status: TenantStatus, timeout: float) -> float:
    """Seconds until ``runtime``'s routing table shows ``host`` with ``status``.

    Raises:
        TimeoutError: not within ``timeout``.
    """
    started = time.monotonic()
    while True:
        tenant = runtime.resolver.resolve(host)
        if tenant is not None and tenant.status is status:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{host} did not become {status} within {timeout}s")
        time.sleep(0.002)


def timed_wait_for_route(runtime: Runtime, host: str, *, routable: bool, timeout: float) -> float:
    started = time.monotonic()
    wait_for_route(runtime, host, routable=routable, timeout=timeout)
    return time.monotonic() - started


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_http(port: int, request: bytes) -> RawResponse:
    """Send bytes exactly as given (e.g. two Host headers) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split(" ")[1]), headers, body)


def request_bytes(path: str, host_lines: list[bytes]) -> bytes:
    return b"".join(
        [f"GET {path} HTTP/1.1\r\n".encode(), *host_lines, b"Connection: close\r\n\r\n"]
    )


def cli_env(runtime: Runtime, redis_url: str | None = None) -> dict[str, str]:
    """The environment of a separate ``whitelabel`` process on the same database."""
    settings = runtime.settings
    assert settings.database_url is not None
    assert settings.secret_key is not None
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WHITELABEL_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        DATABASE_URL=settings.database_url,
        WHITELABEL_SECRET_KEY=settings.secret_key,
        WHITELABEL_BASE_DOMAIN=settings.base_domain,
        WHITELABEL_PLATFORM_HOST=settings.platform_host,
        PYTHONUNBUFFERED="1",
    )
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    return env


@contextmanager
def cli_change(runtime: Runtime, *args: str, redis_url: str | None = None) -> Iterator[str]:
    """Run ``whitelabel ARGS`` in another process; yields its first stdout line, which it prints
    right after its transaction committed (the clock for the routing change starts there)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "whitelabel", *args],
        env=cli_env(runtime, redis_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line:
            _, stderr = process.communicate(timeout=60)
            pytest.fail(f"whitelabel {' '.join(args)} printed nothing; stderr: {stderr}")
        yield line
    finally:
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr


# -- known hosts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "with_port"),
    [
        ("exact", True),
        ("exact", False),
        ("upper", True),
        ("trailing_dot", True),
        ("trailing_dot", False),
        ("upper_trailing_dot", True),
    ],
)
def test_known_host_in_any_spelling_reaches_its_tenant(
    form: str,
    with_port: bool,
    tenant_pair: tuple[TenantView, TenantView],
    live_server: LiveServer,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    for tenant, other in ((first, second), (second, first)):
        host = host_of(tenant)
        wait_for_route(whitelabel_runtime, host)
        spelled = {
            "exact": host,
            "upper": host.upper(),
            "trailing_dot": host + ".",
            "upper_trailing_dot": host.upper() + ".",
        }[form]
        header = f"{spelled}:{live_server.port}" if with_port else spelled
        with host_client(live_server.url, "unused", headers={"host": header}) as client:
            assert client.headers["host"] == header
            assert_serves(client, tenant, other)


# -- the uniform 404 -------------------------------------------------------------------------


def purge_waits_on_drop(runtime: Runtime) -> bool:
    # A new transaction each time: pg_stat_activity is a snapshot per transaction.
    with runtime.db.sync_engine.connect() as probe:
        waiting: int = probe.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'DROP SCHEMA%'"
            )
        ).scalar_one()
    return waiting > 0


@contextmanager
def purge_in_progress(runtime: Runtime, tenant: TenantView) -> Iterator[None]:
    """Hold ``tenant``'s purge half done: its row is locked and ``DROP SCHEMA`` waits on a lock
    this test holds; the purge completes when the block exits."""
    runtime.tenants.delete(tenant.slug)
    failure: list[BaseException] = []

    def purge() -> None:
        try:
            runtime.tenants.purge(tenant.slug)
        except BaseException as exc:  # reported to the test thread below
            failure.append(exc)

    worker = threading.Thread(target=purge, name="purge")
    with runtime.db.sync_engine.connect() as blocker:
        tenant_conn = blocker.execution_options(
            schema_translate_map=translate_map(tenant.schema_name)
        )
        tenant_conn.execute(select(func.count()).select_from(AuditEvent))  # ACCESS SHARE lock
        worker.start()
        deadline = time.monotonic() + 10
        while not purge_waits_on_drop(runtime):
            assert time.monotonic() < deadline, "the purge never reached DROP SCHEMA"
            assert worker.is_alive(), failure
            time.sleep(0.01)
        try:
            yield
        finally:
            blocker.rollback()
    worker.join(30)
    assert not worker.is_alive()
    assert not failure, failure


def make_provisioning(runtime: Runtime, tenant: TenantView) -> None:
    """Put a tenant back in ``provisioning`` (as if its onboarding had not finished)."""
    with runtime.db.sync_engine.begin() as conn:
        conn.execute(
            update(Tenant)
            .where(Tenant.id == tenant.id)
            .values(status=TenantStatus.PROVISIONING.value)
        )
        notify_routing_change(conn, tenant.id)


@pytest.mark.parametrize(
    "reason",
    ["no_such_host", "deleted", "being_purged", "purged", "provisioning", "ipv4", "ipv6"],
)
def test_unroutable_hosts_all_get_the_same_404(
    reason: str,
    tenant_pair: tuple[TenantView, TenantView],
    whitelabel_runtime: Runtime,
    tenant_client: TenantClient,
) -> None:
    victim, bystander = tenant_pair
    runtime = whitelabel_runtime
    assert_serves(tenant_client(victim), victim, bystander)
    assert_serves(tenant_client(bystander), bystander, victim)

    # The reference: a host that never existed.
    with tenant_client(f"never-{secrets.token_hex(6)}.localhost") as nowhere:
        reference = {(m, p): fingerprint(nowhere.request(m, p)) for m in METHODS for p in PATHS}

    def observe(host: str) -> dict[tuple[str, str], Fingerprint]:
        client = tenant_client(host)
        return {(m, p): fingerprint(client.request(m, p)) for m in METHODS for p in PATHS}

    victim_host = host_of(victim)
    if reason == "no_such_host":
        seen = observe(f"nope-{secrets.token_hex(6)}.localhost")
    elif reason == "deleted":
        runtime.tenants.delete(victim.slug)
        wait_for_route(runtime, victim_host, routable=False)
        seen = observe(victim_host)
    elif reason == "being_purged":
        with purge_in_progress(runtime, victim):
            wait_for_route(runtime, victim_host, routable=False)
            seen = observe(victim_host)
        assert observe(victim_host) == seen  # and after the purge committed
    elif reason == "purged":
        runtime.tenants.delete(victim.slug)
        runtime.tenants.purge(victim.slug)
        wait_for_route(runtime, victim_host, routable=False)
        seen = observe(victim_host)
    elif reason == "provisioning":
        make_provisioning(runtime, victim)
        wait_for_route(runtime, victim_host, routable=False)
        seen = observe(victim_host)
    elif reason == "ipv4":
        seen = observe("127.0.0.1")
    else:
        seen = observe("[::1]")

    assert seen == reference
    assert {f.status for f in seen.values()} == {404}
    page = reference[("GET", "/")]
    api = reference[("GET", "/api/v1/x")]
    # Pages share one answer, the API another: a path cannot tell routes from non-routes.
    assert {f for (_, p), f in seen.items() if p != "/api/v1/x"} == {page}
    assert {f for (_, p), f in seen.items() if p == "/api/v1/x"} == {api}
    assert dict(page.headers)["content-type"] == "text/html; charset=utf-8"
    assert dict(api.headers)["content-type"] == "application/json"
    assert json.loads(api.body)["code"] == "not_found"
    for fp in seen.values():
        for leak in (victim.name, victim.slug, victim.schema_name, bystander.name):
            assert leak.encode() not in fp.body
    assert_serves(tenant_client(bystander), bystander, victim)


# -- suspended, platform, health -------------------------------------------------------------


def test_suspended_tenant_answers_503_until_resumed(
    tenant_pair: tuple[TenantView, TenantView],
    whitelabel_runtime: Runtime,
    tenant_client: TenantClient,
) -> None:
    victim, bystander = tenant_pair
    client = tenant_client(victim)
    assert_serves(client, victim, bystander)

    whitelabel_runtime.tenants.suspend(victim.slug)
    wait_for_status(whitelabel_runtime, host_of(victim), TenantStatus.SUSPENDED, timeout=3)
    for method in METHODS:
        for path in PATHS:
            response = client.request(method, path)
            assert response.status_code == 503, (method, path)
            assert response.headers["retry-after"] == "3600"
            assert response.headers["cache-control"] == "no-store"
            assert victim.name in response.text  # its users learn it is their app, paused
            assert victim.schema_name not in response.text
            assert bystander.name not in response.text
    api = client.get("/api/v1/x")
    assert api.headers["content-type"] == "application/json"
    assert api.json()["code"] == "tenant_suspended"
    assert_serves(tenant_client(bystander), bystander, victim)

    whitelabel_runtime.tenants.resume(victim.slug)
    wait_for_status(whitelabel_runtime, host_of(victim), TenantStatus.ACTIVE, timeout=3)
    assert_serves(client, victim, bystander)
    assert_serves(tenant_client(bystander), bystander, victim)


def test_platform_host_serves_no_tenant_page(
    tenant_pair: tuple[TenantView, TenantView],
    whitelabel_runtime: Runtime,
    tenant_client: TenantClient,
) -> None:
    first, second = tenant_pair
    console = tenant_client(whitelabel_runtime.settings.platform_host)
    for path in PATHS:
        response = console.get(path)
        assert response.status_code == 404, path
        for tenant in (first, second):
            assert tenant.name not in response.text
            assert tenant.schema_name not in response.text
    assert_serves(tenant_client(first), first, second)
    assert_serves(tenant_client(second), second, first)


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize(
    "kind", ["tenant", "suspended", "unknown", "ipv4", "ipv6", "platform", "no_port"]
)
def test_health_answers_on_any_host(
    path: str,
    kind: str,
    tenant_pair: tuple[TenantView, TenantView],
    whitelabel_runtime: Runtime,
    live_server: LiveServer,
    tenant_client: TenantClient,
) -> None:
    first, second = tenant_pair
    if kind == "suspended":
        whitelabel_runtime.tenants.suspend(first.slug)
        wait_for_status(whitelabel_runtime, host_of(first), TenantStatus.SUSPENDED, timeout=3)
    host = {
        "tenant": host_of(first),
        "suspended": host_of(first),
        "unknown": f"nope-{secrets.token_hex(6)}.localhost",
        "ipv4": "127.0.0.1",
        "ipv6": "[::1]",
        "platform": whitelabel_runtime.settings.platform_host,
        "no_port": f"nope-{secrets.token_hex(6)}.example.org",
    }[kind]
    if kind == "no_port":
        client = host_client(live_server.url, "unused", headers={"host": host})
    else:
        client = tenant_client(host)
    with client:
        response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}
    assert_serves(tenant_client(second), second, first)


# -- malformed hosts (raw sockets: httpx would not send these) -------------------------------


def test_duplicated_host_header_is_refused(
    tenant_pair: tuple[TenantView, TenantView],
    live_server: LiveServer,
    tenant_client: TenantClient,
) -> None:
    first, second = tenant_pair
    assert_serves(tenant_client(first), first, second)
    port = live_server.port
    pairs = [
        (host_of(first), host_of(first)),  # even the same tenant twice
        (host_of(first), host_of(second)),
        ("nope.localhost", host_of(first)),
    ]
    for a, b in pairs:
        for path in ("/api/v1/x", "/"):
            lines = [f"Host: {a}:{port}\r\n".encode(), f"Host: {b}:{port}\r\n".encode()]
            response = raw_http(port, request_bytes(path, lines))
            assert response.status == 400, (a, b, path, response.body)
            assert first.name.encode() not in response.body
            assert second.name.encode() not in response.body
            if path.startswith("/api/"):
                assert response.headers["content-type"] == "application/json"
                assert json.loads(response.body)["code"] == "invalid_host"
            else:
                assert response.headers["content-type"].startswith("text/html")
    assert_serves(tenant_client(second), second, first)


@pytest.mark.parametrize(
    "host_line",
    [
        b"Host: exa_mple.localhost\r\n",
        b"Host: a..b.localhost\r\n",
        b"Host: -bad.localhost\r\n",
        b"Host: acme.localhost:99999\r\n",
        b"Host: acme.localhost:port\r\n",
        b"Host: [::1\r\n",
        b"Host: user@acme.localhost\r\n",
        b"Host: xn--zz.localhost\r\n",
        b"Host: 256.1.1.1\r\n",
        b"Host: \xff\xfe.localhost\r\n",
        b"Host: " + b"a" * 400 + b"\r\n",
        b"Host: \r\n",
        b"",  # no Host header at all
    ],
)
def test_malformed_host_is_refused_with_400(
    host_line: bytes,
    tenant_pair: tuple[TenantView, TenantView],
    live_server: LiveServer,
    tenant_client: TenantClient,
) -> None:
    first, second = tenant_pair
    for path in ("/api/v1/x", "/", "/no/such/path"):
        response = raw_http(live_server.port, request_bytes(path, [host_line] if host_line else []))
        assert response.status == 400, (path, response.body)
        assert response.headers["cache-control"] == "no-store"
        if path.startswith("/api/"):
            assert json.loads(response.body)["code"] == "invalid_host"
    assert_serves(tenant_client(first), first, second)
    assert_serves(tenant_client(second), second, first)


# -- custom domains --------------------------------------------------------------------------


def test_custom_domain_routes_until_removed(
    tenant_pair: tuple[TenantView, TenantView],
    whitelabel_runtime: Runtime,
    tenant_client: TenantClient,
) -> None:
    owner, bystander = tenant_pair
    runtime = whitelabel_runtime
    domain = f"shop-{secrets.token_hex(4)}.example.org"
    with tenant_client(domain) as before:
        unknown = fingerprint(before.get("/"))
    assert unknown.status == 404

    runtime.tenants.add_domain(owner.slug, domain.upper() + ".")
    wait_for_route(runtime, domain)
    assert runtime.resolver.resolve(domain) == runtime.resolver.resolve(host_of(owner))
    assert_serves(tenant_client(domain), owner, bystander)
    assert_serves(tenant_client(owner), owner, bystander)  # the managed subdomain still works
    assert_serves(tenant_client(bystander), bystander, owner)

    runtime.tenants.remove_domain(owner.slug, domain)
    wait_for_route(runtime, domain, routable=False)
    with tenant_client(domain) as after:
        assert fingerprint(after.get("/")) == unknown
    assert_serves(tenant_client(owner), owner, bystander)
    assert_serves(tenant_client(bystander), bystander, owner)


# -- websockets ------------------------------------------------------------------------------


@websocket("/ws/whoami")
async def whoami(socket: WebSocket[Any, Any, Any], tenant: CurrentTenant) -> None:
    """Reports the tenant from DI and from the context variable (both must be bound)."""
    await socket.accept()
    await socket.send_json({"di": tenant.slug, "context": current_tenant().slug})
    await socket.close()


@get("/api/probe/double", sync_to_thread=False)
def double(n: FromQuery[int], tenant: CurrentTenant) -> dict[str, int]:
    """A route whose bad input makes Litestar itself answer 400."""
    return {"double": 2 * n}


class ProbePlugin(InitPlugin):
    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend([whoami, double])
        return app_config


@pytest.fixture(scope="module")
def probe_server(whitelabel_runtime: Runtime) -> Iterator[tuple[Runtime, LiveServer]]:
    """A second server (its own runtime and routing table) with probe routes."""
    runtime = Runtime.start(whitelabel_runtime.settings)
    server = LiveServer(create_app(runtime=runtime, plugins=[ProbePlugin()], access_log=False))
    server.start()
    yield runtime, server
    server.stop()


def ws_whoami(port: int, host: str) -> dict[str, str]:
    """Open ``/ws/whoami`` on ``host`` (connecting to 127.0.0.1) and read the one message."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ws_connect(
        f"ws://{host}:{port}/ws/whoami", sock=sock, proxy=None, open_timeout=10
    ) as conn:
        message = conn.recv(timeout=10)
    data: dict[str, str] = json.loads(message)
    return data


def test_websocket_is_bound_to_its_tenant_and_refused_elsewhere(
    probe_server: tuple[Runtime, LiveServer],
    tenant_pair: tuple[TenantView, TenantView],
    whitelabel_runtime: Runtime,
) -> None:
    runtime, server = probe_server
    first, second = tenant_pair
    for tenant in (first, second):
        wait_for_route(runtime, host_of(tenant))
        assert ws_whoami(server.port, host_of(tenant)) == {
            "di": tenant.slug,
            "context": tenant.slug,
        }

    whitelabel_runtime.tenants.suspend(second.slug)
    wait_for_status(runtime, host_of(second), TenantStatus.SUSPENDED, timeout=3)
    whitelabel_runtime.tenants.delete(first.slug)
    wait_for_route(runtime, host_of(first), routable=False)
    refused = [
        f"nope-{secrets.token_hex(6)}.localhost",
        "127.0.0.1",
        host_of(first),  # deleted
        host_of(second),  # suspended
    ]
    for host in refused:
        with pytest.raises(InvalidStatus) as caught:
            ws_whoami(server.port, host)
        assert caught.value.response.status_code == 403, host


# -- routing changes made by another process -------------------------------------------------


def test_change_from_another_process_reaches_the_server_within_a_second(
    tenant_pair: tuple[TenantView, TenantView],
    whitelabel_runtime: Runtime,
    tenant_client: TenantClient,
) -> None:
    victim, bystander = tenant_pair
    runtime = whitelabel_runtime
    client = tenant_client(victim)
    assert_serves(client, victim, bystander)

    with cli_change(runtime, "tenants", "suspend", victim.slug) as line:
        assert line == f"{victim.slug}: suspended"
        elapsed = wait_for_status(
            runtime, host_of(victim), TenantStatus.SUSPENDED, timeout=SIGNAL_DEADLINE
        )
    assert elapsed < SIGNAL_DEADLINE
    assert client.get("/").status_code == 503
    assert runtime.resolver.resolve(host_of(bystander)) is not None
    assert_serves(tenant_client(bystander), bystander, victim)

    with cli_change(runtime, "tenants", "delete", victim.slug) as line:
        assert line == f"{victim.slug}: deleted"
        elapsed = timed_wait_for_route(
            runtime, host_of(victim), routable=False, timeout=SIGNAL_DEADLINE
        )
    assert elapsed < SIGNAL_DEADLINE
    assert client.get("/").status_code == 404
    assert_serves(tenant_client(bystander), bystander, victim)


@pytest.fixture
def redis_server(whitelabel_runtime: Runtime) -> Iterator[tuple[Runtime, LiveServer]]:
    """A server whose routing table listens on Redis pub/sub only (not PostgreSQL NOTIFY)."""
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
    runtime = Runtime.start(replace(whitelabel_runtime.settings, redis_url=REDIS_URL))
    server = LiveServer(create_app(runtime=runtime, access_log=False)).start()
    yield runtime, server
    server.stop()


def test_change_from_another_process_over_redis_reaches_the_server_within_a_second(
    redis_server: tuple[Runtime, LiveServer],
) -> None:
    runtime, server = redis_server
    factory = TenantFactory(runtime)  # its changes are published on Redis as well
    try:
        victim, bystander = factory(), factory()
        for tenant in (victim, bystander):
            wait_for_route(runtime, host_of(tenant))
        client = host_client(server.url, host_of(victim))
        other = host_client(server.url, host_of(bystander))
        with client, other:
            assert_serves(client, victim, bystander)
            assert_serves(other, bystander, victim)

            with cli_change(
                runtime, "tenants", "suspend", victim.slug, redis_url=REDIS_URL
            ) as line:
                assert line == f"{victim.slug}: suspended"
                elapsed = wait_for_status(
                    runtime, host_of(victim), TenantStatus.SUSPENDED, timeout=SIGNAL_DEADLINE
                )
            assert elapsed < SIGNAL_DEADLINE
            assert client.get("/").status_code == 503
            assert_serves(other, bystander, victim)

            with cli_change(runtime, "tenants", "delete", victim.slug, redis_url=REDIS_URL) as line:
                assert line == f"{victim.slug}: deleted"
                elapsed = timed_wait_for_route(
                    runtime, host_of(victim), routable=False, timeout=SIGNAL_DEADLINE
                )
            assert elapsed < SIGNAL_DEADLINE
            assert client.get("/").status_code == 404
            assert_serves(other, bystander, victim)
    finally:
        factory.cleanup()


def test_other_bad_requests_are_validation_errors(
    probe_server: tuple[Runtime, LiveServer], tenant_pair: tuple[TenantView, TenantView]
) -> None:
    """Only a malformed host is answered as ``invalid_host``; a bad parameter is not."""
    runtime, server = probe_server
    first, second = tenant_pair
    for tenant in (first, second):
        wait_for_route(runtime, host_of(tenant))
        with host_client(server.url, host_of(tenant)) as client:
            assert client.get("/api/probe/double", params={"n": "21"}).json() == {"double": 42}
            response = client.get("/api/probe/double", params={"n": "many"})
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "validation_failed"
        assert body["message"] == "The request is not valid."
        assert [item["key"] for item in body["detail"]] == ["n"]
    bad_host = raw_http(
        server.port, request_bytes("/api/probe/double?n=many", [b"Host: \xff.localhost\r\n"])
    )
    assert bad_host.status == 400
    assert bad_host.headers["content-type"].startswith("application/json")
    assert json.loads(bad_host.body)["code"] == "invalid_host"
