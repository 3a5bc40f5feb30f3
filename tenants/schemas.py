"""Read models of the tenant registry, as the CLI (``--json``) and the platform API show them."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from tenants.models import Tenant
from whitelabel.context import TenantContext, TenantStatus

__all__ = ["DomainView", "TenantView"]


@dataclass(frozen=True, slots=True)
class DomainView:
    """One hostname of a tenant."""

    hostname: str
    kind: str
    is_primary: bool
    verified: bool


@dataclass(frozen=True, slots=True)
class TenantView:
    """A tenant with its hosts and the state of its schema."""

    id: uuid.UUID
    slug: str
    name: str
    status: str
    schema_name: str
    theme: str
    created_at: datetime
    deleted_at: datetime | None
    purged_at: datetime | None
    domains: tuple[DomainView, ...]
    schema_revision: str | None
    schema_status: str | None
    schema_error: str | None
    theme_version: int = 0
    """The published theme version (0: the base theme's defaults)."""

    @classmethod
    def of(cls, tenant: Tenant) -> TenantView:
        """Build the view from a loaded tenant (with domains and schema state)."""
        state = tenant.schema_state
        return cls(
            id=tenant.id,
            slug=tenant.slug,
            name=tenant.name,
            status=tenant.status,
            schema_name=tenant.schema_name,
            theme=tenant.theme,
            created_at=tenant.created_at,
            deleted_at=tenant.deleted_at,
            purged_at=tenant.purged_at,
            domains=tuple(
                DomainView(d.hostname, d.kind, d.is_primary, d.verified) for d in tenant.domains
            ),
            schema_revision=state.revision if state else None,
            schema_status=state.status if state else None,
            schema_error=state.last_error if state else None,
            theme_version=tenant.theme_version,
        )

    @property
    def primary_host(self) -> str | None:
        """The tenant's primary hostname."""
        return next((d.hostname for d in self.domains if d.is_primary), None)

    def context(self) -> TenantContext:
        """The :class:`TenantContext` to bind with ``tenant_scope`` (scripts, tasks, tests)."""
        return TenantContext(
            id=self.id,
            slug=self.slug,
            name=self.name,
            schema=self.schema_name,
            status=TenantStatus(self.status),
            primary_host=self.primary_host or "",
            theme=self.theme,
            theme_version=self.theme_version,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ids and times as strings)."""
        data = asdict(self)
        data["id"] = str(self.id)
        for key in ("created_at", "deleted_at", "purged_at"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        return data
