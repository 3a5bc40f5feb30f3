"""The app served by a real uvicorn process in the cross-tenant leak test.

``uvicorn --factory tests.integration.probe_app:create_probe_app`` builds the ordinary application
from the environment plus :class:`ProbePlugin`, whose ``POST /_probe`` writes one audit row in the
request's tenant schema (through the ORM) and answers with every probe row that schema holds, read
through the ORM (``schema_translate_map``) or textual SQL (``SET LOCAL search_path``) as asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from litestar import Litestar, post
from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin
from sqlalchemy import func, select, text

from whitelabel.app import create_app
from whitelabel.deps import CurrentTenant, DbSession
from whitelabel.settings import Settings
from whitelabel.tenant_data import AuditEvent, record_event

__all__ = ["ProbePlugin", "create_probe_app"]


@dataclass(frozen=True, slots=True)
class ProbeIn:
    """The token to write (the client encodes its tenant in it) and how to read back."""

    token: str
    via: Literal["orm", "sql"]


_ORM_READ = select(AuditEvent.actor, AuditEvent.target, func.pg_backend_pid().label("pid")).where(
    AuditEvent.action == "probe"
)
_SQL_READ = text(
    "SELECT actor, target, pg_backend_pid() AS pid, current_schema() AS schema"
    " FROM audit_log WHERE action = 'probe'"
)


@post("/_probe", status_code=200)
async def probe(data: ProbeIn, tenant: CurrentTenant, db_session: DbSession) -> dict[str, Any]:
    """Write a probe row (ORM), then report every probe row this tenant's schema holds.

    The rows are read through the ORM (``schema_translate_map``) or through textual SQL
    (``SET LOCAL search_path``), as the client asks, so both switching paths serve every tenant.
    """
    record_event(db_session, "probe", actor=tenant.slug, target=data.token)
    await db_session.flush()
    rows = (await db_session.execute(_ORM_READ if data.via == "orm" else _SQL_READ)).all()
    return {
        "tenant": tenant.slug,
        "via": data.via,
        "actors": sorted({row.actor for row in rows}),
        "targets": [row.target for row in rows],
        "pids": sorted({row.pid for row in rows}),
        # current_schema() shows where textual SQL resolves; ORM SQL names its schema instead
        "schema": rows[0].schema if data.via == "sql" else None,
    }


class ProbePlugin(InitPlugin):
    """Adds ``POST /_probe`` (tenant hosts only: it depends on the request's tenant)."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(probe)
        return app_config


def create_probe_app() -> Litestar:
    """The application from the environment (``DATABASE_URL``, ``WHITELABEL_*``) plus the probe."""
    return create_app(Settings.from_env(), plugins=[ProbePlugin()], access_log=False)
