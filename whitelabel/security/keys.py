"""Purpose-bound keys derived from ``WHITELABEL_SECRET_KEY``.

Every use of the secret (session-bound CSRF tokens, signed links, encryption at rest) takes its
own key, derived with HMAC-SHA256 over a purpose label, so that a value signed for one purpose is
never accepted for another and one key can be rotated by changing its label.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from whitelabel.errors import SettingsError
from whitelabel.settings import Settings

__all__ = ["derive_key", "derive_key_from", "sign", "verify"]


def derive_key(settings: Settings, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` (for example ``"csrf"`` or ``"links"``).

    Raises:
        SettingsError: no secret key is configured.
    """
    if not settings.secret_key:
        raise SettingsError("WHITELABEL_SECRET_KEY", "set (it signs sessions and links)")
    return derive_key_from(settings.secret_key, purpose)


def derive_key_from(secret: str, purpose: str) -> bytes:
    """The 32-byte key for ``purpose`` from one secret key (the current or a previous one)."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def sign(key: bytes, *parts: str) -> str:
    """A URL-safe HMAC-SHA256 of ``parts`` (joined unambiguously), without padding."""
    message = "\x1f".join(parts).encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def verify(key: bytes, signature: str, *parts: str) -> bool:
    """Whether ``signature`` is :func:`sign` of ``parts``, compared in constant time."""
    return hmac.compare_digest(sign(key, *parts).encode(), signature.encode())
