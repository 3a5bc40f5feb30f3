"""The tenancy middleware: Host header → tenant → bound context, for HTTP and websockets.

Pure ASGI and stateless per request: it reads the Host header, normalises it
(:func:`tenants.hosts.normalise_host`), looks it up in the in-process routing table (no database
query), and either answers at once (400 malformed host, uniform 404, 503 suspended) or binds the
tenant to the ``ContextVar`` and ``scope["state"]`` for everything downstream.
"""

from __future__ import annotations

from typing import NamedTuple

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from tenants.hosts import InvalidHost, normalise_host
from tenants.resolver import Resolver
from tenants.responses import (
    Answer,
    invalid_host,
    send_answer,
    suspended,
    unknown_host,
    wants_json,
)
from themes.error_pages import render_suspended_page
from whitelabel.context import TenantContext, TenantStatus, bind_tenant, unbind_tenant

__all__ = ["HostDecision", "TenancyMiddleware", "answer_for", "decide", "host_header"]

STATE_TENANT = "tenant"
STATE_PLATFORM = "platform"
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def host_header(scope: Scope) -> bytes | None:
    """The single Host header of a request.

    Raises:
        InvalidHost: the header appears more than once.
    """
    found: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            if found is not None:
                raise InvalidHost("The request has more than one Host header.")
            found = value
    return found


class HostDecision(NamedTuple):
    """What to do with a request, judged from its Host header alone (a tuple: made per request)."""

    kind: str  # "tenant" | "platform" | "unknown" | "suspended" | "invalid"
    tenant: TenantContext | None = None
    message: str = ""


def decide(scope: Scope, resolver: Resolver, platform_host: str) -> HostDecision:
    """Classify a request by host. Pure apart from the routing-table read."""
    try:
        host = normalise_host(host_header(scope))
    except InvalidHost as exc:
        return HostDecision("invalid", message=exc.message)
    if host == platform_host:
        return HostDecision("platform")
    tenant = resolver.resolve(host)
    if tenant is None:
        return HostDecision("unknown")
    if tenant.status is TenantStatus.SUSPENDED:
        return HostDecision("suspended", tenant)
    return HostDecision("tenant", tenant)


def answer_for(decision: HostDecision, path: str, scope: Scope | None = None) -> Answer:
    """The fixed answer for a request that does not reach a handler (with ``scope``, a
    suspended tenant's page is branded when the request asks for HTML)."""
    if decision.kind == "suspended" and decision.tenant is not None:
        page = None
        if scope is not None and not wants_json(path):
            page = render_suspended_page(scope, decision.tenant)
        return suspended(path, decision.tenant.name, page)
    if decision.kind == "invalid":
        return invalid_host(path, decision.message)
    return unknown_host(path)


class TenancyMiddleware(ASGIMiddleware):
    """Binds each HTTP request and websocket to its tenant (see module docs)."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, resolver: Resolver, platform_host: str) -> None:
        self.resolver = resolver
        self.platform_host = platform_host

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["path"] in OPEN_PATHS:  # answer on any host (a set lookup, not a regex per call)
            await next_app(scope, receive, send)
            return
        decision = decide(scope, self.resolver, self.platform_host)
        if decision.kind == "tenant" and decision.tenant is not None:
            tenant = decision.tenant
            scope["state"][STATE_TENANT] = tenant
            structlog.contextvars.bind_contextvars(tenant=tenant.slug)
            token = bind_tenant(tenant)
            try:
                await next_app(scope, receive, send)
            finally:
                unbind_tenant(token)
        elif decision.kind == "platform":
            scope["state"][STATE_PLATFORM] = True
            structlog.contextvars.bind_contextvars(tenant="-platform-")
            await next_app(scope, receive, send)
        else:
            await send_answer(scope, send, answer_for(decision, scope.get("path", ""), scope))
