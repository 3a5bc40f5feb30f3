"""The cookies of a sign-in: the session cookie and its CSRF cookie, set and cleared together."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie

from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.accounts.service import ABSOLUTE_LIFETIME
from whitelabel.context import TenantContext
from whitelabel.runtime import Runtime
from whitelabel.security.csrf_tokens import CSRF_COOKIE, session_token
from whitelabel.security.keys import derive_key

__all__ = ["SESSION_COOKIE", "clear_session_cookies", "csrf_key", "session_cookies"]

AnyRequest = Request[Any, Any, Any]


def csrf_key(request: AnyRequest) -> bytes:
    """The CSRF signing key of this process (derived from ``WHITELABEL_SECRET_KEY``)."""
    runtime: Runtime = request.app.state["runtime"]
    return derive_key(runtime.settings, "csrf")


def session_cookies(request: AnyRequest, tenant: TenantContext, token: str) -> list[Cookie]:
    """The session cookie for ``token`` and the matching session-bound CSRF cookie.

    Both are host-only (no Domain), SameSite=Lax, Secure on https, and live as long as the
    session's absolute expiry (the server enforces both expiries regardless). The session cookie
    is HttpOnly; the CSRF cookie is readable by the page's scripts, which send it back in the
    ``X-CSRF-Token`` header.
    """
    secure = request.scope["scheme"] == "https"
    max_age = int(ABSOLUTE_LIFETIME.total_seconds())
    csrf = session_token(csrf_key(request), str(tenant.id), token)
    return [
        Cookie(
            key=SESSION_COOKIE,
            value=token,
            path="/",
            max_age=max_age,
            httponly=True,
            samesite="lax",
            secure=secure,
        ),
        Cookie(
            key=CSRF_COOKIE,
            value=csrf,
            path="/",
            max_age=max_age,
            httponly=False,
            samesite="lax",
            secure=secure,
        ),
    ]


def clear_session_cookies(response: Response[Any]) -> None:
    """Remove both cookies from the browser (sign-out)."""
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
