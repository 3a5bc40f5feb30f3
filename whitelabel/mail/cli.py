"""Commands: ``whitelabel mail send|status|retry``."""

from __future__ import annotations

import json
import uuid

import click
from rich.console import Console
from rich.table import Table

from whitelabel.cli import get_runtime
from whitelabel.mail.dispatcher import Dispatcher
from whitelabel.mail.errors import MailNotFound
from whitelabel.mail.service import outbox_status, retry_failed, retry_mail

__all__ = ["mail_group"]


@click.group("mail")
def mail_group() -> None:
    """Send, inspect and re-queue outgoing mail (the outbox)."""


@mail_group.command("send")
@click.option(
    "--limit", type=click.IntRange(1), default=None, help="Handle at most this many messages."
)
@click.pass_context
def send(ctx: click.Context, limit: int | None) -> None:
    """Send the due messages once, through WHITELABEL_MAIL_URL, then exit."""
    runtime = get_runtime(ctx)
    dispatcher = Dispatcher.from_settings(runtime.db.sync_engine, runtime.settings)
    report = dispatcher.drain(limit=limit)
    click.echo(f"sent {report.sent}, to retry {report.retried}, failed {report.failed}")


@mail_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--failures",
    type=click.IntRange(0, 1000),
    default=10,
    show_default=True,
    help="How many of the latest failed messages to show.",
)
@click.pass_context
def status(ctx: click.Context, as_json: bool, failures: int) -> None:
    """Messages per status, the due backlog, and the latest failures."""
    runtime = get_runtime(ctx)
    with runtime.db.sync_engine.connect() as conn:
        view = outbox_status(conn, failures=failures)
    if as_json:
        click.echo(json.dumps(view.to_dict(), indent=2))
        return
    click.echo("  ".join(f"{name} {count}" for name, count in view.counts.items()))
    oldest = view.oldest_due_at.isoformat() if view.oldest_due_at else "-"
    click.echo(f"due now {view.due} (oldest due since {oldest})")
    if view.recent_failures:
        table = Table("id", "kind", "to", "attempts", "created", "last error")
        for f in view.recent_failures:
            table.add_row(
                str(f.id),
                f.kind,
                f.to_address,
                str(f.attempts),
                f.created_at.isoformat(timespec="seconds"),
                f.last_error or "",
            )
        Console(width=200).print(table)


@mail_group.command("retry")
@click.argument("mail_id", required=False)
@click.option("--all-failed", is_flag=True, help="Re-queue every failed message.")
@click.pass_context
def retry(ctx: click.Context, mail_id: str | None, all_failed: bool) -> None:
    """Queue failed message MAIL_ID (or --all-failed) again, due now, with fresh attempts."""
    if (mail_id is None) == (not all_failed):
        raise click.UsageError("give either MAIL_ID or --all-failed")
    runtime = get_runtime(ctx)
    if all_failed:
        with runtime.db.sync_engine.begin() as conn:
            count = retry_failed(conn)
        click.echo(f"re-queued {count}")
        return
    try:
        parsed = uuid.UUID(mail_id or "")
    except ValueError:
        raise MailNotFound(f"No message {mail_id!r} in the outbox.") from None
    with runtime.db.sync_engine.begin() as conn:
        requeued = retry_mail(conn, parsed)
    click.echo(f"{parsed}: {'re-queued' if requeued else 'already queued'}")
