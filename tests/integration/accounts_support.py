"""What the accounts tests share: the client factory type, a valid password, cookie reading,
the CSRF header."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie

import httpx

from tenants.schemas import TenantView
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.runtime import Runtime
from whitelabel.security.csrf_tokens import CSRF_COOKIE, anonymous_token
from whitelabel.security.csrf_tokens import session_token as bound
from whitelabel.security.keys import derive_key

__all__ = [
    "PASSWORD",
    "ClientFor",
    "csrf_cookie",
    "csrf_headers",
    "session_token",
    "signing_csrf",
]

ClientFor = Callable[[TenantView | str], httpx.Client]
PASSWORD = "correct horse battery"


def _set_cookie(response: httpx.Response, cookie: str) -> str:
    (value,) = [
        rest.split(";", 1)[0]
        for name, _, rest in (h.partition("=") for h in response.headers.get_list("set-cookie"))
        if name == cookie
    ]
    return value


def session_token(response: httpx.Response) -> str:
    """The session token of a response's ``Set-Cookie`` (exactly one session cookie is set)."""
    return _set_cookie(response, SESSION_COOKIE)


def csrf_cookie(response: httpx.Response) -> str:
    """The ``wl_csrf`` value a response sets (with a session: that session's CSRF token)."""
    return _set_cookie(response, CSRF_COOKIE)


def signing_csrf(client: httpx.Client, runtime: Runtime, tenant: TenantView) -> httpx.Client:
    """``client``, adding to each unsafe request without an ``X-CSRF-Token`` the token that a
    page of ``tenant`` would hold for the request's own cookies (computed with the server's
    key): the session's token, or without a session cookie an anonymous token and its cookie.

    For tests about something else (guards, isolation) that send cookies by hand; CSRF itself
    is tested in test_csrf.py.
    """
    key = derive_key(runtime.settings, "csrf")

    def sign(request: httpx.Request) -> None:
        if request.method in ("GET", "HEAD", "OPTIONS") or "x-csrf-token" in request.headers:
            return
        jar: SimpleCookie = SimpleCookie(request.headers.get("cookie", ""))
        if SESSION_COOKIE in jar:
            token = bound(key, str(tenant.id), jar[SESSION_COOKIE].value)
        else:
            token = anonymous_token(key, str(tenant.id))
            jar[CSRF_COOKIE] = token
            request.headers["cookie"] = "; ".join(f"{k}={m.value}" for k, m in jar.items())
        request.headers["x-csrf-token"] = token

    client.event_hooks["request"] = [*client.event_hooks["request"], sign]
    return client


def csrf_headers(client: httpx.Client) -> dict[str, str]:
    """The CSRF header for a cookie-authenticated unsafe request: the ``wl_csrf`` cookie's value
    sent back as ``X-CSRF-Token`` (empty when the client has no such cookie)."""
    token = client.cookies.get("wl_csrf")
    return {"X-CSRF-Token": token} if token else {}


def sign_up(client: httpx.Client, email: str, name: str | None = None) -> str:
    """Sign up through the API (the first user of a tenant is its owner); the client keeps the
    new session's cookies. Returns the user's id."""
    body = {"email": email, "password": PASSWORD, "display_name": name or email.split("@")[0]}
    response = client.post("/api/v1/auth/signup", json=body, headers=csrf_headers(client))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
