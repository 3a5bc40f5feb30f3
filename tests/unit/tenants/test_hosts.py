"""Host header normalisation, slug and custom hostname validation: tables of (input, expected)."""

from __future__ import annotations

import pytest

from tenants.hosts import (
    MAX_HOST_HEADER_BYTES,
    RESERVED_SLUGS,
    InvalidHost,
    normalise_host,
    validate_custom_hostname,
    validate_slug,
)
from whitelabel.errors import ClientError, ValidationFailed

BASE = "example.com"
PLATFORM = "console.example.com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # plain names, case, trailing dot
        ("acme.localhost", "acme.localhost"),
        ("ACME.LocalHost", "acme.localhost"),
        ("acme.localhost.", "acme.localhost"),
        ("ACME.localhost.:8000", "acme.localhost"),
        ("a-b.c0.example.com", "a-b.c0.example.com"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
        ("localhost", "localhost"),
        (" acme.localhost\t", "acme.localhost"),  # optional whitespace around a field value
        # ports
        ("acme.localhost:8000", "acme.localhost"),
        ("acme.localhost:0", "acme.localhost"),
        ("acme.localhost:65535", "acme.localhost"),
        ("acme.localhost:080", "acme.localhost"),
        # bytes as they come from the ASGI scope
        (b"acme.localhost:8000", "acme.localhost"),
        ("b\u00fccher.de".encode(), "xn--bcher-kva.de"),
        # IDN: unicode to punycode (UTS 46 mapping: case folding, ideographic full stop)
        ("b\u00fccher.de", "xn--bcher-kva.de"),
        ("B\u00dcCHER.de", "xn--bcher-kva.de"),
        ("b\u00fccher\u3002de", "xn--bcher-kva.de"),
        ("b\u00fccher.de:443", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("XN--BCHER-KVA.DE", "xn--bcher-kva.de"),
        # IPv4 literals: canonical form, port dropped
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1:8000", "127.0.0.1"),
        ("10.0.0.255.", "10.0.0.255"),
        # IPv6 literals: bracketed, compressed, lower case, port dropped
        ("[::1]", "[::1]"),
        ("[::1]:8000", "[::1]"),
        ("[0:0:0:0:0:0:0:1]", "[::1]"),
        ("[2001:DB8:0:0:0:0:0:1]:443", "[2001:db8::1]"),
        ("[::1]:65535", "[::1]"),
    ],
)
def test_normalise_host_accepts(raw: str | bytes, expected: str) -> None:
    assert normalise_host(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        # missing, empty, oversized
        None,
        "",
        b"",
        " ",
        "a" * (MAX_HOST_HEADER_BYTES + 1),
        b"a" * (MAX_HOST_HEADER_BYTES + 1),
        # ports
        "acme.localhost:65536",
        "acme.localhost:99999",
        "acme.localhost:123456",
        "acme.localhost:",
        "acme.localhost:http",
        "acme.localhost:8o",
        "acme.localhost:+80",
        "acme.localhost:-1",
        "acme.localhost:\u0663",  # ARABIC-INDIC DIGIT THREE is not a port digit
        "acme.localhost:80:80",
        ":8000",
        # trailing dots: one is fine, two are an empty label
        "acme.localhost..",
        ".",
        ".acme.localhost",
        "acme..localhost",
        # IDN that is not valid
        "xn--zz.de",
        "xn--a.de",
        "xn--.de",
        "xn--53h.com",  # punycode of a symbol IDNA 2008 disallows
        "\u2603.com",  # the symbol itself
        # IPv4 literals that are not canonical (browsers read all of these as addresses)
        "256.1.1.1",
        "1.2.3",
        "127.000.0.1",
        "0x7f.0.0.1",
        "2130706433",
        "127.0.0.1:99999",
        # IPv6 literals, malformed
        "[::1",
        "[::1]x",
        "[::1]:",
        "[::1]:99999",
        "[::1]:65536",
        "[zz::1]",
        "[]",
        "::1",
        "[fe80::1%eth0]",
        # garbage bytes
        b"\xff\xfe",
        b"acme\xc3.localhost",
        "acme\x00.localhost",
        "acme.localhost\r\nX-Evil: 1",
        "acme.localhost\n",
        "ac me.localhost",
        "acme.localhost/path",
        "user@acme.localhost",
        "acme.localhost?x",
        "acme.localhost#x",
        "acme%2elocalhost",
        "acme\\localhost",
        # labels
        "a" * 64 + ".com",
        ".".join(["a" * 63] * 3 + ["a" * 62]),  # 254 characters
        "-acme.localhost",
        "acme-.localhost",
        "acme.-localhost",
        "ac_me.localhost",
    ],
)
def test_normalise_host_refuses(raw: str | bytes | None) -> None:
    with pytest.raises(InvalidHost) as caught:
        normalise_host(raw)
    assert caught.value.code == "invalid_host"
    assert caught.value.status_code == 400
    assert isinstance(caught.value, ClientError)
    assert caught.value.message


def test_longest_valid_hostname_is_accepted() -> None:
    host = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters
    assert normalise_host(host) == host


@pytest.mark.parametrize(
    "slug", ["a", "0", "acme", "a-b", "campus2", "x" * 63, "a-b-c", "xn", "ab-cd"]
)
def test_validate_slug_accepts(slug: str) -> None:
    assert validate_slug(slug) == slug


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("", "format"),
        ("x" * 64, "format"),
        ("Acme", "format"),
        ("ACME", "format"),
        ("ac_me", "format"),
        ("-acme", "format"),
        ("acme-", "format"),
        ("ac me", "format"),
        ("acme.io", "format"),
        ("acme\n", "format"),
        ("\u00e9cole", "format"),
        ("xn--bcher-kva", "punycode"),
        ("ab--cd", "punycode"),
        *((word, "reserved") for word in sorted(RESERVED_SLUGS)),
    ],
)
def test_validate_slug_refuses(slug: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_slug(slug)
    assert caught.value.code == "invalid_slug"
    assert caught.value.detail == {"field": "slug", "reason": reason}


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("shop.example.org", "shop.example.org"),
        ("Shop.Example.ORG.", "shop.example.org"),
        ("b\u00fccher.de", "xn--bcher-kva.de"),
        ("example.org", "example.org"),
        ("notexample.com", "notexample.com"),  # ends with the base domain's text, not under it
        ("example.com.evil.org", "example.com.evil.org"),
    ],
)
def test_validate_custom_hostname_accepts(hostname: str, expected: str) -> None:
    assert validate_custom_hostname(hostname, base_domain=BASE, platform_host=PLATFORM) == expected


@pytest.mark.parametrize(
    ("hostname", "reason"),
    [
        # under the base domain, or the platform host: whitelabel owns them
        ("example.com", "base_domain"),
        ("EXAMPLE.com.", "base_domain"),
        ("acme.example.com", "base_domain"),
        ("deep.acme.example.com", "base_domain"),
        ("console.example.com", "base_domain"),
        # IP literals
        ("127.0.0.1", None),
        ("10.1.2.3:80", "format"),
        ("[::1]", "format"),
        ("0x7f.0.0.1", None),
        ("127.1", None),
        # a single label
        ("intranet", None),
        ("localhost", None),
        # not a host at all
        ("", None),
        ("a..b", None),
        ("bad_name.org", None),
        ("-shop.example.org", None),
        ("shop.example.org/x", "format"),
        ("shop.example.org:8080", "format"),
        ("https://shop.example.org", "format"),
        ("xn--zz.org", None),
    ],
)
def test_validate_custom_hostname_refuses(hostname: str, reason: str | None) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_custom_hostname(hostname, base_domain=BASE, platform_host=PLATFORM)
    assert caught.value.code == "invalid_hostname"
    assert caught.value.detail["field"] == "hostname"
    assert caught.value.detail.get("reason") == reason


def test_platform_host_outside_the_base_domain_is_refused_as_custom_domain() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_custom_hostname(
            "ops.platform.net", base_domain=BASE, platform_host="ops.platform.net"
        )
    assert caught.value.code == "invalid_hostname"
    assert caught.value.detail == {"field": "hostname", "reason": "base_domain"}
