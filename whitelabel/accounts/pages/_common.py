"""What the account pages share: security headers, safe redirects, form reading, rendering."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from litestar import Request, Response
from litestar.datastructures import Cookie, ResponseHeader, UploadFile
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts import service
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.accounts.guards import ADMIN_ROLES
from whitelabel.accounts.models import User
from whitelabel.context import TenantContext
from whitelabel.errors import ClientError
from whitelabel.runtime import Runtime
from whitelabel.security.csrf import form_csrf_token
from whitelabel.security.keys import derive_key, sign, verify

__all__ = [
    "CSP",
    "FLASH_COOKIE",
    "MAX_NEXT",
    "PAGE_HEADERS",
    "AnyRequest",
    "Flash",
    "admin_or_refusal",
    "client_of",
    "error_headers",
    "flash_cookie",
    "forget_flash",
    "login_redirect",
    "read_flash",
    "read_form",
    "render",
    "require",
    "safe_next",
    "viewer_of",
]

AnyRequest = Request[Any, Any, Any]

#: No scripts, no external resources, no framing; styles only from this host (the theme's
#: versioned stylesheet), no inline style.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

#: Every account page carries personal data or a form: never cached, never framed, and the
#: Referer never leaks a page address (``/reset-password?token=...``) to another site.
PAGE_HEADERS = [
    ResponseHeader(name="cache-control", value="no-store"),
    ResponseHeader(name="content-security-policy", value=CSP),
    ResponseHeader(name="x-frame-options", value="DENY"),
    ResponseHeader(name="referrer-policy", value="no-referrer"),
    ResponseHeader(name="x-content-type-options", value="nosniff"),
]

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_NEXT = 2000
FLASH_COOKIE = "wl_flash"
_FLASH_PATH = "/admin"


def safe_next(raw: str | None) -> str:
    """``raw`` if it is a path on this host, else ``/``: the only redirect targets of forms.

    Refused: anything not starting with a single ``/`` (``//evil``, absolute and
    scheme-relative URLs), backslashes (``/\\evil``, which browsers read as ``//evil``), control
    characters and whitespace (browsers drop tabs and newlines, turning ``/\\t/evil`` into
    ``//evil``), non-ASCII text, and anything longer than 2000 characters.
    """
    if not raw or len(raw) > MAX_NEXT or not raw.isascii():
        return "/"
    if not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    if any(ch <= " " or ch == "\x7f" for ch in raw):
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return "/"
    return raw


def login_redirect(request: AnyRequest, target: str | None = None) -> Redirect:
    """303 to ``/login?next=<target>``; ``target`` defaults to this page (path and query)."""
    if target is None:
        target = request.scope["path"]
        if request.scope.get("query_string"):
            target += "?" + request.scope["query_string"].decode("latin-1")
    query = urlencode({"next": safe_next(target)}, safe="/")
    return Redirect(f"/login?{query}", status_code=303)


def client_of(request: AnyRequest) -> service.Client:
    """The client address and user agent, for sessions and the audit log."""
    return service.Client.of(request)


async def viewer_of(request: AnyRequest, db: AsyncSession) -> User | None:
    """The signed-in user of the request's session cookie, or ``None``."""
    return await service.authenticate(db, request.cookies.get(SESSION_COOKIE))


async def read_form(
    request: AnyRequest, limits: dict[str, int]
) -> tuple[dict[str, str], dict[str, str]]:
    """The form fields named in ``limits`` (name -> longest accepted length) and field errors.

    A field sent twice, sent as a file, or longer than its limit gets an error and no value; a
    missing field gets neither (the page decides whether it is required).

    Raises:
        ClientError: 415 ``unsupported_media_type``: the body is not a form.
    """
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in _FORM_TYPES:
        raise ClientError(
            "Send this form from its page.", code="unsupported_media_type", status_code=415
        )
    form = await request.form()
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, limit in limits.items():
        items: list[str | UploadFile] = form.getall(name, [])
        if not items:
            continue
        value = items[0]
        if len(items) > 1 or not isinstance(value, str):
            errors[name] = "Send this field once, as text."
        elif len(value) > limit:
            errors[name] = f"This is too long (at most {limit} characters)."
        else:
            values[name] = value
    return values, errors


def require(values: dict[str, str], errors: dict[str, str], messages: dict[str, str]) -> None:
    """Add ``messages[name]`` as the error of each named field that is missing or blank (and
    has no error yet)."""
    for name, message in messages.items():
        if name not in errors and not values.get(name, "").strip():
            errors[name] = message


def error_headers(exc: ClientError) -> dict[str, str]:
    """The headers an error asks for (``Retry-After`` of a rate limit)."""
    return dict(exc.headers)


def render(
    request: AnyRequest,
    tenant: TenantContext,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Template:
    """Render ``accounts/<template>`` with the tenant, a CSRF token for its forms and
    ``context``; sets the anonymous CSRF cookie when a new one was issued."""
    csrf, csrf_cookie = form_csrf_token(request)
    all_cookies = [*(cookies or []), *([csrf_cookie] if csrf_cookie else [])]
    return Template(
        f"accounts/{template}",
        context={"tenant": tenant, "csrf": csrf, **context},
        status_code=status,
        headers=headers,
        cookies=all_cookies,
    )


@dataclass(frozen=True, slots=True)
class Flash:
    """A one-time message shown after a redirect (``kind`` is ``ok`` or ``error``)."""

    kind: str
    text: str


def _flash_key(request: AnyRequest) -> bytes:
    runtime: Runtime = request.app.state["runtime"]
    return derive_key(runtime.settings, "flash")


def flash_cookie(request: AnyRequest, tenant: TenantContext, flash: Flash) -> Cookie:
    """The cookie that carries ``flash`` to the next admin page.

    Signed with the tenant's id: a cookie planted from a sibling host (cookie tossing) or copied
    from another tenant is ignored, so nobody can put words on an admin page.
    """
    payload = base64.urlsafe_b64encode(json.dumps([flash.kind, flash.text]).encode()).decode()
    signature = sign(_flash_key(request), "flash", str(tenant.id), payload)
    return Cookie(
        key=FLASH_COOKIE,
        value=f"{payload}.{signature}",
        path=_FLASH_PATH,
        max_age=60,
        httponly=True,
        samesite="lax",
        secure=request.scope["scheme"] == "https",
    )


def read_flash(request: AnyRequest, tenant: TenantContext) -> Flash | None:
    """The flash message of the request's cookie if its signature holds, else ``None``."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or len(raw) > 4000:
        return None
    payload, _, signature = raw.rpartition(".")
    if not payload or not verify(_flash_key(request), signature, "flash", str(tenant.id), payload):
        return None
    try:
        kind, text = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError, TypeError):
        return None
    if kind not in ("ok", "error") or not isinstance(text, str):
        return None
    return Flash(kind=kind, text=text)


def forget_flash(response: Response[Any]) -> None:
    """Delete the flash cookie (it has been shown)."""
    response.delete_cookie(FLASH_COOKIE, path=_FLASH_PATH)


async def admin_or_refusal(
    request: AnyRequest,
    tenant: TenantContext,
    db: AsyncSession,
    *,
    doing: str,
    target: str | None = None,
) -> User | Response[Any]:
    """The signed-in admin or owner; else the response to send instead: 303 to the sign-in
    page (nobody signed in; it comes back to ``target``, default this page), or a 403 page (a
    member) that says ``doing`` (such as "Managing the users") needs an admin."""
    viewer = await viewer_of(request, db)
    if viewer is None:
        return login_redirect(request, target)
    if viewer.role not in ADMIN_ROLES:
        return render(
            request,
            tenant,
            "message.html",
            status=403,
            viewer=viewer,
            heading="Admins only",
            message=f"{doing} of {tenant.name} needs an admin or an owner.",
            links=[("/", f"Back to {tenant.name}")],
        )
    return viewer
