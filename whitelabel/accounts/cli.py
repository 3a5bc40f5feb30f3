"""Commands: ``whitelabel users create`` (scripting and break-glass access), and the first
owner's invitation of ``whitelabel tenants create --admin-email``.

Both run in the tenant's schema through a session of their own (``tenant_session``) in one
transaction: the user or the invitation, its audit record and its mail (outbox) commit together.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenants.schemas import TenantView
from whitelabel.accounts.links import INVITATION_LIFETIME, create_invitation
from whitelabel.accounts.models import ROLES, User
from whitelabel.accounts.platform_service import PLATFORM_CLI, create_user
from whitelabel.accounts.service import normalise_email
from whitelabel.cli import get_runtime
from whitelabel.runtime import Runtime
from whitelabel.urls import tenant_base_url

__all__ = ["invite_owner", "read_password", "users_group"]

T = TypeVar("T")
#: Longer input on stdin is refused unread (a password is at most 128 characters).
_MAX_STDIN = 4096


def run_in_tenant(
    runtime: Runtime, tenant: TenantView, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """Run ``work(session)`` in one transaction of a session bound to ``tenant``; commit it."""

    async def main() -> T:
        try:
            async with runtime.db.tenant_session(tenant.context()) as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            # The async pool belongs to this event loop, which ends here.
            await runtime.db.async_engine.dispose()

    return asyncio.run(main())


def read_password() -> str:
    """The password from stdin: prompted twice without echo on a terminal, else the whole input
    with its final line break removed (``echo "$PW" | whitelabel users create ...``)."""
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    raw = sys.stdin.read(_MAX_STDIN + 1)
    if len(raw) > _MAX_STDIN:
        raise click.UsageError("the password on stdin is too long")
    return raw.removesuffix("\n").removesuffix("\r")


def invite_owner(runtime: Runtime, tenant: TenantView, email: str) -> str | None:
    """Invite ``email`` as an owner of ``tenant`` (mailed through the outbox); returns the link,
    or ``None`` when the address is already a user there (nothing is changed then).

    Raises:
        InvalidEmail: the address is malformed.
    """
    address = normalise_email(email)

    async def work(db: AsyncSession) -> str | None:
        if await db.scalar(select(User.id).where(User.email == address)) is not None:
            return None
        _, link = await create_invitation(
            db,
            tenant=tenant.context(),
            email=address,
            role="owner",
            invited_by=None,
            base_url=tenant_base_url(runtime.settings, tenant),
            ip=None,
            settings=runtime.settings,
        )
        return link

    return run_in_tenant(runtime, tenant, work)


@click.group("users")
def users_group() -> None:
    """Create users in a tenant (scripting and break-glass access)."""


@users_group.command("create")
@click.argument("slug")
@click.argument("email")
@click.option(
    "--role", type=click.Choice(ROLES), default="member", show_default=True, help="Their role."
)
@click.option(
    "--display-name", default=None, help="With --password-stdin; default: the email's local part."
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from stdin (prompted without echo on a terminal).",
)
@click.pass_context
def create(
    ctx: click.Context,
    slug: str,
    email: str,
    role: str,
    display_name: str | None,
    password_stdin: bool,
) -> None:
    """Create user EMAIL in tenant SLUG.

    With --password-stdin the account is made at once with that password (audited as
    user.created_by_platform, actor platform-cli). Without it, EMAIL is invited with the role:
    the link is printed and mailed, and the account exists once they accept it.
    """
    if display_name is not None and not password_stdin:
        raise click.UsageError("--display-name needs --password-stdin (invitees choose their own)")
    address = normalise_email(email)  # refused before anything is read or looked up
    runtime = get_runtime(ctx)
    tenant = runtime.tenants.get(slug)
    if password_stdin:
        password = read_password()
        user = run_in_tenant(
            runtime,
            tenant,
            lambda db: create_user(
                db,
                email=address,
                password=password,
                role=role,
                display_name=display_name,
                actor=PLATFORM_CLI,
            ),
        )
        click.echo(f"created {user.email} in {tenant.slug} as {user.role} (id {user.id})")
        click.echo(f"sign in at {tenant_base_url(runtime.settings, tenant)}/login")
        return

    async def invite(db: AsyncSession) -> str:
        _, link = await create_invitation(
            db,
            tenant=tenant.context(),
            email=address,
            role=role,
            invited_by=None,
            base_url=tenant_base_url(runtime.settings, tenant),
            ip=None,
            settings=runtime.settings,
        )
        return link

    link = run_in_tenant(runtime, tenant, invite)
    click.echo(
        f"invited {address} to {tenant.slug} as {role} (mailed; valid "
        f"{INVITATION_LIFETIME.days} days):"
    )
    click.echo(link)
