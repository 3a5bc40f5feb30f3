"""The theme middleware: puts the tenant's published snapshot into ``scope["state"]``.

It runs after the tenancy middleware (``ThemesPlugin`` is listed after ``TenancyPlugin``), so on
a tenant host the tenant, with its published theme version, is already in the scope. A cached
snapshot costs one dict lookup; a miss loads once (concurrent misses share the load). Off tenant
hosts (the platform console) nothing is set.
"""

from __future__ import annotations

import logging

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from themes._snapshots import cached_snapshot, default_snapshot, load_snapshot
from themes.brand import STATE_THEME
from whitelabel.context import TenantContext
from whitelabel.runtime import Runtime

__all__ = ["ThemeMiddleware"]

log = logging.getLogger("whitelabel.themes")

_STATE_TENANT = "tenant"  # tenants.middleware.STATE_TENANT


class ThemeMiddleware(ASGIMiddleware):
    """Adds the request's :class:`~themes.brand.ThemeSnapshot` on tenant hosts."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        state = scope["state"]
        tenant = state.get(_STATE_TENANT)
        if isinstance(tenant, TenantContext):
            snapshot = cached_snapshot(tenant)
            if snapshot is None:
                try:
                    snapshot = await load_snapshot(self.runtime, tenant)
                except Exception:
                    # The page (or its error page) still renders, with the base theme; the
                    # next request tries again (nothing wrong is cached).
                    log.exception("loading the theme of %s failed", tenant.slug)
                    snapshot = default_snapshot(tenant)
            state[STATE_THEME] = snapshot
        await next_app(scope, receive, send)
