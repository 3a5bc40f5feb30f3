"""Connection secrets at rest: sealed under the current key, bound to their row and field,
opened with the current or a previous key, refused when tampered or moved."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from sso.secrets import SecretBox, SecretUnreadable, secret_context
from whitelabel.errors import SettingsError
from whitelabel.settings import Settings

OLD = "o" * 40
NEW = "n" * 40
TENANT_A, TENANT_B = uuid.uuid4(), uuid.uuid4()
CONNECTION = uuid.uuid4()
CONTEXT = secret_context(TENANT_A, CONNECTION, "client_secret")


def settings(secret: str | None, *previous: str) -> Settings:
    return replace(
        Settings.from_env({}, allow_insecure_secret=True),
        secret_key=secret,
        previous_secret_keys=previous,
    )


def test_a_sealed_secret_opens_and_does_not_show_the_plaintext() -> None:
    box = SecretBox(settings(NEW))
    sealed = box.seal("s3cr3t-client-secret", context=CONTEXT)
    assert "s3cr3t" not in sealed
    assert sealed.startswith(f"wl1.{box.current_key_id}.")
    assert box.open(sealed, context=CONTEXT) == "s3cr3t-client-secret"
    assert box.seal("x", context=CONTEXT) != box.seal("x", context=CONTEXT)  # fresh nonces


@pytest.mark.parametrize(
    "context",
    [
        secret_context(TENANT_B, CONNECTION, "client_secret"),  # another tenant's row
        secret_context(TENANT_A, uuid.uuid4(), "client_secret"),  # another connection
        secret_context(TENANT_A, CONNECTION, "sp_key"),  # another field
    ],
    ids=["other-tenant", "other-connection", "other-field"],
)
def test_a_secret_moved_to_another_row_or_field_does_not_open(context: str) -> None:
    box = SecretBox(settings(NEW))
    with pytest.raises(SecretUnreadable):
        box.open(box.seal("value", context=CONTEXT), context=context)


def tamper(sealed: str) -> str:
    last = sealed[-1]
    return sealed[:-1] + ("A" if last != "A" else "B")


@pytest.mark.parametrize(
    "make",
    [
        tamper,
        lambda s: s.replace("wl1.", "wl2.", 1),
        lambda s: "wl1.00000000." + s.split(".", 2)[2],
        lambda s: s.rsplit(".", 1)[0] + ".",
        lambda s: s.rsplit(".", 1)[0] + ".!!!not base64!!!",
        lambda s: "plain text",
        lambda s: "",
    ],
    ids=["flipped", "version", "unknown-key", "empty-body", "bad-base64", "plain", "empty"],
)
def test_tampered_or_malformed_values_are_refused(make: object) -> None:
    box = SecretBox(settings(NEW))
    sealed = box.seal("value", context=CONTEXT)
    assert callable(make)
    with pytest.raises(SecretUnreadable):
        box.open(make(sealed), context=CONTEXT)


def test_rotation_old_values_open_with_the_previous_key_and_want_resealing() -> None:
    before = SecretBox(settings(OLD))
    sealed = before.seal("value", context=CONTEXT)
    after = SecretBox(settings(NEW, OLD))
    assert after.open(sealed, context=CONTEXT) == "value"
    assert not after.is_current(sealed)
    resealed = after.seal(after.open(sealed, context=CONTEXT), context=CONTEXT)
    assert after.is_current(resealed)
    with pytest.raises(SecretUnreadable):  # once the old key is dropped, old values are gone
        SecretBox(settings(NEW)).open(sealed, context=CONTEXT)


def test_no_secret_key_is_a_settings_error() -> None:
    with pytest.raises(SettingsError):
        SecretBox(settings(None))


@pytest.mark.parametrize("value", ["short", f"{'k' * 40},short"])
def test_previous_keys_must_be_long_enough(value: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"WHITELABEL_SECRET_KEY": NEW, "WHITELABEL_PREVIOUS_SECRET_KEYS": value})
    assert error.value.variable == "WHITELABEL_PREVIOUS_SECRET_KEYS"


def test_previous_keys_are_read_in_order_and_hidden_from_repr() -> None:
    read = Settings.from_env(
        {"WHITELABEL_SECRET_KEY": NEW, "WHITELABEL_PREVIOUS_SECRET_KEYS": f" {OLD} ,{'p' * 33}"}
    )
    assert read.previous_secret_keys == (OLD, "p" * 33)
    assert OLD not in repr(read)


@pytest.mark.parametrize(("value", "expected"), [("on", True), ("off", False)])
def test_sso_loopback_switch(value: str, expected: bool) -> None:
    read = Settings.from_env({"WHITELABEL_SECRET_KEY": NEW, "WHITELABEL_SSO_ALLOW_LOOPBACK": value})
    assert read.sso_allow_loopback is expected


def test_sso_loopback_switch_refuses_other_values() -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({"WHITELABEL_SECRET_KEY": NEW, "WHITELABEL_SSO_ALLOW_LOOPBACK": "yes"})
