"""``whitelabel sso rotate-secrets | refresh-metadata | prune`` and the background metadata
refresher, against real PostgreSQL, a plain-http metadata server on loopback, and two tenants
(nothing done for one reaches the other).

Commands run through click's ``CliRunner`` with their own environment (each builds its own
runtime). Connections are made through the service, as the admin API makes them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sso import service
from sso.models import SsoConnection, SsoFlow, SsoReplay, SsoSpKey
from sso.plugin import SsoPlugin
from sso.refresh import MetadataRefresher
from sso.secrets import SecretBox, secret_context
from tenants.schemas import TenantView
from tests.integration.sso.admin_support import (
    DocumentServer,
    audit_rows,
    document_server,
    idp_key,
    idp_metadata,
)
from tests.integration.tenancy_support import cli_env
from whitelabel.accounts.service import Client
from whitelabel.cli import cli
from whitelabel.db.base import utcnow
from whitelabel.db.engine import Database
from whitelabel.runtime import Runtime
from whitelabel.settings import Settings

T = TypeVar("T")
OLD = "old-secret-key-" + "o" * 40
NEW = "new-secret-key-" + "n" * 40
SECRET = "client-secret-9d1c"

if "sso" not in cli.commands:  # whitelabel/cli.py registers the plugins' commands at import
    SsoPlugin().on_cli_init(cli)


def invoke(runtime: Runtime, *args: str, **env: str) -> Result:
    environment = cli_env(runtime.settings, **env)
    return CliRunner(env=environment).invoke(cli, ["sso", *args], catch_exceptions=False)


def run(settings: Settings, tenant: TenantView, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``work`` in one committed transaction of ``tenant``'s schema."""

    async def scenario() -> T:
        db = Database(settings.sqlalchemy_url, pool_size=1)
        try:
            async with db.tenant_session(tenant.context()) as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await db.dispose()

    return asyncio.run(scenario())


def context(settings: Settings, tenant: TenantView) -> service.ConnectionContext:
    return service.ConnectionContext(
        tenant=tenant.context(),
        base_url=f"http://{tenant.primary_host}",
        settings=settings,
        box=SecretBox(settings),
        actor=uuid.uuid4(),
        client=Client(ip="203.0.113.7", user_agent="tests"),
    )


def create(settings: Settings, tenant: TenantView, body: dict[str, Any]) -> SsoConnection:
    return run(
        settings,
        tenant,
        lambda db: service.create_connection(db, body, context(settings, tenant)),
    )


def stored(settings: Settings, tenant: TenantView) -> list[tuple[Any, ...]]:
    """Every connection's sealed secret and config, and every SP key's sealed private key."""

    async def read(db: AsyncSession) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = [
            (c.id, c.client_secret, c.config, c.config_version)
            for c in await db.scalars(select(SsoConnection).order_by(SsoConnection.id))
        ]
        keys = await db.scalars(select(SsoSpKey).order_by(SsoSpKey.id))
        return rows + [(k.id, k.private_key) for k in keys]

    return run(settings, tenant, read)


@pytest.fixture
def loopback(whitelabel_runtime: Runtime) -> Settings:
    return replace(whitelabel_runtime.settings, sso_allow_loopback=True)


@pytest.fixture
def docs() -> Iterator[DocumentServer]:
    with document_server() as running:
        yield running


def oidc_row(box: SecretBox, tenant: TenantView) -> Callable[[AsyncSession], Awaitable[Any]]:
    """Add an OIDC connection whose client secret ``box`` seals (as an older release did)."""

    async def add(db: AsyncSession) -> uuid.UUID:
        connection = SsoConnection(
            id=uuid.uuid4(), type="oidc", name="Staff", config={"issuer": "https://x.test"}
        )
        where = secret_context(tenant.id, connection.id, "client_secret")
        connection.client_secret = box.seal(SECRET, context=where)
        db.add(connection)
        return connection.id

    return add


def test_rotate_secrets_reseals_what_a_previous_key_sealed(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    first, second = tenant_pair
    old = replace(whitelabel_runtime.settings, secret_key=OLD, previous_secret_keys=())
    new = replace(whitelabel_runtime.settings, secret_key=NEW, previous_secret_keys=())
    oidc_id = run(old, first, oidc_row(SecretBox(old), first))
    saml = create(old, first, {"type": "saml", "name": "Campus"})  # its SP key under OLD
    run(new, second, oidc_row(SecretBox(new), second))  # already under the current key
    before = stored(new, second)

    refused = invoke(whitelabel_runtime, "rotate-secrets", WHITELABEL_SECRET_KEY=NEW)
    assert refused.exit_code == 1, refused.output
    assert "re-sealed 0 client secrets and 0 SP keys; 2 unreadable" in refused.output

    env = {"WHITELABEL_SECRET_KEY": NEW, "WHITELABEL_PREVIOUS_SECRET_KEYS": OLD}
    result = invoke(whitelabel_runtime, "rotate-secrets", **env)
    assert result.exit_code == 0, result.output
    assert "re-sealed 1 client secrets and 1 SP keys; 0 unreadable" in result.output

    only_new = SecretBox(new)  # no previous key: everything must open with the current one

    async def check(db: AsyncSession) -> None:
        connection = await db.get(SsoConnection, oidc_id)
        assert connection is not None and connection.client_secret is not None
        where = secret_context(first.id, oidc_id, "client_secret")
        assert only_new.open(connection.client_secret, context=where) == SECRET
        (key,) = await db.scalars(select(SsoSpKey).where(SsoSpKey.connection_id == saml.id))
        where = secret_context(first.id, saml.id, f"sp_key:{key.id}")
        assert "PRIVATE KEY" in only_new.open(key.private_key, context=where)

    run(new, first, check)
    assert stored(new, second) == before
    again = invoke(whitelabel_runtime, "rotate-secrets", **env)
    assert "re-sealed 0 client secrets and 0 SP keys; 0 unreadable" in again.output
    resealed = [d for a, _, d in audit_rows(whitelabel_runtime, first)
                if a == "sso.secrets_resealed"]  # fmt: skip
    assert resealed == [{"client_secrets": 1, "sp_keys": 1}]
    assert [a for a, _, _ in audit_rows(whitelabel_runtime, second)] == []


def test_refresh_metadata_command(
    whitelabel_runtime: Runtime,
    tenant_pair: tuple[TenantView, TenantView],
    loopback: Settings,
    docs: DocumentServer,
) -> None:
    first, second = tenant_pair
    docs.documents["/one.xml"] = docs.documents["/two.xml"] = idp_metadata().encode()
    one = create(
        loopback, first, {"type": "saml", "name": "A", "idp_metadata_url": docs.url("/one.xml")}
    )
    create(
        loopback, second, {"type": "saml", "name": "B", "idp_metadata_url": docs.url("/two.xml")}
    )
    create(loopback, first, {"type": "saml", "name": "Pasted", "idp_metadata_xml": idp_metadata()})
    theirs = stored(loopback, second)
    rolled = (idp_key("idp-next").cert_pem, idp_key("idp").cert_pem)
    docs.documents["/one.xml"] = idp_metadata(certs=rolled).encode()
    loop = {"WHITELABEL_SSO_ALLOW_LOOPBACK": "on"}

    result = invoke(whitelabel_runtime, "refresh-metadata", first.slug, **loop)
    assert result.exit_code == 0, result.output
    assert f"{first.slug} {one.id} changed" in result.output
    assert "1 changed, 0 unchanged, 0 failed, 0 errors" in result.output
    assert docs.hits.count("/two.xml") == 1  # only at creation: the other tenant was not asked
    assert stored(loopback, second) == theirs

    del docs.documents["/one.xml"]
    for _ in range(2):
        failed = invoke(whitelabel_runtime, "refresh-metadata", **loop)
        assert failed.exit_code == 1, failed.output
        assert f"{first.slug} {one.id} failed: " in failed.output
        assert f"{second.slug} " in failed.output  # every tenant, the other one unchanged
    (row,) = [r for r in stored(loopback, first) if r[0] == one.id]
    config = row[2]
    assert [c["pem"] for c in config["idp"]["certs"]] == list(rolled)  # the last good values
    assert config["metadata_error"].endswith("(fetch_bad_status)")
    assert any("refresh failed" in w for w in config["warnings"])
    actions = [a for a, _, _ in audit_rows(whitelabel_runtime, first)]
    assert actions.count("sso.metadata_changed") == 1
    assert actions.count("sso.metadata_refresh_failed") == 1  # the same error is noted once
    assert [a for a, _, _ in audit_rows(whitelabel_runtime, second)] == ["sso.connection_created"]


def test_prune_deletes_expired_flows_and_replays_of_every_tenant(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    settings = whitelabel_runtime.settings
    now = utcnow()
    for tenant in tenant_pair:
        connection = create(settings, tenant, {"type": "saml", "name": "Campus"})

        async def add(db: AsyncSession, cid: uuid.UUID = connection.id) -> None:
            for handle, expires in (("old", now - timedelta(hours=1)), ("live", now)):
                db.add(SsoFlow(connection_id=cid, kind="saml", handle=f"{handle}-{cid}",
                               browser="", expires_at=expires))  # fmt: skip
                db.add(SsoReplay(connection_id=cid, assertion_id=handle,
                                 expires_at=expires + timedelta(minutes=30)))  # fmt: skip

        run(settings, tenant, add)
    result = invoke(whitelabel_runtime, "prune")
    assert result.exit_code == 0, result.output
    assert "removed 4 expired flows and replay entries" in result.output

    async def left(db: AsyncSession) -> tuple[int, int]:
        flows = await db.scalar(select(func.count()).select_from(SsoFlow))
        replays = await db.scalar(select(func.count()).select_from(SsoReplay))
        return flows or 0, replays or 0

    assert [run(settings, tenant, left) for tenant in tenant_pair] == [(1, 1), (1, 1)]


def test_background_refresher_refreshes_stale_metadata_and_survives_errors(
    whitelabel_runtime: Runtime,
    tenant_pair: tuple[TenantView, TenantView],
    loopback: Settings,
    docs: DocumentServer,
) -> None:
    first, second = tenant_pair
    docs.documents["/stale.xml"] = docs.documents["/fresh.xml"] = idp_metadata().encode()
    stale = create(
        loopback, first, {"type": "saml", "name": "S", "idp_metadata_url": docs.url("/stale.xml")}
    )
    create(
        loopback, second, {"type": "saml", "name": "F", "idp_metadata_url": docs.url("/fresh.xml")}
    )

    async def age(db: AsyncSession) -> None:
        connection = await db.get(SsoConnection, stale.id)
        assert connection is not None
        fetched = (utcnow() - timedelta(hours=7)).isoformat()
        connection.config = {**connection.config, "metadata_fetched_at": fetched}

    run(loopback, first, age)
    docs.documents["/stale.xml"] = idp_metadata(certs=(idp_key("idp-next").cert_pem,)).encode()
    calls: list[int] = []

    def tenants() -> list[TenantView]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the platform database is away")  # the next pass still runs
        return [first, second]

    async def scenario() -> int:
        db = Database(loopback.sqlalchemy_url, pool_size=2)
        refresher = MetadataRefresher(db, loopback, tenants, check_interval=timedelta(seconds=0.05))
        try:
            await refresher.start()
            for _ in range(200):
                if refresher.passes >= 3:
                    break
                await asyncio.sleep(0.05)
            await refresher.stop()
            return refresher.passes
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) >= 3
    assert docs.hits.count("/stale.xml") == 2  # created, then refreshed once (then fresh)
    assert docs.hits.count("/fresh.xml") == 1  # fetched at creation: not due
    (row,) = [r for r in stored(loopback, first) if r[0] == stale.id]
    assert [c["pem"] for c in row[2]["idp"]["certs"]] == [idp_key("idp-next").cert_pem]
    assert row[3] == 2
    changed = [(a, actor) for a, actor, _ in audit_rows(whitelabel_runtime, first)]
    assert ("sso.metadata_changed", "sso-refresh") in changed
