"""``whitelabel demo``: embedded PostgreSQL, migrations, two example tenants with their users,
a server."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import click
from sqlalchemy import select

from tenants.fleet import upgrade_fleet
from whitelabel.accounts.models import User
from whitelabel.accounts.platform_service import create_user
from whitelabel.runtime import Runtime, demo_secret
from whitelabel.settings import Settings
from whitelabel.urls import tenant_base_url

__all__ = ["DEMO_PASSWORD", "DEMO_TENANTS", "DEMO_USERS", "demo_email", "run_demo", "seed"]

DEMO_TENANTS = (
    ("campus", "Northfield University", "campus"),
    ("acme", "Acme Corporation", "corporate"),
)


#: Every demo user's password: the demo is for trying things on your own machine, never a
#: deployment (its secret key is generated and its URLs are plain http).
DEMO_PASSWORD = "demo-password"  # noqa: S105  (public on purpose: printed by demo)
#: Each demo tenant's users: (local part of the email, display name, role).
DEMO_USERS = (
    ("olivia", "Olivia Owner", "owner"),
    ("adam", "Adam Admin", "admin"),
    ("ada", "Ada Lovelace", "member"),
    ("grace", "Grace Hopper", "member"),
)


def demo_email(local: str, slug: str) -> str:
    """A demo user's address: ``{local}@{slug}.example`` (a reserved top-level domain)."""
    return f"{local}@{slug}.example"


async def seed_users(runtime: Runtime, slugs: tuple[str, ...]) -> int:
    """Give each tenant of ``slugs`` the :data:`DEMO_USERS` (those missing); returns how many
    were created. Idempotent: existing addresses are left as they are."""
    created = 0
    try:
        for slug in slugs:
            tenant = runtime.tenants.get(slug).context()
            async with runtime.db.tenant_session(tenant) as db:
                for local, name, role in DEMO_USERS:
                    email = demo_email(local, slug)
                    if await db.scalar(select(User.id).where(User.email == email)) is None:
                        await create_user(
                            db,
                            email=email,
                            password=DEMO_PASSWORD,
                            role=role,
                            display_name=name,
                            actor="demo",
                        )
                        created += 1
                await db.commit()
    finally:
        await runtime.db.async_engine.dispose()  # its connections belong to this event loop
    return created


def seed(runtime: Runtime) -> None:
    """Create the demo tenants and their users (idempotent: a second run changes nothing)."""
    for slug, name, theme in DEMO_TENANTS:
        runtime.tenants.create(slug, name, theme=theme, actor="demo")
    asyncio.run(seed_users(runtime, tuple(slug for slug, _, _ in DEMO_TENANTS)))


def run_demo(*, host: str = "127.0.0.1", port: int = 8000, serve: bool = True) -> None:
    """Prepare everything and serve it; prints the URLs first."""
    settings = Settings.from_env(allow_insecure_secret=True)
    if settings.secret_key is None:
        settings = replace(settings, secret_key=demo_secret(settings.data_dir))
    # Links the demo prints or mails point at its own plain-http server.
    settings = replace(settings, public_url_scheme="http", public_port=port)
    runtime = Runtime.start(settings)
    report = upgrade_fleet(runtime.db.sync_engine, schema_pool=runtime.settings.schema_pool)
    if not report.ok:
        raise click.ClickException(f"{len(report.failed)} tenant schema(s) failed to migrate")
    seed(runtime)
    base = runtime.settings.base_domain
    where = (
        "embedded PostgreSQL in " + str(settings.data_dir)
        if settings.database_url is None
        else "DATABASE_URL"
    )
    click.echo(f"whitelabel demo on {where}")
    for slug, name, _ in DEMO_TENANTS:
        click.echo(f"  {name:<24} http://{slug}.{base}:{port}/")
    click.echo(f'Demo logins (password "{DEMO_PASSWORD}" for all):')
    for slug, name, _ in DEMO_TENANTS:
        login = tenant_base_url(runtime.settings, runtime.tenants.get(slug)) + "/login"
        click.echo(f"  {name:<24} {login}")
        for local, _, role in DEMO_USERS:
            click.echo(f"    {role:<7} {demo_email(local, slug)}")
    click.echo("Each page shows the database schema that served it.")
    if not serve:
        runtime.db.sync_engine.dispose()
        return
    click.echo("Ctrl+C stops the server.")
    import uvicorn

    from whitelabel.app import create_app

    os.environ.setdefault("WHITELABEL_SECRET_KEY", runtime.settings.secret_key or "")
    app = create_app(runtime=runtime)
    uvicorn.run(app, host=host, port=port, log_config=None)
