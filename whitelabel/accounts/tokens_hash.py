"""The stored id of a secret token (session cookies, emailed links): its SHA-256 in hex."""

from __future__ import annotations

import hashlib

__all__ = ["token_id"]


def token_id(token: str) -> str:
    """The stored id of ``token``: its SHA-256 in hex (the token itself is never stored)."""
    return hashlib.sha256(token.encode()).hexdigest()
