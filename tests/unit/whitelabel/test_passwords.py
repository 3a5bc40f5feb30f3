"""Password hashing profiles: the real one by default, the test-only one only when asked for,
anything else refused; hashes of either profile verify under the other."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from whitelabel.accounts import passwords
from whitelabel.errors import SettingsError


@pytest.fixture
def profile(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Choose a profile for one test; the process's hasher is rebuilt before and after."""
    passwords.password_hasher.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    passwords.password_hasher.cache_clear()


def parameters(encoded: str) -> str:
    return encoded.split("$")[3]  # $argon2id$v=19$m=...,t=...,p=...$salt$hash


def test_the_default_is_rfc_9106_low_memory(profile: pytest.MonkeyPatch) -> None:
    profile.delenv(passwords.HASHING_ENV, raising=False)
    hasher = passwords.password_hasher()
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (3, 65536, 4)


def test_the_test_only_profile_is_cheap_argon2id_and_says_so(
    profile: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    profile.setenv(passwords.HASHING_ENV, passwords.TEST_ONLY_CHEAP)
    hashed = passwords.password_hasher().hash("correct horse battery")
    assert hashed.startswith("$argon2id$") and parameters(hashed) == "m=1024,t=1,p=1"
    assert "never use this where real passwords are stored" in caplog.text


@pytest.mark.parametrize("value", ["cheap", "TEST-ONLY-CHEAP", "off", "test-only-cheap "])
def test_any_other_value_is_a_settings_error(profile: pytest.MonkeyPatch, value: str) -> None:
    profile.setenv(passwords.HASHING_ENV, value)
    with pytest.raises(SettingsError) as error:
        passwords.password_hasher()
    assert error.value.variable == "WHITELABEL_PASSWORD_HASHING"
    assert "test-only-cheap" in str(error.value)


def test_a_cheap_hash_verifies_under_the_real_profile_and_asks_to_be_rehashed(
    profile: pytest.MonkeyPatch,
) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("correct horse")
    profile.delenv(passwords.HASHING_ENV, raising=False)
    assert asyncio.run(passwords.verify_password(cheap, "correct horse")) == (True, True)
    assert asyncio.run(passwords.verify_password(cheap, "wrong horse!")) == (False, False)


def test_no_stored_hash_never_matches(profile: pytest.MonkeyPatch) -> None:
    profile.setenv(passwords.HASHING_ENV, passwords.TEST_ONLY_CHEAP)
    passwords._dummy_hash.cache_clear()
    assert asyncio.run(passwords.verify_password(None, "not a password of anyone")) == (
        False,
        False,
    )
    with pytest.raises(VerifyMismatchError):
        passwords.password_hasher().verify(passwords._dummy_hash(), "anything else")
    passwords._dummy_hash.cache_clear()
