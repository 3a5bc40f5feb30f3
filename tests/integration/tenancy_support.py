"""Helpers shared by the tenancy integration tests (isolation, lifecycle, fleet, CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Connection, select, text

from tenants.schemas import TenantView
from whitelabel.context import TenantContext
from whitelabel.db.engine import Database
from whitelabel.settings import Settings
from whitelabel.tenant_data import AuditEvent

__all__ = [
    "REPO_ROOT",
    "audit_events",
    "cli_command",
    "cli_env",
    "context_of",
    "run_cli",
    "tenant_schemas",
    "wait_until",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
_TEST_SECRET = "integration-test-secret-" + "k" * 32


def context_of(view: TenantView) -> TenantContext:
    """The tenant context a request to ``view`` would carry."""
    return view.context()


def audit_events(db: Database, view: TenantView) -> list[tuple[str, str, str | None]]:
    """(action, actor, target) of every audit event in the tenant's own schema, oldest first."""
    with db.tenant_sync_session(context_of(view)) as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.actor, AuditEvent.target).order_by(
                AuditEvent.at, AuditEvent.id
            )
        ).all()
    return [(r.action, r.actor, r.target) for r in rows]


def tenant_schemas(conn: Connection) -> set[str]:
    """Every schema named like a tenant schema (the template excluded)."""
    rows = conn.execute(
        text(
            "SELECT nspname FROM pg_namespace "
            "WHERE nspname ~ '^tenant_[0-9a-f]{32}$' ORDER BY nspname"
        )
    )
    return {row[0] for row in rows}


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``whitelabel`` subprocess on the test database."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=settings.sqlalchemy_url,
        WHITELABEL_SECRET_KEY=_TEST_SECRET,
        WHITELABEL_BASE_DOMAIN=settings.base_domain,
        WHITELABEL_PLATFORM_HOST=settings.platform_host,
        PYTHONUNBUFFERED="1",
    )
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    """The argv of ``whitelabel ARGS`` run with this interpreter."""
    return [sys.executable, "-m", "whitelabel", *args]


def run_cli(
    settings: Settings, args: Sequence[str], *, stdin: str | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``whitelabel ARGS`` in a subprocess and return its exit code and output."""
    return subprocess.run(
        cli_command(*args),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=cli_env(settings),
        cwd=REPO_ROOT,
        timeout=timeout,
        check=False,
    )


def wait_until(
    predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll ``predicate()`` until it is true.

    Raises:
        TimeoutError: it did not become true within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
