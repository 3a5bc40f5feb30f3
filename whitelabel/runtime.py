"""The process's long-lived parts, built once from settings: database, resolver, services."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Connection

from tenants.resolver import Resolver
from tenants.service import TenantService
from whitelabel.db.base import PLATFORM_SCHEMA
from whitelabel.db.embedded import embedded_url
from whitelabel.db.engine import Database
from whitelabel.errors import WhitelabelError
from whitelabel.settings import Settings

__all__ = ["Runtime", "demo_secret", "require_migrated_platform"]


@dataclass(slots=True)
class Runtime:
    """Settings plus the objects built from them; one per process (or per test session)."""

    settings: Settings
    db: Database
    resolver: Resolver
    tenants: TenantService

    @classmethod
    def start(cls, settings: Settings, *, embedded_database: str = "postgres") -> Runtime:
        """Build the runtime; with no ``DATABASE_URL``, start (or reuse) the embedded server."""
        if settings.database_url is None:
            url = embedded_url(settings.data_dir, embedded_database)
            settings = replace(settings, database_url=url)
        db = Database(
            settings.sqlalchemy_url,
            pool_size=settings.pool_size,
            prepare_threshold=settings.prepare_threshold,
        )
        resolver = Resolver(
            settings.sqlalchemy_url,
            redis_url=settings.redis_url,
            listen_url=settings.listen_database_url,
        )
        return cls(settings, db, resolver, TenantService(db, settings))


def require_migrated_platform(conn: Connection) -> None:
    """Refuse to serve from a platform schema that is not at the code's head revision.

    Raises:
        WhitelabelError: with the one line to show (what was found, what to run).
    """
    from migrations import runner

    expected = runner.head("platform")
    found = runner.current_revision(conn, PLATFORM_SCHEMA)
    if found != expected:
        raise WhitelabelError(
            f"the platform schema is at revision {found or 'none (not created)'}, this code needs "
            f"{expected}: run `whitelabel db upgrade` first"
        )


def demo_secret(data_dir: Path) -> str:
    """A secret key for ``demo`` only, generated once and kept in the data dir (mode 0600)."""
    path = data_dir / "demo-secret-key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
