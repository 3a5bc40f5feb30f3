"""Parsing and checking of the mail settings: the transport URL and email addresses.

Kept free of database imports: :mod:`whitelabel.settings` validates ``WHITELABEL_MAIL_URL`` and
``WHITELABEL_MAIL_FROM`` with these functions at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from whitelabel.errors import SettingsError

__all__ = [
    "DEFAULT_TIMEOUT",
    "MailTransport",
    "is_mail_address",
    "parse_mail_url",
]

DEFAULT_TIMEOUT = 30.0
_URL_EXPECTED = (
    "console, or an SMTP URL such as smtp://user:password@mail.example.com:587?starttls=1 or "
    "smtps://user:password@mail.example.com:465 (options: starttls=0|1, timeout=1-300 seconds; "
    "a user and password need smtps:// or starttls=1)"
)
_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
_SECONDS = re.compile(r"[0-9]{1,3}")
# RFC 5321/5322 dot-atom local part, ASCII only: addresses reach SMTP envelopes and headers, so
# anything looser (quoted strings, comments, non-ASCII needing SMTPUTF8) is refused up front.
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def is_mail_address(value: str) -> bool:
    """Whether ``value`` is one bare ASCII address ``local@domain`` (no display name, no
    comments, no whitespace or line breaks), at most 254 characters."""
    local, at, domain = value.rpartition("@")
    return (
        bool(at)
        and len(value) <= 254
        and len(local) <= 64
        and _LOCAL.fullmatch(local) is not None
        and all(_LABEL.fullmatch(label) for label in domain.split("."))
    )


@dataclass(frozen=True, slots=True)
class MailTransport:
    """Where outgoing mail goes, parsed from ``WHITELABEL_MAIL_URL``."""

    scheme: Literal["console", "smtp", "smtps"]
    host: str = ""
    port: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout: float = DEFAULT_TIMEOUT

    @property
    def uses_tls(self) -> bool:
        """Whether the connection is encrypted (implicit TLS or STARTTLS)."""
        return self.scheme == "smtps" or self.starttls

    def describe(self) -> str:
        """A description for logs and ``mail status``, without the password."""
        if self.scheme == "console":
            return "console"
        user = f"{self.username}@" if self.username else ""
        tls = "?starttls=1" if self.starttls else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}{tls}"


def _bad(reason: str | None = None) -> SettingsError:
    return SettingsError("WHITELABEL_MAIL_URL", _URL_EXPECTED + (f" ({reason})" if reason else ""))


def parse_mail_url(url: str) -> MailTransport:
    """Parse ``WHITELABEL_MAIL_URL``: ``console``, ``smtp://...`` or ``smtps://...``.

    Raises:
        SettingsError: the value is malformed, has unknown options, or sends credentials
            without TLS.
    """
    if url == "console":
        return MailTransport("console")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise _bad()
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or parts.path not in ("", "/") or parts.fragment:
        raise _bad()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number or out of range
        raise _bad() from None
    if port is None:
        port = 465 if parts.scheme == "smtps" else 25
    elif port == 0:
        raise _bad()
    host = parts.hostname or ""
    named = bool(host) and all(_LABEL.fullmatch(label) for label in host.split("."))
    if not named and not re.fullmatch(r"[0-9a-fA-F:.]+", host):  # nor an IPv4/IPv6 literal
        raise _bad()
    starttls = False
    timeout = DEFAULT_TIMEOUT
    try:
        options = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise _bad() from None
    for key, value in options:
        if key == "starttls" and value.lower() in _FLAGS:
            starttls = _FLAGS[value.lower()]
        elif key == "timeout" and _SECONDS.fullmatch(value) and 1 <= int(value) <= 300:
            timeout = float(value)
        else:
            raise _bad(f"option {key!r}")
    if parts.scheme == "smtps" and starttls:
        raise _bad("smtps:// is already TLS; starttls applies to smtp://")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if (username is None) != (password is None):
        raise _bad("give both a user and a password, or neither")
    transport = MailTransport(
        "smtps" if parts.scheme == "smtps" else "smtp",
        host=host,
        port=port,
        username=username,
        password=password,
        starttls=starttls,
        timeout=timeout,
    )
    if username is not None and not transport.uses_tls:
        raise _bad("a password would travel in clear text")
    return transport
