"""Commands: ``tenants ...``, ``domains ...`` and ``db upgrade|status``."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tenants.fleet import DEFAULT_CONCURRENCY, FleetReport, fleet_status, upgrade_fleet
from tenants.schemas import TenantView
from themes.brand import DEFAULT_THEME
from whitelabel.cli import get_runtime
from whitelabel.errors import NotFound

__all__ = ["db_group", "domains_group", "tenants_group"]

console = Console(stderr=True)


def _print_tenant(view: TenantView, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(view.to_dict(), indent=2))
        return
    click.echo(f"{view.slug}  {view.name}  [{view.status}]")
    click.echo(f"  id       {view.id}")
    click.echo(
        f"  schema   {view.schema_name}  revision {view.schema_revision} ({view.schema_status})"
    )
    if view.schema_error:
        click.echo(f"  error    {view.schema_error}")
    for d in view.domains:
        flags = ", ".join(
            f for f, on in (("primary", d.is_primary), ("verified", d.verified)) if on
        )
        click.echo(f"  host     {d.hostname}  {d.kind}{'  ' + flags if flags else ''}")


@click.group("tenants")
def tenants_group() -> None:
    """Create and manage tenants."""


@tenants_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name of the tenant's app.")
@click.option("--domain", "domains", multiple=True, help="A custom hostname (repeatable).")
@click.option(
    "--theme",
    default=DEFAULT_THEME,
    show_default=True,
    help="Built-in base theme (campus, corporate; default is an alias of campus).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the tenant as JSON.")
@click.option(
    "--admin-email",
    default=None,
    help="Invite this address as the tenant's first owner (the link is printed and mailed).",
)
@click.pass_context
def create(
    ctx: click.Context,
    slug: str,
    name: str,
    domains: tuple[str, ...],
    theme: str,
    as_json: bool,
    admin_email: str | None,
) -> None:
    """Create tenant SLUG: schema from the template, hosts, routing. Idempotent.

    With --admin-email, also invite that address as an owner (unless it is a user there
    already); a new run replaces a pending invitation with a new link.
    """
    from whitelabel.accounts.cli import invite_owner
    from whitelabel.accounts.service import normalise_email

    if admin_email is not None:
        admin_email = normalise_email(admin_email)  # refused before the tenant is created
    runtime = get_runtime(ctx)
    view, created = runtime.tenants.create(slug, name, domains=domains, theme=theme)
    link = invite_owner(runtime, view, admin_email) if admin_email is not None else None
    if as_json:
        data = view.to_dict()
        if admin_email is not None:
            data["admin_invitation"] = {"email": admin_email, "link": link}
        click.echo(json.dumps(data, indent=2))
        return
    click.echo("created" if created else "already exists", err=True)
    _print_tenant(view, as_json)
    if admin_email is not None and link is None:
        click.echo(f"  owner    {admin_email} is a user of {view.slug} already")
    elif admin_email is not None:
        click.echo(f"  owner    {admin_email} invited (mailed); the invitation link:")
        click.echo(f"  {link}")


@tenants_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one array).")
@click.option(
    "--all", "include_deleted", is_flag=True, help="Include deleted (not purged) tenants."
)
@click.pass_context
def list_(ctx: click.Context, as_json: bool, include_deleted: bool) -> None:
    """List tenants."""
    views = get_runtime(ctx).tenants.list(include_deleted=include_deleted)
    if as_json:
        click.echo(json.dumps([v.to_dict() for v in views], indent=2))
        return
    table = Table("slug", "name", "status", "primary host", "schema revision")
    for v in views:
        table.add_row(
            v.slug,
            v.name,
            v.status,
            v.primary_host or "-",
            f"{v.schema_revision} ({v.schema_status})",
        )
    Console().print(table)


@tenants_group.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, slug: str, as_json: bool) -> None:
    """Show one tenant."""
    _print_tenant(get_runtime(ctx).tenants.get(slug), as_json)


def _status_command(name: str, doc: str) -> None:
    @tenants_group.command(name, help=doc)
    @click.argument("slug")
    @click.pass_context
    def command(ctx: click.Context, slug: str) -> None:
        view = getattr(get_runtime(ctx).tenants, name)(slug)
        click.echo(f"{view.slug}: {view.status}")


_status_command("suspend", "Stop serving SLUG (its hosts answer 503). Idempotent.")
_status_command("resume", "Serve a suspended SLUG again. Idempotent.")
_status_command("delete", "Soft-delete SLUG: its hosts answer 404 at once; data kept until purge.")


@tenants_group.command("purge")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def purge(ctx: click.Context, slug: str, yes: bool) -> None:
    """Drop a deleted tenant's schema for good and free its slug and hosts."""
    runtime = get_runtime(ctx)
    try:
        view = runtime.tenants.get(slug)
    except NotFound:
        runtime.tenants.purge(slug)  # already purged: says so; never existed: NotFound
        click.echo(f"{slug}: already purged")
        return
    if not yes:
        click.confirm(
            f"Drop schema {view.schema_name} of {slug!r} and all its data for good?", abort=True
        )
    runtime.tenants.purge(slug)
    click.echo(f"{slug}: purged")


@click.group("domains")
def domains_group() -> None:
    """Add and remove a tenant's custom hostnames."""


@domains_group.command("add")
@click.argument("slug")
@click.argument("host")
@click.option("--primary", is_flag=True, help="Make it the tenant's primary host.")
@click.pass_context
def domains_add(ctx: click.Context, slug: str, host: str, primary: bool) -> None:
    """Route HOST to tenant SLUG. Idempotent."""
    _print_tenant(get_runtime(ctx).tenants.add_domain(slug, host, primary=primary), False)


@domains_group.command("remove")
@click.argument("slug")
@click.argument("host")
@click.pass_context
def domains_remove(ctx: click.Context, slug: str, host: str) -> None:
    """Stop routing HOST to tenant SLUG. Idempotent."""
    _print_tenant(get_runtime(ctx).tenants.remove_domain(slug, host), False)


@click.group("db")
def db_group() -> None:
    """Migrate and inspect the platform schema and the fleet of tenant schemas."""


@db_group.command("upgrade")
@click.option("--tenant", "slug", default=None, help="Only this tenant.")
@click.option(
    "--concurrency",
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes migrating tenant schemas at once.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be migrated; change nothing.")
@click.pass_context
def upgrade(ctx: click.Context, slug: str | None, concurrency: int, dry_run: bool) -> None:
    """Platform schema, template, then every tenant schema behind head. Resumable."""
    runtime = get_runtime(ctx)
    if dry_run:
        report = upgrade_fleet(runtime.db.sync_engine, slug=slug, dry_run=True)
        _print_dry_run(report)
        return
    with runtime.db.sync_engine.connect() as conn:  # fail early, before drawing progress
        conn.exec_driver_sql("SELECT 1")
    if slug is not None:
        runtime.tenants.get(slug)
    columns = (
        TextColumn("[bold]tenants"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("tenants", total=None, failed=0)
        failed = 0

        def on_start(total: int) -> None:
            progress.update(task, total=total)

        def on_progress(slug_: str, ok: bool) -> None:
            nonlocal failed
            failed += 0 if ok else 1
            progress.update(task, advance=1, failed=failed)

        report = upgrade_fleet(
            runtime.db.sync_engine,
            slug=slug,
            concurrency=concurrency,
            on_start=on_start,
            on_progress=on_progress,
            schema_pool=runtime.settings.schema_pool,
        )
    left = len(report.pending) - len(report.upgraded) - len(report.failed)
    click.echo(
        f"platform at {report.platform_revision}; tenant head {report.head}; "
        f"{len(report.upgraded)} upgraded, {len(report.failed)} failed, "
        f"{left} held by another run, {report.pool_created} pooled schema(s) made, "
        f"in {report.seconds:.2f}s"
    )
    for failure in report.failed:
        click.echo(f"FAILED {failure.slug} ({failure.schema}): {failure.error}", err=True)
    if not report.ok:
        sys.exit(1)


def _print_dry_run(report: FleetReport) -> None:
    def state(found: str | None, head: str | None) -> str:
        if found is None:
            return f"not created (would be created at {head})"
        return f"at {found}" + ("" if found == head else f" (would be upgraded to {head})")

    click.echo(f"platform schema: {state(report.platform_revision, report.platform_head)}")
    click.echo(f"tenant template: {state(report.template_revision, report.head)}")
    pending = report.pending
    click.echo(
        f"{len(pending)} tenant schema(s) would be upgraded to {report.head}"
        + (": " + ", ".join(pending) if pending else "")
    )


@db_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """The fleet by schema revision and status."""
    from migrations import runner

    rows = fleet_status(get_runtime(ctx).db.sync_engine)
    head = runner.head("tenant")
    if as_json:
        click.echo(
            json.dumps(
                {
                    "head": head,
                    "fleet": [{"revision": r, "status": s, "tenants": n} for r, s, n in rows],
                },
                indent=2,
            )
        )
        return
    table = Table("revision", "status", "tenants", title=f"tenant head {head}")
    for revision, state, count in rows:
        mark = "" if revision == head else " (behind)"
        table.add_row(f"{revision}{mark}", state, str(count))
    Console().print(table)
