"""What the branding pages share: their security headers and the admin check.

The editor is the one tenant page with a script (``editor.js``, from this host) and frames (the
previews, from this host); the previews are the only pages that may be framed, and only by this
host. Both are never cached: they show the unpublished draft.
"""

from __future__ import annotations

from typing import Any

from litestar import Response
from litestar.datastructures import Cookie, ResponseHeader
from litestar.response import Template

from whitelabel.accounts.models import User
from whitelabel.accounts.pages._common import AnyRequest
from whitelabel.accounts.pages._common import admin_or_refusal as accounts_admin_or_refusal
from whitelabel.context import TenantContext
from whitelabel.runtime import Runtime
from whitelabel.security.csrf import form_csrf_token

__all__ = [
    "EDITOR_CSP",
    "EDITOR_HEADERS",
    "PREVIEW_CSP",
    "PREVIEW_HEADERS",
    "admin_or_refusal",
    "reload_route",
    "render_page",
]

#: Scripts and frames from this host only; inline ``style`` attributes for the colour samples.
EDITOR_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
#: A preview shows a page as it will look, inside the editor's frame: no script at all, no
#: form goes anywhere, and only this host may frame it.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'none'; frame-ancestors 'self'; base-uri 'none'"
)

_COMMON = [
    ResponseHeader(name="cache-control", value="no-store"),
    ResponseHeader(name="referrer-policy", value="no-referrer"),
    ResponseHeader(name="x-content-type-options", value="nosniff"),
]
EDITOR_HEADERS = [
    *_COMMON,
    ResponseHeader(name="content-security-policy", value=EDITOR_CSP),
    ResponseHeader(name="x-frame-options", value="DENY"),
]
PREVIEW_HEADERS = [
    *_COMMON,
    ResponseHeader(name="content-security-policy", value=PREVIEW_CSP),
    ResponseHeader(name="x-frame-options", value="SAMEORIGIN"),
]


async def admin_or_refusal(
    request: AnyRequest, tenant: TenantContext, db: Any, target: str | None = None
) -> User | Response[Any]:
    """The signed-in admin or owner, else the sign-in redirect or the 403 page (see
    :func:`whitelabel.accounts.pages._common.admin_or_refusal`)."""
    return await accounts_admin_or_refusal(
        request, tenant, db, doing="Changing the branding", target=target
    )


async def reload_route(runtime: Runtime, tenant: TenantContext) -> None:
    """Read the tenant's routing row now, so the page after a publish (served by this process)
    already shows the new version; the routing signal reaches every process moments later."""
    async with runtime.db.async_engine.connect() as conn:
        await runtime.resolver.reload_tenant(conn, tenant.id)


def render_page(
    request: AnyRequest,
    template: str,
    *,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Template:
    """Render ``template`` (a path under the shared templates) with a CSRF token for its forms
    and ``context``; sets the anonymous CSRF cookie when a new one was issued."""
    csrf, csrf_cookie = form_csrf_token(request)
    return Template(
        template,
        context={"csrf": csrf, **context},
        status_code=status,
        cookies=[*(cookies or []), *([csrf_cookie] if csrf_cookie else [])],
    )
