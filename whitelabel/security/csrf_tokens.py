"""CSRF tokens: what they are and how they are checked (the middleware enforces them).

Two kinds, both signed with the ``csrf`` key derived from ``WHITELABEL_SECRET_KEY``:

* **session-bound**: ``HMAC(csrf key, "session", tenant id, session id)``. It needs no storage,
  changes whenever the session rotates (sign-in, privilege change) and cannot be made without the
  HttpOnly session cookie, so a cookie planted from another host is useless.
* **anonymous** (forms shown before sign-in, such as ``/login``): ``nonce.HMAC(csrf key, "anon",
  tenant id, nonce)``; the form field must equal the ``wl_csrf`` cookie, and the signature binds
  it to this tenant.

The browser gets the token in the ``wl_csrf`` cookie (readable by the page's scripts) and in
forms; it sends it back in the ``X-CSRF-Token`` header or the ``csrf_token`` form field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from whitelabel.security.keys import sign, verify

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "anonymous_token",
    "is_anonymous_token",
    "matches",
    "session_token",
]

CSRF_COOKIE = "wl_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
#: The session cookie of ``whitelabel.accounts`` (named here too so that security code never
#: imports the accounts package, whose plugin imports security code: an import cycle).
SESSION_COOKIE = "wl_session"
_MAX_LEN = 200


def session_token(key: bytes, tenant_id: str, session_cookie: str) -> str:
    """The CSRF token of the session whose cookie value is ``session_cookie``."""
    # The SHA-256 hex of the cookie, as ``whitelabel.accounts.tokens_hash.token_id`` (the
    # session's stored id), computed here for the reason given at SESSION_COOKIE.
    session_id = hashlib.sha256(session_cookie.encode()).hexdigest()
    return sign(key, "session", tenant_id, session_id)


def anonymous_token(key: bytes, tenant_id: str) -> str:
    """A new signed anonymous token for this tenant."""
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{sign(key, 'anon', tenant_id, nonce)}"


def is_anonymous_token(key: bytes, tenant_id: str, value: str) -> bool:
    """Whether ``value`` is an anonymous token this tenant issued (signature checked)."""
    if len(value) > _MAX_LEN:
        return False
    nonce, dot, signature = value.partition(".")
    return bool(dot and nonce) and verify(key, signature, "anon", tenant_id, nonce)


def matches(expected: str, sent: str | None) -> bool:
    """Constant-time comparison of the expected token and the one the request sent."""
    if not sent or len(sent) > _MAX_LEN:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())
