"""Password hashing (argon2id) and the password policy.

The hasher uses argon2-cffi's defaults, the RFC 9106 "low memory" profile (argon2id, t=3,
m=64 MiB, p=4). Hashing is CPU-bound, so the async helpers run it in a worker thread.
"""

from __future__ import annotations

import asyncio
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from whitelabel.errors import ValidationFailed

__all__ = [
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "check_password_policy",
    "hash_password",
    "verify_password",
]

MIN_PASSWORD = 10
MAX_PASSWORD = 128

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash with the real parameters, verified when there is no user, so that an unknown
    email costs the same time as a wrong password (no enumeration by timing)."""
    return _hasher.hash("not a password of anyone")


def check_password_policy(password: str, *, email: str) -> None:
    """Refuse weak passwords: 10-128 characters, not one repeated character, not the email.

    Raises:
        ValidationFailed: ``weak_password``, with the reason in the message.
    """
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        reason = f"A password is {MIN_PASSWORD}-{MAX_PASSWORD} characters."
    elif len(set(password)) == 1:
        reason = "A password is not one character repeated."
    elif password.strip().casefold() == email.casefold():
        reason = "A password is not the email address."
    else:
        return
    raise ValidationFailed(reason, code="weak_password", detail={"field": "password"})


async def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (computed in a worker thread)."""
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> tuple[bool, bool]:
    try:
        _hasher.verify(stored or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    if stored is None:
        return False, False
    return True, _hasher.check_needs_rehash(stored)


async def verify_password(stored: str | None, password: str) -> tuple[bool, bool]:
    """``(matches, needs_rehash)``. With no stored hash, verifies against a dummy hash and
    answers ``(False, False)`` after the same work as a real check."""
    return await asyncio.to_thread(_verify, stored, password)
