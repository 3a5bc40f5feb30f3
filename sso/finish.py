"""The end of every SSO sign-in, SAML or OIDC: a session, a test report, or a failure page.

The protocol routes validate what the IdP sent and hand the result here:

- :func:`complete` with the :class:`~sso.provisioning.ExternalIdentity`: the user is found,
  linked or created (``sso.provisioning``), a new session starts (an old one of the browser is
  revoked: sessions rotate at sign-in) and the browser goes to the flow's local ``next`` path;
  for a **test** flow (an admin's "test connection") nothing is kept: the provisioning runs in a
  savepoint that is rolled back, and the page shows what arrived and what would have happened;
- :func:`fail` with the :class:`~sso.errors.SsoRejected`: the failure is logged (code and
  plain-English reason) and kept in the connection's failure log, and the visitor gets a branded
  page with the reason (the full list of checks is only shown to admins on the test page).

The routes that call these send ``whitelabel.accounts.pages.PAGE_HEADERS`` (no caching, no
framing, no script). The browser that starts a flow gets the random cookie
:data:`BROWSER_COOKIE`; a flow keeps its hash, and the ACS or callback must see the same
browser (``sso.flows.take_flow``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from sso.errors import SsoRejected
from sso.flows import FLOW_LIFETIME, record_failure
from sso.models import SsoConnection, SsoFlow
from sso.provisioning import ExternalIdentity, map_attributes, sign_in_identity
from tenants.hosts import InvalidHost, normalise_host
from whitelabel.accounts import service as accounts
from whitelabel.accounts.cookies import session_cookies
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.accounts.pages import safe_next
from whitelabel.context import TenantContext
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import record_event

__all__ = [
    "BROWSER_COOKIE",
    "BROWSER_COOKIE_SECURE",
    "binds_browser",
    "browser_cookie",
    "browser_token",
    "complete",
    "fail",
    "forget_browser",
    "login_host_hop",
]

log = logging.getLogger("whitelabel.sso")

AnyRequest = Request[Any, Any, Any]

#: The random cookie binding a sign-in flow to the browser that started it. Over https it is
#: ``__Host-wl_sso`` (Secure, path ``/``, no Domain): a sibling tenant host, which shares the
#: base domain, cannot plant one to push its own flow into a victim's browser (login CSRF).
#: Over plain http (the demo, loopback tests) browsers refuse that prefix: ``wl_sso``, path
#: ``/sso/``.
BROWSER_COOKIE = "wl_sso"
BROWSER_COOKIE_SECURE = "__Host-wl_sso"


def _secure(request: AnyRequest) -> bool:
    return bool(request.scope["scheme"] == "https")


def browser_cookie(request: AnyRequest, token: str, *, cross_site_post: bool) -> Cookie:
    """The flow's browser cookie. SAML's ACS is a cross-site POST from the IdP, which carries
    only ``SameSite=None`` cookies, and those must be ``Secure``: so a SAML flow started over
    plain http (the demo, loopback tests) sets a Lax cookie that will not come back, and its
    flow is not bound to the browser (the caller stores an empty hash)."""
    secure = _secure(request)
    return Cookie(
        key=BROWSER_COOKIE_SECURE if secure else BROWSER_COOKIE,
        value=token,
        path="/" if secure else "/sso/",
        max_age=int(FLOW_LIFETIME.total_seconds()),
        httponly=True,
        samesite="none" if cross_site_post and secure else "lax",
        secure=secure,
    )


def browser_token(request: AnyRequest) -> str | None:
    """The flow cookie this request carries (the name :func:`browser_cookie` uses on its scheme)."""
    return request.cookies.get(BROWSER_COOKIE_SECURE if _secure(request) else BROWSER_COOKIE)


def forget_browser(response: Response[Any], request: AnyRequest) -> None:
    """Remove the flow cookie once the sign-in is over."""
    if _secure(request):
        response.delete_cookie(BROWSER_COOKIE_SECURE, path="/")
    else:
        response.delete_cookie(BROWSER_COOKIE, path="/sso/")


def binds_browser(request: AnyRequest, *, cross_site_post: bool) -> bool:
    """Whether a flow started by this request can be bound to the browser (see
    :func:`browser_cookie`)."""
    return not cross_site_post or _secure(request)


def login_host_hop(
    request: AnyRequest,
    runtime: Runtime,
    tenant: TenantContext,
    *,
    return_url: str,
    query: Mapping[str, str],
    misconfigured: SsoRejected,
) -> Response[Any] | None:
    """A 303 to this same login on the host of ``return_url`` (the SAML ACS URL or the OIDC
    redirect URI) when the request came to another host of the tenant, else None: the flow
    cookie must be set on the host the IdP sends the browser back to.

    Raises:
        SsoRejected: ``misconfigured``: ``return_url`` is not on a host of this tenant.
    """
    target = urlsplit(return_url)
    try:
        there = normalise_host(target.netloc)
    except InvalidHost:
        there = ""
    try:
        here = normalise_host(request.headers.get("host"))
    except InvalidHost:  # the tenancy middleware admitted it; be safe anyway
        here = ""
    if here == there:
        return None
    owner = runtime.resolver.resolve(there) if there else None
    if owner is None or owner.id != tenant.id:
        raise misconfigured
    url = urlunsplit((target.scheme, target.netloc, request.scope["path"], urlencode(query), ""))
    return Redirect(url, status_code=303)


async def complete(
    request: AnyRequest,
    db: AsyncSession,
    tenant: TenantContext,
    connection: SsoConnection,
    flow: SsoFlow | None,
    identity: ExternalIdentity,
    *,
    next_path: str = "/",
    after_sign_in: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> Response[Any]:
    """Sign the identity in (or, for a test flow, report what would happen); commits ``db``.

    ``flow`` is ``None`` for an IdP-initiated SAML sign-in (allowed by the connection).
    ``after_sign_in`` runs in the same transaction once the identity is linked and the session
    started (SAML keeps what Single Logout needs); not for test flows or refusals.
    """
    client = accounts.Client.of(request)
    if flow is not None and flow.test:
        return await _test_report(request, db, tenant, connection, identity, client)
    try:
        user = await sign_in_identity(db, connection, identity, client=client)
    except SsoRejected as rejected:
        return await fail(request, db, tenant, connection, rejected, test=False)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await accounts.revoke_session(db, old)
    token = await accounts.start_session(db, user, client)
    if after_sign_in is not None:
        await db.flush()
        await after_sign_in(db)
    record_event(
        db, "user.login", actor=str(user.id), target=user.email, ip=client.ip,
        detail={"sso": str(connection.id), "method": connection.type},
    )  # fmt: skip
    await db.commit()
    target = safe_next(flow.next_path if flow is not None else next_path)
    response = Redirect(target, status_code=303, cookies=session_cookies(request, tenant, token))
    forget_browser(response, request)
    return response


async def _test_report(
    request: AnyRequest,
    db: AsyncSession,
    tenant: TenantContext,
    connection: SsoConnection,
    identity: ExternalIdentity,
    client: accounts.Client,
) -> Response[Any]:
    mapped = map_attributes(connection, identity)
    outcome: dict[str, Any]
    savepoint = await db.begin_nested()
    try:
        user = await sign_in_identity(db, connection, identity, client=client)
        outcome = {"ok": True, "email": user.email, "role": user.role}
    except SsoRejected as rejected:
        outcome = {"ok": False, "code": rejected.code, "message": rejected.message}
    finally:
        await savepoint.rollback()
    record_event(
        db, "sso.connection_tested", actor=f"sso:{connection.id}", target=str(connection.id),
        ip=client.ip, detail={"ok": outcome["ok"], "code": outcome.get("code")},
    )  # fmt: skip
    if not outcome["ok"]:
        await record_failure(
            db,
            connection_id=connection.id,
            rejected=SsoRejected(str(outcome["code"]), str(outcome["message"])),
            ip=client.ip,
            test=True,
        )
    await db.commit()
    return Template(
        "sso/test_result.html",
        context={
            "tenant": tenant,
            "connection": connection,
            "identity": identity,
            "mapped": mapped,
            "outcome": outcome,
            "error": None,
        },
    )


async def fail(
    request: AnyRequest,
    db: AsyncSession,
    tenant: TenantContext,
    connection: SsoConnection | None,
    rejected: SsoRejected,
    *,
    test: bool,
) -> Response[Any]:
    """Log and keep the failure, and answer the visitor's branded 400 page (commits ``db``).

    For a test flow the page is the test report with the error.
    """
    # A rollback expires every ORM object of the session: read what the page needs first.
    connection_id = connection.id if connection is not None else None
    connection_name = connection.name if connection is not None else None
    await db.rollback()
    log.warning(
        "sso sign-in refused: %s",
        rejected.code,
        extra={"connection": str(connection_id) if connection_id else None},
    )
    if connection_id is not None:
        await record_failure(
            db,
            connection_id=connection_id,
            rejected=rejected,
            ip=accounts.Client.of(request).ip,
            test=test,
        )
        await db.commit()
    if test and connection_id is not None:
        return Template(
            "sso/test_result.html",
            context={
                "tenant": tenant,
                "connection": {"id": connection_id, "name": connection_name},
                "identity": None,
                "mapped": None,
                "outcome": {"ok": False, "code": rejected.code, "message": rejected.message},
                "error": rejected,
            },
            status_code=400,
        )
    return Template(
        "sso/failed.html",
        context={
            "tenant": tenant,
            "code": rejected.code,
            "message": rejected.message,
            "connection_name": connection_name,
        },
        status_code=400,
    )
