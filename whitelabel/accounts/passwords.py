"""Password hashing (argon2id) and the password policy.

The hasher uses argon2-cffi's defaults, the RFC 9106 "low memory" profile (argon2id, t=3,
m=64 MiB, p=4). Hashing is CPU-bound, so the async helpers run it in a worker thread.

Test suites may set ``WHITELABEL_PASSWORD_HASHING=test-only-cheap`` (``tests/conftest.py``
does): still argon2id through the same code, with t=1, m=1 MiB, p=1, a few hundred times
cheaper, so that a suite that signs hundreds of users up and in does not spend minutes hashing.
A process that uses it logs a warning; never set it where real passwords are stored. Hashes
keep their parameters, so a stored hash verifies under either profile, and a sign-in under the
real profile rehashes a cheap one (``needs_rehash``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from whitelabel.errors import SettingsError, ValidationFailed

__all__ = [
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "check_password_policy",
    "hash_password",
    "password_hasher",
    "verify_password",
]

MIN_PASSWORD = 10
MAX_PASSWORD = 128

#: Environment variable choosing the hashing profile (see the module's documentation).
HASHING_ENV = "WHITELABEL_PASSWORD_HASHING"
#: Its one other value: argon2id with t=1, m=1 MiB, p=1, for test suites only.
TEST_ONLY_CHEAP = "test-only-cheap"

log = logging.getLogger("whitelabel.accounts")


@cache
def password_hasher() -> PasswordHasher:
    """The process's hasher: RFC 9106 low memory, or the test-only profile when asked for.

    Raises:
        SettingsError: ``WHITELABEL_PASSWORD_HASHING`` has another value (checked when the app
            is made, by the accounts plugin).
    """
    profile = os.environ.get(HASHING_ENV, "")
    if profile == TEST_ONLY_CHEAP:
        log.warning(
            "%s=%s: passwords are hashed with test-only parameters (argon2id t=1, m=1 MiB); "
            "never use this where real passwords are stored",
            HASHING_ENV,
            TEST_ONLY_CHEAP,
        )
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
    if profile:
        raise SettingsError(HASHING_ENV, f"unset (the real parameters) or {TEST_ONLY_CHEAP}")
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash with the real parameters, verified when there is no user, so that an unknown
    email costs the same time as a wrong password (no enumeration by timing)."""
    return password_hasher().hash("not a password of anyone")


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
    return await asyncio.to_thread(password_hasher().hash, password)


def _verify(stored: str | None, password: str) -> tuple[bool, bool]:
    try:
        password_hasher().verify(stored or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    if stored is None:
        return False, False
    return True, password_hasher().check_needs_rehash(stored)


async def verify_password(stored: str | None, password: str) -> tuple[bool, bool]:
    """``(matches, needs_rehash)``. With no stored hash, verifies against a dummy hash and
    answers ``(False, False)`` after the same work as a real check."""
    return await asyncio.to_thread(_verify, stored, password)
