"""What the accounts tests share: the client factory type, a valid password, cookie reading,
the CSRF header."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tenants.schemas import TenantView
from whitelabel.accounts.deps import SESSION_COOKIE

__all__ = ["PASSWORD", "ClientFor", "csrf_headers", "session_token"]

ClientFor = Callable[[TenantView | str], httpx.Client]
PASSWORD = "correct horse battery"


def session_token(response: httpx.Response) -> str:
    """The session token of a response's ``Set-Cookie`` (exactly one session cookie is set)."""
    (value,) = [
        rest.split(";", 1)[0]
        for name, _, rest in (h.partition("=") for h in response.headers.get_list("set-cookie"))
        if name == SESSION_COOKIE
    ]
    return value


def csrf_headers(client: httpx.Client) -> dict[str, str]:
    """The CSRF header for a cookie-authenticated unsafe request: the ``wl_csrf`` cookie's value
    sent back as ``X-CSRF-Token`` (empty when the client has no such cookie)."""
    token = client.cookies.get("wl_csrf")
    return {"X-CSRF-Token": token} if token else {}
