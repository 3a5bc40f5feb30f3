"""Commands: ``whitelabel sso rotate-secrets``, ``refresh-metadata [SLUG]`` and ``prune``.

Each visits every tenant (or one), each tenant in transactions of its own schema, and runs in
one event loop whose database pool is closed at the end. One tenant's failure is reported and
the others still run; the exit status is 1 when anything failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sso.flows import prune_expired
from sso.models import SsoConnection, SsoSpKey
from sso.refresh import RefreshReport, refresh_tenants
from sso.secrets import SecretBox, SecretUnreadable, secret_context
from tenants.schemas import TenantView
from whitelabel.accounts.platform_service import PLATFORM_CLI
from whitelabel.cli import get_runtime
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import record_event

__all__ = ["ResealCount", "reseal_secrets", "sso_group"]

T = TypeVar("T")


@dataclass(slots=True)
class ResealCount:
    """Secrets of one tenant re-sealed under the current key, and those that did not open."""

    client_secrets: int = 0
    sp_keys: int = 0
    unreadable: int = 0


def _reseal(box: SecretBox, sealed: str, where: str, count: ResealCount) -> str | None:
    if box.is_current(sealed):
        return None
    try:
        return box.seal(box.open(sealed, context=where), context=where)
    except SecretUnreadable:
        count.unreadable += 1
        return None


async def reseal_secrets(db: AsyncSession, tenant: TenantView, box: SecretBox) -> ResealCount:
    """Re-seal under the current key every OIDC client secret and SP private key of ``tenant``
    sealed under a previous one (audited as ``sso.secrets_resealed`` when any was). Values
    already under the current key are left alone, so a second run changes nothing."""
    count = ResealCount()
    for connection in await db.scalars(
        select(SsoConnection).where(SsoConnection.client_secret.is_not(None))
    ):
        where = secret_context(tenant.id, connection.id, "client_secret")
        fresh = _reseal(box, connection.client_secret or "", where, count)
        if fresh is not None:
            connection.client_secret = fresh
            count.client_secrets += 1
    for key in await db.scalars(select(SsoSpKey)):
        where = secret_context(tenant.id, key.connection_id, f"sp_key:{key.id}")
        fresh = _reseal(box, key.private_key, where, count)
        if fresh is not None:
            key.private_key = fresh
            count.sp_keys += 1
    if count.client_secrets or count.sp_keys:
        record_event(
            db, "sso.secrets_resealed", actor=PLATFORM_CLI, ip=None,
            detail={"client_secrets": count.client_secrets, "sp_keys": count.sp_keys},
        )  # fmt: skip
    return count


def _tenants(runtime: Runtime, slug: str | None) -> list[TenantView]:
    return [runtime.tenants.get(slug)] if slug else runtime.tenants.list()


def _each_tenant(
    runtime: Runtime,
    tenants: Sequence[TenantView],
    work: Callable[[AsyncSession, TenantView], Awaitable[T]],
) -> list[tuple[TenantView, T | Exception]]:
    """``work`` in one committed transaction per tenant; an exception is kept, not raised."""

    async def main() -> list[tuple[TenantView, T | Exception]]:
        results: list[tuple[TenantView, T | Exception]] = []
        try:
            for tenant in tenants:
                try:
                    async with runtime.db.tenant_session(tenant.context()) as session:
                        result = await work(session, tenant)
                        await session.commit()
                    results.append((tenant, result))
                except Exception as exc:  # reported; the other tenants still run
                    results.append((tenant, exc))
            return results
        finally:
            await runtime.db.async_engine.dispose()  # the pool belongs to this event loop

    return asyncio.run(main())


def _failed(tenant: TenantView, exc: Exception) -> None:
    click.echo(f"{tenant.slug}: failed: {type(exc).__name__}: {exc}", err=True)


@click.group("sso")
def sso_group() -> None:
    """Maintain SSO connections: secrets at rest, IdP metadata, expired sign-in state."""


@sso_group.command("rotate-secrets")
@click.pass_context
def rotate_secrets(ctx: click.Context) -> None:
    """Re-seal SSO secrets under the current WHITELABEL_SECRET_KEY.

    OIDC client secrets and SAML SP private keys sealed under a key of
    WHITELABEL_PREVIOUS_SECRET_KEYS are re-encrypted under the current key, in every tenant.
    Safe to run again; once it reports nothing unreadable, the previous keys can go.
    """
    runtime = get_runtime(ctx)
    box = SecretBox(runtime.settings)
    total, bad = ResealCount(), 0
    for tenant, result in _each_tenant(
        runtime, _tenants(runtime, None), lambda db, t: reseal_secrets(db, t, box)
    ):
        if isinstance(result, Exception):
            _failed(tenant, result)
            bad += 1
            continue
        total.client_secrets += result.client_secrets
        total.sp_keys += result.sp_keys
        total.unreadable += result.unreadable
        if result.unreadable:
            click.echo(f"{tenant.slug}: {result.unreadable} secrets do not open", err=True)
    click.echo(
        f"re-sealed {total.client_secrets} client secrets and {total.sp_keys} SP keys; "
        f"{total.unreadable} unreadable"
    )
    if bad or total.unreadable:
        ctx.exit(1)


@sso_group.command("refresh-metadata")
@click.argument("slug", required=False)
@click.pass_context
def refresh_metadata(ctx: click.Context, slug: str | None) -> None:
    """Fetch the IdP metadata of every SAML connection that has a metadata URL, now.

    With SLUG, only that tenant's. Changes and errors are stored as the background refresh
    stores them (and audited); the exit status is 1 when a fetch failed.
    """
    runtime = get_runtime(ctx)
    tenants = _tenants(runtime, slug)

    async def main() -> RefreshReport:
        try:
            return await refresh_tenants(
                runtime.db, tenants, runtime.settings, stale_after=None, actor=PLATFORM_CLI
            )
        finally:
            await runtime.db.async_engine.dispose()  # the pool belongs to this event loop

    report = asyncio.run(main())
    for tenant_slug, connection_id, outcome in report.results:
        reason = f": {outcome.message} ({outcome.code})" if outcome.code else ""
        click.echo(f"{tenant_slug} {connection_id} {outcome.status}{reason}")
    click.echo(
        f"{report.count('changed')} changed, {report.count('unchanged')} unchanged, "
        f"{report.count('failed')} failed, {report.errors} errors"
    )
    if report.count("failed") or report.errors:
        ctx.exit(1)


@sso_group.command("prune")
@click.pass_context
def prune(ctx: click.Context) -> None:
    """Delete expired sign-in flows and SAML replay-cache entries of every tenant."""
    runtime = get_runtime(ctx)
    removed, bad = 0, 0
    for tenant, result in _each_tenant(
        runtime, _tenants(runtime, None), lambda db, _: prune_expired(db)
    ):
        if isinstance(result, Exception):
            _failed(tenant, result)
            bad += 1
        else:
            removed += result
    click.echo(f"removed {removed} expired flows and replay entries")
    if bad:
        ctx.exit(1)
