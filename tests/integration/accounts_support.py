"""What the accounts tests share: the client factory type, a valid password, cookie reading."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tenants.schemas import TenantView
from whitelabel.accounts.deps import SESSION_COOKIE

__all__ = ["PASSWORD", "ClientFor", "session_token"]

ClientFor = Callable[[TenantView | str], httpx.Client]
PASSWORD = "correct horse battery"


def session_token(response: httpx.Response) -> str:
    """The session token of a response's ``Set-Cookie`` (exactly one cookie is set)."""
    (header,) = response.headers.get_list("set-cookie")
    name, _, rest = header.partition("=")
    assert name == SESSION_COOKIE
    return rest.split(";", 1)[0]
