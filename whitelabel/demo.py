"""``whitelabel demo``: embedded PostgreSQL, migrations, two example tenants with their users,
a server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import click
from sqlalchemy import select

from tenants.fleet import upgrade_fleet
from whitelabel.accounts.models import User
from whitelabel.accounts.platform_service import create_user
from whitelabel.runtime import Runtime, demo_secret
from whitelabel.settings import Settings
from whitelabel.urls import tenant_base_url

__all__ = [
    "DEMO_BRANDS",
    "DEMO_LOGOS",
    "DEMO_PASSWORD",
    "DEMO_TENANTS",
    "DEMO_USERS",
    "demo_email",
    "run_demo",
    "seed",
    "seed_brands",
]

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


#: Each demo tenant's published brand: visibly different apps on the two built-in themes.
DEMO_BRANDS: dict[str, dict[str, Any]] = {
    "campus": {
        "app_name": "Northfield Connect",
        "tagline": "Study partners, mentors and societies at Northfield University.",
        "email_sender_name": "Northfield Connect",
        "support_url": "https://campus.example/help",
        "copy": {"hero": "Meet the people of **Northfield**: find a study partner this week."},
    },
    "acme": {
        "app_name": "Acme Network",
        "tagline": "Meet the people behind every Acme project.",
        "tokens": {"primary": "#c2410c", "accent": "#f59e0b"},
        "font": "humanist",
        "email_sender_name": "Acme Network",
        "support_url": "https://acme.example/support",
        "copy": {"hero": "Every project starts with a conversation. **Start yours.**"},
    },
}
#: Each demo tenant's logo (an SVG the upload pipeline sanitises like any other).
DEMO_LOGOS: dict[str, str] = {
    "campus": '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="120" '
    'viewBox="0 0 120 120"><rect width="120" height="120" rx="10" fill="#1b3a6b"/>'
    '<path d="M20 48 60 24l40 24-40 24z" fill="#c9a227"/>'
    '<rect x="34" y="62" width="52" height="30" fill="#c9a227"/></svg>',
    "acme": '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="120" '
    'viewBox="0 0 120 120"><circle cx="60" cy="60" r="58" fill="#c2410c"/>'
    '<path d="M60 22 96 94H24z" fill="#ffffff"/></svg>',
}


async def seed_brands(
    runtime: Runtime,
    slugs: tuple[str, ...],
    *,
    brands: Mapping[str, Mapping[str, Any]] = DEMO_BRANDS,
    logos: Mapping[str, str] = DEMO_LOGOS,
) -> int:
    """Publish ``brands[slug]`` (and ``logos[slug]``, an SVG) for each tenant of ``slugs`` that
    never published a brand; returns how many were published. Idempotent: a tenant with a
    published version is left as it is."""
    from themes import service as themes

    published = 0
    try:
        for slug in slugs:
            tenant = runtime.tenants.get(slug).context()
            if tenant.theme_version > 0 or slug not in brands:
                continue
            async with runtime.db.tenant_session(tenant) as db:
                await themes.update_draft(db, tenant, "demo", dict(brands[slug]))
                if slug in logos:
                    await themes.set_asset(db, tenant, "demo", "logo", logos[slug].encode())
                await themes.publish(db, tenant, "demo", redis_url=runtime.settings.redis_url)
                published += 1
    finally:
        await runtime.db.async_engine.dispose()  # its connections belong to this event loop
    return published


def seed(runtime: Runtime) -> None:
    """Create the demo tenants, their users and their brands (idempotent: a second run changes
    nothing)."""
    for slug, name, theme in DEMO_TENANTS:
        runtime.tenants.create(slug, name, theme=theme, actor="demo")
    slugs = tuple(slug for slug, _, _ in DEMO_TENANTS)
    asyncio.run(seed_users(runtime, slugs))
    asyncio.run(seed_brands(runtime, slugs))


def run_demo(*, host: str = "127.0.0.1", port: int = 8000, serve: bool = True) -> None:
    """Prepare everything and serve it; prints the URLs first."""
    settings = Settings.from_env(allow_insecure_secret=True)
    if settings.secret_key is None:
        settings = replace(settings, secret_key=demo_secret(settings.data_dir))
    # Links the demo prints or mails point at its own plain-http server; its identity provider
    # runs on this machine over plain http (whitelabel.demo_sso).
    settings = replace(
        settings, public_url_scheme="http", public_port=port, sso_allow_loopback=True
    )
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
    from whitelabel.demo_sso import NAME, start_demo_idp

    slug, name, _ = DEMO_TENANTS[0]
    idp = start_demo_idp(runtime, slug, port + 1)
    if isinstance(idp, str):
        click.echo(f"Single sign-on demo: off ({idp}).")
    else:
        login = tenant_base_url(runtime.settings, runtime.tenants.get(slug)) + "/login"
        click.echo(
            f'Single sign-on: on {login} choose "Sign in with {NAME}" (a real OpenID '
            f"Provider at {idp.issuer}); any login works there: ada signs in as "
            "ada@example.test, a new member."
        )
    click.echo("Ctrl+C stops the server.")
    import uvicorn

    from whitelabel.app import create_app

    os.environ.setdefault("WHITELABEL_SECRET_KEY", runtime.settings.secret_key or "")
    app = create_app(runtime=runtime)
    try:
        uvicorn.run(app, host=host, port=port, log_config=None)
    finally:
        if not isinstance(idp, str):
            idp.stop()
