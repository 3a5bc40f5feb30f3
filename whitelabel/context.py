"""The tenant context: which tenant the current request, task or command acts for.

The context is a frozen value in a :class:`~contextvars.ContextVar` (each asyncio task and each
thread sees its own) and, for a request, also in ``scope["state"]``. It is never stored on a
shared object or on a database connection. Everything tenant-owned reads it through
:func:`current_tenant`, which raises :class:`~whitelabel.errors.TenantNotBoundError` when nothing is
bound: forgetting the tenant fails closed instead of reading the wrong rows.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from themes.brand import DEFAULT_THEME
from whitelabel.errors import TenantNotBoundError

__all__ = [
    "TenantContext",
    "TenantStatus",
    "bind_tenant",
    "current_tenant",
    "current_tenant_or_none",
    "schema_name_for",
    "tenant_file_dir",
    "tenant_key",
    "tenant_scope",
    "unbind_tenant",
]

SCHEMA_PREFIX = "tenant_"
_SCHEMA_RE = re.compile(r"^tenant_[0-9a-f]{32}$")


class TenantStatus(StrEnum):
    """Lifecycle of a tenant. Only ``active`` tenants are served."""

    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


def schema_name_for(tenant_id: uuid.UUID) -> str:
    """The PostgreSQL schema of a tenant: derived from the stable id, never from the slug."""
    return f"{SCHEMA_PREFIX}{tenant_id.hex}"


def is_tenant_schema_name(name: str) -> bool:
    """Whether ``name`` has the exact shape of a tenant schema name."""
    return bool(_SCHEMA_RE.fullmatch(name))  # match's $ would allow a final \n


@dataclass(frozen=True, slots=True)
class TenantContext:
    """What a request or task needs to know about its tenant. Immutable and cheap to copy."""

    id: uuid.UUID
    slug: str
    name: str
    schema: str
    status: TenantStatus
    primary_host: str
    theme: str = DEFAULT_THEME
    """Name of the tenant's built-in base theme (``platform.tenants.theme``; may be an alias)."""
    theme_version: int = 0
    """The tenant's published theme version (0: never published, the base theme's defaults)."""

    def __post_init__(self) -> None:
        # The schema name reaches SQL (quoted by the driver); refuse anything but our own shape.
        if not is_tenant_schema_name(self.schema):
            raise ValueError(f"not a tenant schema name: {self.schema!r}")


_current: ContextVar[TenantContext | None] = ContextVar("whitelabel_tenant", default=None)


def current_tenant() -> TenantContext:
    """The tenant bound to this context.

    Raises:
        TenantNotBoundError: no tenant is bound (outside a request, or outside ``tenant_scope``).
    """
    tenant = _current.get()
    if tenant is None:
        raise TenantNotBoundError()
    return tenant


def current_tenant_or_none() -> TenantContext | None:
    """The bound tenant, or ``None``; for code that works both inside and outside a tenant."""
    return _current.get()


def bind_tenant(tenant: TenantContext) -> Token[TenantContext | None]:
    """Bind ``tenant`` until :func:`unbind_tenant`; the hot-path form of :func:`tenant_scope`."""
    return _current.set(tenant)


def unbind_tenant(token: Token[TenantContext | None]) -> None:
    """Restore the binding that :func:`bind_tenant` replaced."""
    _current.reset(token)


@contextmanager
def tenant_scope(tenant: TenantContext) -> Iterator[TenantContext]:
    """Bind ``tenant`` for the duration of a ``with`` block (sync or async code alike).

    Use it in CLI commands, scripts, background tasks and websocket handlers. Scopes nest; the
    previous binding is restored on exit, even on error.
    """
    token = _current.set(tenant)
    try:
        yield tenant
    finally:
        _current.reset(token)


def tenant_key(*parts: str, tenant: TenantContext | None = None) -> str:
    """A Redis (or any cache) key namespaced by the tenant's stable id.

    Raises:
        TenantNotBoundError: no tenant given and none bound.
    """
    owner = tenant or current_tenant()
    return ":".join(("wl", "t", owner.id.hex, *parts))


def tenant_file_dir(data_dir: Path, tenant: TenantContext | None = None) -> Path:
    """The folder for a tenant's local files, namespaced by the tenant's stable id.

    Raises:
        TenantNotBoundError: no tenant given and none bound.
    """
    owner = tenant or current_tenant()
    return data_dir / "files" / owner.id.hex
