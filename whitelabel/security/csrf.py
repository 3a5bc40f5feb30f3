"""CSRF protection of tenant hosts: the middleware that enforces it and the token for forms.

Rules (docs/decisions/0002-csrf.md says why these and not Litestar's ``CSRFConfig``), for every
unsafe request (not GET, HEAD, OPTIONS or TRACE) on a tenant host:

1. **Origin**: refused (``csrf_origin_mismatch``) when ``Sec-Fetch-Site`` is ``cross-site`` or
   ``same-site`` (sibling tenant subdomains are same-site), or when ``Origin`` is present, not
   ``null``, and not the request's own scheme and host.
2. **With the session cookie** (``wl_session``): the ``X-CSRF-Token`` header, or the
   ``csrf_token`` form field, must equal the session-bound token
   (:func:`~whitelabel.security.csrf_tokens.session_token`). This is checked before anyone looks
   the session up, so a stale or unknown session cookie needs its token too.
3. **Without it**: a body whose ``Content-Type`` is ``application/json`` passes (a cross-site
   page cannot send one without a CORS preflight, which is never granted); anything else (forms,
   ``text/plain``, multipart, no body) needs an anonymous token: the ``wl_csrf`` cookie must be
   one this tenant issued and the header or form field must equal it.

Failures are 403 with the codes ``csrf_token_missing``, ``csrf_token_invalid`` and
``csrf_origin_mismatch``. The platform host (no cookie sign-in yet) and websockets are not
checked here. A route opts out with ``opt={"csrf": False}`` (a SAML ACS, which an identity
provider posts from another site); the middleware runs after routing, so it reads the opt of the
matched handler.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import Cookie, FormMultiDict, UploadFile
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from tenants.middleware import STATE_TENANT
from whitelabel.context import TenantContext, current_tenant
from whitelabel.errors import ClientError, Forbidden
from whitelabel.http_errors import client_error_response, http_exception_response
from whitelabel.runtime import Runtime
from whitelabel.security.csrf_tokens import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    anonymous_token,
    is_anonymous_token,
    matches,
    session_token,
)
from whitelabel.security.keys import derive_key

__all__ = [
    "SAFE_METHODS",
    "CsrfMiddleware",
    "CsrfOriginMismatch",
    "CsrfTokenInvalid",
    "CsrfTokenMissing",
    "form_csrf_token",
]

AnyRequest = Request[Any, Any, Any]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_REFUSED_SITES = frozenset({b"cross-site", b"same-site"})
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


class CsrfTokenMissing(Forbidden):
    """An unsafe request that needs a CSRF token sent none."""

    code = "csrf_token_missing"


class CsrfTokenInvalid(Forbidden):
    """The CSRF token sent is not the one of this session (or of this tenant's anonymous
    cookie)."""

    code = "csrf_token_invalid"


class CsrfOriginMismatch(Forbidden):
    """The browser says the request comes from another site or origin."""

    code = "csrf_origin_mismatch"


def _csrf_key(request: AnyRequest) -> bytes:
    runtime: Runtime = request.app.state["runtime"]
    return derive_key(runtime.settings, "csrf")


def form_csrf_token(request: AnyRequest) -> tuple[str, Cookie | None]:
    """The CSRF token to put in a form on this request's page, and a cookie to set, if any.

    With a session cookie: the session-bound token (nothing to set). Without one: the value of
    the ``wl_csrf`` cookie when it is a valid anonymous token of this tenant, else a new
    anonymous token with the cookie that carries it (``wl_csrf``: host-only, ``SameSite=Lax``,
    ``Secure`` on https, readable by scripts, for the browser session).

    Raises:
        TenantNotBoundError: no tenant is bound (call it on tenant hosts only).
    """
    tenant: TenantContext = request.scope["state"].get(STATE_TENANT) or current_tenant()
    key, tenant_id = _csrf_key(request), str(tenant.id)
    session = request.cookies.get(SESSION_COOKIE)
    if session is not None:
        return session_token(key, tenant_id, session), None
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and is_anonymous_token(key, tenant_id, existing):
        return existing, None
    token = anonymous_token(key, tenant_id)
    cookie = Cookie(
        key=CSRF_COOKIE,
        value=token,
        path="/",
        httponly=False,
        samesite="lax",
        secure=request.scope["scheme"] == "https",
    )
    return token, cookie


def _only_header(scope: Scope, name: bytes) -> bytes | None:
    """The value of header ``name`` when it appears once; ``b""`` when repeated; else None."""
    found: bytes | None = None
    for key, value in scope["headers"]:
        if key == name:
            if found is not None:
                return b""
            found = value
    return found


def _origin_of(scope: Scope) -> str:
    """``scheme://host[:port]`` of the request, lower-case, without a default port."""
    scheme = scope["scheme"]
    host = (_only_header(scope, b"host") or b"").decode("latin-1").lower()
    return f"{scheme}://{host.removesuffix(_DEFAULT_PORTS.get(scheme, ''))}"


def check_origin(scope: Scope) -> None:
    """Refuse what the browser labels as coming from another site or origin.

    Raises:
        CsrfOriginMismatch: ``Sec-Fetch-Site`` is ``cross-site`` or ``same-site``, or ``Origin``
            (present and not ``null``) is repeated or not the request's own origin.
    """
    site = _only_header(scope, b"sec-fetch-site")
    if site is not None and (site == b"" or site.lower() in _REFUSED_SITES):
        raise CsrfOriginMismatch("This request came from another site.")
    origin = _only_header(scope, b"origin")
    if origin is None or origin == b"null":
        return
    text = origin.decode("latin-1").lower()
    default_port = _DEFAULT_PORTS.get(text.partition("://")[0])
    if default_port:
        text = text.removesuffix(default_port)
    if text != _origin_of(scope):
        raise CsrfOriginMismatch("This request came from another site.")


async def _sent_token(request: AnyRequest, forms: list[FormMultiDict]) -> str | None:
    """The token in the ``X-CSRF-Token`` header, else in the ``csrf_token`` form field.

    Reading the form reads the body first: both stay cached in the scope, so the handler reads
    them again (as Litestar's own ``CSRFMiddleware`` does). A form read here is added to
    ``forms`` so that its uploaded files are closed after the request.
    """
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type[0] not in _FORM_TYPES:
        return None
    await request.body()
    form = await request.form()
    forms.append(form)
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) and value else None


def _is_json(scope: Scope) -> bool:
    """Whether the body is declared ``application/json`` (one header; parameters allowed)."""
    value = _only_header(scope, b"content-type") or b""
    return value.split(b";", 1)[0].strip().lower() == b"application/json"


async def check_token(
    request: AnyRequest, key: bytes, tenant: TenantContext, forms: list[FormMultiDict]
) -> None:
    """Enforce rules 2 and 3 of the module docs (a form it reads is added to ``forms``).

    Raises:
        CsrfTokenMissing: no token where one is needed.
        CsrfTokenInvalid: the token is not the expected one.
    """
    tenant_id = str(tenant.id)
    session = request.cookies.get(SESSION_COOKIE)
    if session is None and _is_json(request.scope):
        return
    sent = await _sent_token(request, forms)
    if sent is None:
        raise CsrfTokenMissing("This request needs its CSRF token; reload the page and retry.")
    if session is not None:
        expected: str | None = session_token(key, tenant_id, session)
    else:
        cookie = request.cookies.get(CSRF_COOKIE)
        expected = cookie if cookie and is_anonymous_token(key, tenant_id, cookie) else None
    if expected is None or not matches(expected, sent):
        raise CsrfTokenInvalid("The CSRF token is not valid; reload the page and retry.")


async def _close_uploads(forms: list[FormMultiDict]) -> None:
    for form in forms:
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                await value.close()


class CsrfMiddleware(ASGIMiddleware):
    """Enforces the module's rules on unsafe HTTP requests to tenant hosts.

    Place it after the tenancy middleware (it reads the tenant from ``scope["state"]``). A
    refusal is answered here, inside the outer middlewares, so it carries the request id and
    gets its access-log line like any response.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, key: bytes) -> None:
        self.key = key

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        tenant: TenantContext | None = scope["state"].get(STATE_TENANT)
        handler = scope.get("route_handler")
        if (
            scope.get("method") in SAFE_METHODS
            or tenant is None
            or (handler is not None and handler.opt.get("csrf", True) is False)
        ):
            await next_app(scope, receive, send)
            return
        request: AnyRequest = Request(scope, receive)
        forms: list[FormMultiDict] = []
        try:
            try:
                check_origin(scope)
                await check_token(request, self.key, tenant, forms)
            except ClientError as exc:
                response = client_error_response(request, exc)
            except HTTPException as exc:  # the body: too large, a malformed multipart form
                response = http_exception_response(request, exc)
            else:
                await next_app(scope, receive, send)
                return
            await response.to_asgi_response(None, request)(scope, receive, send)
        finally:
            await _close_uploads(forms)
