"""Mail without a database: the settings, the transport URL, backoff, and message building."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from whitelabel.errors import SettingsError
from whitelabel.mail.config import MailTransport, is_mail_address, parse_mail_url
from whitelabel.mail.dispatcher import backoff_delay
from whitelabel.mail.message import OutgoingMail, compose
from whitelabel.mail.senders import SendError, short_reason
from whitelabel.settings import Settings

SECRET = "s" * 32


def settings(**env: str) -> Settings:
    return Settings.from_env({"WHITELABEL_SECRET_KEY": SECRET, **env})


# -- settings -------------------------------------------------------------------------------------


def test_defaults_production_uses_the_local_mail_server() -> None:
    got = settings()
    assert got.mail_url == "smtp://localhost:25"
    assert got.mail_from == "no-reply@localhost"
    assert got.mail_dispatch is True


def test_defaults_demo_and_tests_print_to_the_console() -> None:
    got = Settings.from_env({}, allow_insecure_secret=True)
    assert got.mail_url == "console"


def test_mail_from_follows_the_base_domain_and_empty_values_mean_unset() -> None:
    got = settings(
        WHITELABEL_BASE_DOMAIN="Apps.Example.COM", WHITELABEL_MAIL_FROM="", WHITELABEL_MAIL_URL=""
    )
    assert got.mail_from == "no-reply@apps.example.com"
    assert got.mail_url == "smtp://localhost:25"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("console", MailTransport("console")),
        ("smtp://localhost", MailTransport("smtp", "localhost", 25)),
        ("smtp://127.0.0.1:2525", MailTransport("smtp", "127.0.0.1", 2525)),
        ("smtp://[::1]:2525", MailTransport("smtp", "::1", 2525)),
        (
            "smtp://apikey:p%40ss%3Aw0rd@smtp.example.com:587?starttls=1",
            MailTransport("smtp", "smtp.example.com", 587, "apikey", "p@ss:w0rd", starttls=True),
        ),
        (
            "smtps://u%40example.com:pw@mail.example.com?timeout=5",
            MailTransport("smtps", "mail.example.com", 465, "u@example.com", "pw", timeout=5.0),
        ),
        ("smtp://relay.internal:25?starttls=0", MailTransport("smtp", "relay.internal", 25)),
        ("SMTP://Relay.Internal/", MailTransport("smtp", "relay.internal", 25)),
    ],
)
def test_mail_url_valid(url: str, expected: MailTransport) -> None:
    assert parse_mail_url(url) == expected
    assert settings(WHITELABEL_MAIL_URL=url).mail_url == url


@pytest.mark.parametrize(
    "url",
    [
        "smtp://",
        "smtp://:25",
        "smtp://host:0",
        "smtp://host:99999",
        "smtp://host:port",
        "smtp://host/path",
        "smtp://host#frag",
        "smtp://host?startls=1",  # a typo is refused, not ignored
        "smtp://host?starttls=maybe",
        "smtp://host?timeout=0",
        "smtp://host?timeout=301",
        "smtp://host?timeout=1.5",
        "smtp://host?timeout",
        "smtps://host?starttls=1",
        "smtp://user:secret@host",  # a password in clear text
        "smtp://user:secret@host?starttls=0",
        "smtp://user@host:587?starttls=1",  # a user without a password
        "smtp://bad_host",
        "smtp://host name",
        "smtp://host\r\n",
        "http://mail.example.com",
        "sendmail",
        "Console",
        "console://",
        "mail.example.com:25",
    ],
)
def test_mail_url_invalid(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(WHITELABEL_MAIL_URL=url)
    assert caught.value.variable == "WHITELABEL_MAIL_URL"
    assert "smtp://" in caught.value.expected


def test_mail_url_errors_and_reprs_never_show_the_password() -> None:
    with pytest.raises(SettingsError) as caught:
        settings(WHITELABEL_MAIL_URL="smtp://user:hunter2@host?bogus=1")
    assert "hunter2" not in str(caught.value)
    transport = parse_mail_url("smtps://user:hunter2@host")
    assert "hunter2" not in repr(transport)
    assert "hunter2" not in repr(settings(WHITELABEL_MAIL_URL="smtps://user:hunter2@host"))
    assert transport.describe() == "smtps://user@host:465"


@pytest.mark.parametrize(
    "value", ["mail@example.com", "no-reply+tenant.mail@mail.example.co.uk", "a@localhost"]
)
def test_mail_from_valid(value: str) -> None:
    assert settings(WHITELABEL_MAIL_FROM=value).mail_from == value


@pytest.mark.parametrize(
    "value",
    [
        "no-reply",
        "Acme <no-reply@example.com>",
        "no-reply@example.com\r\nBcc: x@example.com",
        "no-reply@example.com, x@example.com",
        "no reply@example.com",
        "no-reply@exa_mple.com",
        "n\u00f8-reply@example.com",
    ],
)
def test_mail_from_invalid(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(WHITELABEL_MAIL_FROM=value)
    assert caught.value.variable == "WHITELABEL_MAIL_FROM"


@pytest.mark.parametrize(("value", "expected"), [("on", True), ("off", False)])
def test_mail_dispatch_valid(value: str, expected: bool) -> None:
    assert settings(WHITELABEL_MAIL_DISPATCH=value).mail_dispatch is expected


@pytest.mark.parametrize("value", ["", "ON", "1", "true", "yes", "no", "of"])
def test_mail_dispatch_invalid(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(WHITELABEL_MAIL_DISPATCH=value)
    assert caught.value.variable == "WHITELABEL_MAIL_DISPATCH"


def test_addresses_are_one_bare_ascii_address() -> None:
    assert is_mail_address("ada.lovelace+x@example.com")
    assert not is_mail_address("ada..lovelace@example.com")
    assert not is_mail_address(".ada@example.com")
    assert not is_mail_address("ada@example.com.")
    assert not is_mail_address("ada@-example.com")


# -- backoff --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [(1, 30, 60), (2, 60, 120), (3, 120, 240), (7, 1920, 3840), (8, 3600, 7200), (40, 3600, 7200)],
)
def test_backoff_doubles_up_to_the_cap_with_up_to_half_taken_off(
    attempts: int, low: float, high: float
) -> None:
    assert backoff_delay(attempts, base=60, cap=7200, rand=lambda: 0.0) == low
    assert backoff_delay(attempts, base=60, cap=7200, rand=lambda: 1.0) == high
    assert low <= backoff_delay(attempts, base=60, cap=7200) <= high


# -- building the message -------------------------------------------------------------------------


def _mail(**changes: object) -> OutgoingMail:
    values: dict[str, object] = {
        "id": uuid.UUID(int=1),
        "tenant_id": None,
        "kind": "test",
        "to_address": "ada@example.com",
        "from_name": "Northfield University",
        "subject": "Hello",
        "text_body": "Plain\n",
        "html_body": None,
        "message_id": "<00000000-0000-0000-0000-000000000001@example.com>",
        "attempts": 1,
        "created_at": datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
    }
    values.update(changes)
    return OutgoingMail(**values)  # type: ignore[arg-type]


def test_compose_sets_the_headers_from_the_row() -> None:
    message = compose(_mail(), "no-reply@example.com")
    assert message["From"] == "Northfield University <no-reply@example.com>"
    assert message["To"] == "ada@example.com"
    assert message["Date"] == "Fri, 27 Nov 2026 12:00:00 +0000"
    assert message["Message-ID"] == "<00000000-0000-0000-0000-000000000001@example.com>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "text/plain"


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"subject": "Hi\nBcc: victim@example.com"},
        {"to_address": "ada@example.com\r\nBcc: victim@example.com"},
        {"from_name": "Acme\r\nBcc: victim@example.com"},
    ],
)
def test_compose_refuses_header_injection(changes: dict[str, str]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the email package's own refusal
        compose(_mail(**changes), "no-reply@example.com")


def test_send_errors_keep_a_short_printable_reason() -> None:
    error = SendError("451 4.3.0\r\nTry\x00 again " + "x" * 400, permanent=False)
    assert error.reason.startswith("451 4.3.0 Try again ")
    assert len(error.reason) == 300
    assert short_reason("a\tb\nc") == "a b c"
