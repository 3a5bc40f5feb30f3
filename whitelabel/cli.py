"""The ``whitelabel`` command line. Plugins add their command groups (``on_cli_init``)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from psycopg.errors import UndefinedTable
from sqlalchemy.exc import OperationalError, ProgrammingError

from whitelabel.errors import ClientError, SettingsError, WhitelabelError
from whitelabel.runtime import Runtime, require_migrated_platform
from whitelabel.settings import Settings

__all__ = ["get_runtime", "main"]


def get_runtime(ctx: click.Context) -> Runtime:
    """The command's runtime, built on first use from the environment."""
    root = ctx.find_root()
    if root.obj is None:
        started = Runtime.start(Settings.from_env())

        def close() -> None:
            started.tenants.wait_for_background_work()
            started.db.sync_engine.dispose()

        root.obj = started
        root.call_on_close(close)
    runtime: Runtime = root.obj
    return runtime


class _Cli(click.Group):
    """Turns configuration and client errors into one clear line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            click.echo(f"whitelabel: setting {exc.variable}: expected {exc.expected}", err=True)
            sys.exit(2)
        except ClientError as exc:
            click.echo(f"whitelabel: {exc.message} [{exc.code}]", err=True)
            sys.exit(1)
        except WhitelabelError as exc:
            click.echo(f"whitelabel: {exc}", err=True)
            sys.exit(2)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            click.echo(f"whitelabel: cannot use the database: {reason}", err=True)
            sys.exit(2)
        except ProgrammingError as exc:
            if isinstance(exc.orig, UndefinedTable) and '"platform.' in str(exc.orig):
                click.echo(
                    "whitelabel: the platform schema is not created: run `whitelabel db upgrade`",
                    err=True,
                )
                sys.exit(2)
            raise


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="whitelabel")
def cli() -> None:
    """Run many branded apps from one codebase and one PostgreSQL cluster."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes; routing changes reach every worker within a second.",
)
@click.option(
    "--app",
    default="whitelabel.asgi:app_from_env",
    show_default=True,
    help="Import string of a factory returning the app (to serve your own plugins too).",
)
def serve(host: str, port: int, workers: int, app: str) -> None:
    """Serve the application (production server: uvicorn with uvloop and httptools)."""
    import uvicorn

    # Validate settings and the schema before starting workers: one clear line, not one per worker.
    runtime = get_runtime(click.get_current_context())
    with runtime.db.sync_engine.connect() as conn:
        require_migrated_platform(conn)
    runtime.db.sync_engine.dispose()
    if os.getcwd() not in sys.path:  # --app may name a module of the current project
        sys.path.insert(0, os.getcwd())
    uvicorn.run(
        app,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_config=None,
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-serve", is_flag=True, help="Set up and seed, print the URLs, then exit.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Embedded PostgreSQL, migrate, seed the example tenants, serve them."""
    from whitelabel.demo import run_demo

    run_demo(host=host, port=port, serve=not no_serve)


def _register_plugin_commands() -> None:
    from sso.plugin import SsoPlugin
    from tenants.plugin import TenancyPlugin
    from whitelabel.accounts.plugin import AccountsPlugin
    from whitelabel.mail.plugin import MailPlugin

    for plugin in (TenancyPlugin(), MailPlugin(), AccountsPlugin(), SsoPlugin()):
        plugin.on_cli_init(cli)


_register_plugin_commands()


def main() -> None:
    """Console-script entry point."""
    cli()
