"""``GET /api/v1/admin/audit``: the tenant's audit log for its admins, as JSON pages or as a
streamed CSV or JSON Lines export (tenant hosts only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from whitelabel.accounts import audit_service
from whitelabel.accounts.deps import CurrentUser
from whitelabel.accounts.guards import require_admin
from whitelabel.accounts.service import Client
from whitelabel.db.base import utcnow
from whitelabel.deps import CurrentTenant, DbSession, RuntimeDep
from whitelabel.errors import ValidationFailed
from whitelabel.runtime import Runtime  # noqa: F401  (resolves RuntimeDep at run time)
from whitelabel.tenant_data import AuditEvent, record_event

__all__ = ["AuditController", "AuditEventView", "AuditPageView"]

# Litestar adds "; charset=utf-8" to text types.
_MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


@dataclass(frozen=True, slots=True)
class AuditEventView:
    """One audit event: who (``actor``) did what (``action``) to what (``target``), when, from
    where (``ip``), with the action's ``detail``."""

    id: str
    at: datetime
    action: str
    actor: str
    target: str | None
    ip: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditPageView:
    """``GET /api/v1/admin/audit``: events newest first and the cursor of the next page."""

    items: list[AuditEventView]
    next: str | None


def _view(event: AuditEvent) -> AuditEventView:
    return AuditEventView(
        id=str(event.id),
        at=event.at,
        action=event.action,
        actor=event.actor,
        target=event.target,
        ip=event.ip,
        detail=event.detail,
    )


def _format(raw: str | None) -> str:
    fmt = raw or "json"
    if fmt not in audit_service.FORMATS:
        raise ValidationFailed(
            "The format is json, csv or jsonl.",
            code="invalid_format",
            detail={"field": "format", "allowed": list(audit_service.FORMATS)},
        )
    return fmt


class AuditController(Controller):
    """The tenant's audit log; every route needs an ``admin`` or ``owner``."""

    path = "/api/v1/admin/audit"
    guards = [require_admin]

    @get("/")
    async def read(
        self,
        request: Request[Any, Any, Any],
        tenant: CurrentTenant,
        db_session: DbSession,
        runtime: RuntimeDep,
        current_user: CurrentUser,
        action: FromQuery[str | None] = None,
        action_prefix: FromQuery[str | None] = None,
        actor: FromQuery[str | None] = None,
        target: FromQuery[str | None] = None,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        limit: FromQuery[str | None] = None,
        fmt: Annotated[str | None, QueryParameter(name="format")] = None,
    ) -> Response[Any]:
        """Events newest first. ``format=json`` (default): a page, ``next`` is the cursor for
        ``after``. ``format=csv`` or ``jsonl``: every matching event as a download (``after``
        and ``limit`` do not apply); the export itself is audited as ``audit.exported``."""
        flt = audit_service.parse_filter(
            action=action,
            action_prefix=action_prefix,
            actor=actor,
            target=target,
            since=since,
            until=until,
        )
        kind = _format(fmt)
        if kind == "json":
            page = await audit_service.list_events(
                db_session, flt, after=after, limit=audit_service.parse_limit(limit)
            )
            return Response(AuditPageView(items=[_view(e) for e in page.items], next=page.next))
        record_event(
            db_session,
            "audit.exported",
            actor=str(current_user.id),
            ip=Client.of(request).ip,
            detail={"format": kind, "filter": flt.describe()},
        )
        events = audit_service.iter_events(lambda: runtime.db.tenant_session(tenant), flt)
        filename = f"audit-{tenant.slug}-{utcnow():%Y%m%d}.{kind}"
        return Stream(
            audit_service.export_lines(events, kind),
            media_type=_MEDIA_TYPES[kind],
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )
