"""``whitelabel demo``: embedded PostgreSQL, migrations, two example tenants, a server."""

from __future__ import annotations

import os
from dataclasses import replace

import click

from tenants.fleet import upgrade_fleet
from whitelabel.runtime import Runtime, demo_secret
from whitelabel.settings import Settings

__all__ = ["DEMO_TENANTS", "run_demo", "seed"]

DEMO_TENANTS = (
    ("campus", "Northfield University", "campus"),
    ("acme", "Acme Corporation", "corporate"),
)


def seed(runtime: Runtime) -> None:
    """Create the demo tenants (idempotent: a second run changes nothing)."""
    for slug, name, theme in DEMO_TENANTS:
        runtime.tenants.create(slug, name, theme=theme, actor="demo")


def run_demo(*, host: str = "127.0.0.1", port: int = 8000, serve: bool = True) -> None:
    """Prepare everything and serve it; prints the URLs first."""
    settings = Settings.from_env(allow_insecure_secret=True)
    if settings.secret_key is None:
        settings = replace(settings, secret_key=demo_secret(settings.data_dir))
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
