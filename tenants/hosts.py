"""Pure functions for hostnames and slugs: normalising the Host header and validating slugs.

Nothing here touches the database or any state, so every rule has a plain table-driven unit test.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

import idna

from whitelabel.errors import ClientError, ValidationFailed

__all__ = [
    "MAX_HOST_HEADER_BYTES",
    "RESERVED_SLUGS",
    "InvalidHost",
    "normalise_host",
    "parse_hostname",
    "validate_custom_hostname",
    "validate_slug",
]

MAX_HOST_HEADER_BYTES = 300
_MAX_HOSTNAME = 253
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PORT = re.compile(r"^[0-9]{1,5}$")
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")

RESERVED_SLUGS = frozenset(
    {
        "admin", "api", "app", "apps", "assets", "auth", "billing", "cdn", "console", "dashboard",
        "dev", "docs", "help", "internal", "localhost", "login", "mail", "platform", "root",
        "sso", "static", "status", "support", "system", "tenant", "test", "www",
    }
)  # fmt: skip


class InvalidHost(ClientError):
    """The Host header is missing, malformed or oversized (answered with 400)."""

    status_code = 400
    code = "invalid_host"


def _strip_port(host: str) -> str:
    if host.startswith("["):  # IPv6 literal: [::1] or [::1]:8000
        end = host.find("]")
        if end == -1:
            raise InvalidHost("The Host header has an unclosed IPv6 literal.")
        literal, rest = host[1:end], host[end + 1 :]
        if rest and not (rest.startswith(":") and _PORT.match(rest[1:]) and int(rest[1:]) <= 65535):
            raise InvalidHost("The Host header has a malformed port.")
        try:
            return f"[{ipaddress.IPv6Address(literal).compressed}]"
        except ValueError as exc:
            raise InvalidHost("The Host header has a malformed IPv6 literal.") from exc
    if ":" in host:
        host, port = host.rsplit(":", 1)
        if not _PORT.match(port) or int(port) > 65535:
            raise InvalidHost("The Host header has a malformed port.")
    return host


def _to_ascii(host: str) -> str:
    if host.isascii():
        ascii_host = host.lower()
        if "xn--" in ascii_host:
            try:  # refuse punycode that does not decode to a valid IDN
                idna.decode(ascii_host)
            except idna.IDNAError as exc:
                raise InvalidHost("The Host header has invalid punycode.") from exc
        return ascii_host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidHost("The Host header is not a valid internationalised name.") from exc


@lru_cache(maxsize=4096)  # pure: a hit skips the parsing on every request to a known host
def normalise_host(raw: bytes | str | None) -> str:
    """The canonical form of a Host header value: lower case, no port, no trailing dot, punycode.

    IP literals are returned in canonical form (``127.0.0.1``, ``[::1]``); they never name a tenant.

    Raises:
        InvalidHost: missing, empty, oversized, undecodable or malformed.
    """
    if raw is None:
        raise InvalidHost("The request has no Host header.")
    if len(raw) > MAX_HOST_HEADER_BYTES:
        raise InvalidHost("The Host header is too long.")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidHost("The Host header is not valid UTF-8.") from exc
    else:
        text = raw
    text = text.strip(" \t")
    if not text or any(ch in text for ch in "/\\@?#%\x00 \t\r\n"):
        raise InvalidHost("The Host header is empty or holds characters a host cannot have.")
    host = _strip_port(text)
    if host.startswith("["):
        return host
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise InvalidHost("The Host header names no host.")
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    host = _to_ascii(host)
    if _NUMBER.fullmatch(host.rsplit(".", 1)[-1]):
        # A name ending in a number is an IPv4 address to browsers (WHATWG URL: 0x7f.1, 127.1),
        # never a DNS name: canonical or refused, so it cannot pass for a custom domain.
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError as exc:
            raise InvalidHost("The Host header has a malformed IPv4 literal.") from exc
    if len(host) > _MAX_HOSTNAME or not all(_LABEL.match(label) for label in host.split(".")):
        raise InvalidHost("The Host header is not a valid hostname.")
    return host


def validate_slug(slug: str) -> str:
    """Check a tenant slug: one DNS label, lower case, not reserved. Returns it unchanged.

    Raises:
        ValidationFailed: with ``detail={"field": "slug", "reason": ...}``.
    """

    def fail(reason: str, message: str) -> ValidationFailed:
        return ValidationFailed(
            message, code="invalid_slug", detail={"field": "slug", "reason": reason}
        )

    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):  # match's $ allows a final \n
        raise fail(
            "format",
            "A slug is 1-63 lower-case letters, digits and hyphens, "
            "starting and ending with a letter or digit.",
        )
    if slug[2:4] == "--":
        raise fail("punycode", "A slug cannot have '--' in the third and fourth characters.")
    if slug in RESERVED_SLUGS:
        raise fail("reserved", f"The slug {slug!r} is reserved.")
    return slug


def parse_hostname(hostname: str) -> str:
    """Normalise a hostname given as an argument or a field (not a Host header): no port.

    Raises:
        ValidationFailed: ``invalid_hostname``, with ``reason: format`` for a scheme, port or path.
    """
    if ":" in hostname or "/" in hostname:
        raise ValidationFailed(
            "A hostname stands alone, without a scheme, port or path.",
            code="invalid_hostname",
            detail={"field": "hostname", "reason": "format"},
        )
    try:
        return normalise_host(hostname)
    except InvalidHost as exc:
        raise ValidationFailed(
            "Not a valid hostname: " + exc.message.removeprefix("The Host header ").rstrip("."),
            code="invalid_hostname",
            detail={"field": "hostname"},
        ) from exc


def validate_custom_hostname(hostname: str, *, base_domain: str, platform_host: str) -> str:
    """Normalise a custom domain and refuse hosts whitelabel owns (the base domain's own names).

    Raises:
        ValidationFailed: not a DNS name, an IP literal, or under the base domain.
    """
    host = parse_hostname(hostname)
    if host.startswith("[") or re.fullmatch(r"[0-9.]+", host) or "." not in host:
        raise ValidationFailed(
            "A custom domain is a DNS name with at least two labels, not an IP address.",
            code="invalid_hostname",
            detail={"field": "hostname"},
        )
    if host in (base_domain, platform_host) or host.endswith("." + base_domain):
        raise ValidationFailed(
            f"Hosts under {base_domain} are managed by whitelabel and cannot be added by hand.",
            code="invalid_hostname",
            detail={"field": "hostname", "reason": "base_domain"},
        )
    return host
