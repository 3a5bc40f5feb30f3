"""Using the notes outside a request: a script, a command or a background job.

Outside a request nothing binds a tenant, so tenant sessions refuse to open
(:class:`~whitelabel.errors.TenantNotBoundError`). The job enters the tenant explicitly.
"""

from __future__ import annotations

from examples.notes_module.service import count_notes_sync
from tenants.schemas import TenantView
from whitelabel.context import TenantContext, tenant_scope
from whitelabel.runtime import Runtime

__all__ = ["context_for", "note_count"]


def context_for(view: TenantView) -> TenantContext:
    """The :class:`TenantContext` of a tenant read from the registry (``view.context()``)."""
    return view.context()


def note_count(runtime: Runtime, slug: str) -> int:
    """How many notes tenant ``slug`` has.

    Raises:
        NotFound: there is no tenant ``slug`` (purged tenants included).
    """
    tenant = runtime.tenants.get(slug).context()
    with tenant_scope(tenant), runtime.db.tenant_sync_session() as session:
        return count_notes_sync(session)
