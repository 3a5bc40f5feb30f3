"""Scheduled refresh of URL-sourced SAML metadata, for every tenant.

:func:`refresh_tenants` visits each tenant's SAML connections that fetch their IdP metadata from
a URL and refreshes those not fetched within ``stale_after``
(:func:`sso.saml.service.refresh_metadata`: a change is stored, audited as
``sso.metadata_changed`` and bumps ``config_version``; a failure keeps the last good values and
is written to ``metadata_error``). Each connection is refreshed in its own transaction holding
its row (``FOR UPDATE SKIP LOCKED``), so processes refreshing at once never fetch one twice, and
one failure never stops the others.

:class:`MetadataRefresher` runs that in the background of each server process: every
:data:`CHECK_INTERVAL` (jittered, so processes and tenants do not all fetch at one moment) it
refreshes what is older than :data:`REFRESH_INTERVAL`. It runs where the mail dispatcher runs
(``WHITELABEL_MAIL_DISPATCH``, off in tests): that switch says whether a server process does
background work; ``whitelabel sso refresh-metadata`` does the same from a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from sso.models import SsoConnection
from sso.saml.service import RefreshOutcome, refresh_metadata
from tenants.schemas import TenantView
from whitelabel.db.base import utcnow
from whitelabel.db.engine import Database
from whitelabel.settings import Settings

__all__ = [
    "CHECK_INTERVAL",
    "REFRESHER_ACTOR",
    "REFRESH_INTERVAL",
    "MetadataRefresher",
    "RefreshReport",
    "refresh_tenants",
]

log = logging.getLogger("whitelabel.sso")

REFRESH_INTERVAL = timedelta(hours=6)
"""Metadata fetched less than this long ago is not fetched again by the background task."""
CHECK_INTERVAL = timedelta(minutes=30)
"""How often (about: +-20 %) the background task looks for metadata due a refresh."""
REFRESHER_ACTOR = "sso-refresh"
"""The audit log's actor of background refreshes."""


@dataclass(slots=True)
class RefreshReport:
    """What one pass did: ``(tenant slug, connection id, outcome)`` per connection fetched."""

    results: list[tuple[str, uuid.UUID, RefreshOutcome]] = field(default_factory=list)
    skipped: int = 0
    """Connections fetched recently, or being refreshed by another process."""
    errors: int = 0
    """Tenants or connections that raised (logged); their connections are untouched."""

    def count(self, status: str) -> int:
        """How many connections ended ``unchanged``, ``changed`` or ``failed``."""
        return sum(1 for _, _, outcome in self.results if outcome.status == status)


def _due(connection: SsoConnection, stale_after: timedelta | None, now: datetime) -> bool:
    fetched = connection.config.get("metadata_fetched_at")
    if stale_after is None or not fetched:
        return True
    return now - datetime.fromisoformat(fetched) >= stale_after


async def _refresh_one(
    db: Database,
    tenant: TenantView,
    connection_id: uuid.UUID,
    settings: Settings,
    *,
    stale_after: timedelta | None,
    actor: str,
) -> RefreshOutcome | None:
    async with db.tenant_session(tenant.context()) as session:
        connection = await session.scalar(
            select(SsoConnection)
            .where(SsoConnection.id == connection_id)
            .with_for_update(skip_locked=True)
        )
        if connection is None or not connection.config.get("idp_metadata_url"):
            return None
        if not _due(connection, stale_after, utcnow()):
            return None
        outcome = await refresh_metadata(session, connection, settings=settings, actor=actor)
        await session.commit()
        return outcome


async def refresh_tenants(
    db: Database,
    tenants: Sequence[TenantView],
    settings: Settings,
    *,
    stale_after: timedelta | None,
    actor: str = REFRESHER_ACTOR,
) -> RefreshReport:
    """Refresh the URL-sourced SAML metadata of ``tenants`` (``stale_after=None``: all of it,
    however recently fetched). Never raises for one tenant or connection: errors are logged
    and counted."""
    report = RefreshReport()
    for tenant in tenants:
        try:
            async with db.tenant_session(tenant.context()) as session:
                ids = list(
                    await session.scalars(
                        select(SsoConnection.id).where(
                            SsoConnection.type == "saml",
                            SsoConnection.config["idp_metadata_url"].astext.is_not(None),
                        )
                    )
                )
        except Exception:
            log.exception("SSO metadata refresh: cannot list tenant %s", tenant.slug)
            report.errors += 1
            continue
        for connection_id in ids:
            try:
                outcome = await _refresh_one(
                    db, tenant, connection_id, settings, stale_after=stale_after, actor=actor
                )
            except Exception:
                log.exception("SSO metadata refresh failed: %s %s", tenant.slug, connection_id)
                report.errors += 1
                continue
            if outcome is None:
                report.skipped += 1
            else:
                report.results.append((tenant.slug, connection_id, outcome))
    return report


class MetadataRefresher:
    """The background task of one server process (see the module docstring).

    Args:
        db: The process's database (its async engine belongs to the serving event loop).
        settings: The deployment's settings (``sso_allow_loopback``).
        list_tenants: The tenants to visit (blocking; it runs in a worker thread).
        refresh_interval: Metadata younger than this is left alone.
        check_interval: The mean wait between two passes (the first one too).
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        list_tenants: Callable[[], Sequence[TenantView]],
        *,
        refresh_interval: timedelta = REFRESH_INTERVAL,
        check_interval: timedelta = CHECK_INTERVAL,
    ) -> None:
        self._db = db
        self._settings = settings
        self._list_tenants = list_tenants
        self.refresh_interval = refresh_interval
        self.check_interval = check_interval
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        """Passes completed (with or without errors)."""

    async def start(self) -> None:
        """Start the task on the running loop (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sso-metadata-refresh")

    async def stop(self) -> None:
        """Cancel the task; a fetch in progress is abandoned (its transaction rolls back)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _wait(self) -> float:
        return self.check_interval.total_seconds() * random.uniform(0.8, 1.2)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._wait())
            try:
                tenants = await asyncio.to_thread(self._list_tenants)
                report = await refresh_tenants(
                    self._db, tenants, self._settings, stale_after=self.refresh_interval
                )
                if report.results or report.errors:
                    log.info(
                        "SSO metadata refresh: %d changed, %d unchanged, %d failed, %d errors",
                        report.count("changed"), report.count("unchanged"),
                        report.count("failed"), report.errors,
                    )  # fmt: skip
            except Exception:
                log.exception("SSO metadata refresh pass failed; trying again later")
            self.passes += 1
