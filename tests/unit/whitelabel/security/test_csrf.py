"""The CSRF origin check as a pure function of the ASGI scope (https and default ports, which
the live-server tests on plain http cannot show), and the cookie name shared with accounts."""

from __future__ import annotations

from typing import Any

import pytest

from whitelabel.accounts.deps import SESSION_COOKIE as ACCOUNTS_SESSION_COOKIE
from whitelabel.security.csrf import CsrfOriginMismatch, check_origin
from whitelabel.security.csrf_tokens import SESSION_COOKIE


def _scope(scheme: str, host: str, **headers: str | bytes) -> Any:
    raw = [(b"host", host.encode())]
    for name, value in headers.items():
        data = value if isinstance(value, bytes) else value.encode()
        raw.append((name.replace("_", "-").encode(), data))
    return {"type": "http", "scheme": scheme, "headers": raw}


@pytest.mark.parametrize(
    ("scheme", "host", "origin"),
    [
        ("https", "campus.example.org", "https://campus.example.org"),
        ("https", "campus.example.org", "https://campus.example.org:443"),
        ("https", "campus.example.org:443", "https://campus.example.org"),
        ("https", "Campus.Example.org", "https://campus.example.ORG"),
        ("http", "campus.localhost:8000", "http://campus.localhost:8000"),
        ("http", "campus.localhost", "http://campus.localhost:80"),
        ("https", "campus.example.org", "null"),
        ("https", "campus.example.org", None),
    ],
)
def test_own_origin_passes(scheme: str, host: str, origin: str | None) -> None:
    headers = {"origin": origin} if origin is not None else {}
    check_origin(_scope(scheme, host, **headers))


@pytest.mark.parametrize(
    ("scheme", "host", "headers"),
    [
        ("https", "campus.example.org", {"origin": "http://campus.example.org"}),
        ("https", "campus.example.org", {"origin": "https://campus.example.org:8443"}),
        ("https", "campus.example.org", {"origin": "https://acme.example.org"}),
        ("https", "campus.example.org", {"origin": "https://campus.example.org.evil.io"}),
        ("https", "campus.example.org", {"origin": "https://campus.example.org:443:443"}),
        ("http", "campus.localhost", {"origin": "http://campus.localhost:443"}),
        ("https", "campus.example.org", {"origin": b"https://caf\xc3\xa9.example.org"}),
        ("https", "campus.example.org", {"origin": ""}),
        ("https", "campus.example.org", {"sec_fetch_site": "cross-site"}),
        ("https", "campus.example.org", {"sec_fetch_site": "same-site"}),
        (
            "https",
            "campus.example.org",
            {"sec_fetch_site": "same-site", "origin": "https://campus.example.org"},
        ),
    ],
)
def test_another_origin_or_site_is_refused(
    scheme: str, host: str, headers: dict[str, str | bytes]
) -> None:
    with pytest.raises(CsrfOriginMismatch) as exc:
        check_origin(_scope(scheme, host, **headers))
    assert exc.value.status_code == 403
    assert exc.value.code == "csrf_origin_mismatch"


def test_repeated_fetch_metadata_or_origin_is_refused() -> None:
    for name, value in ((b"sec-fetch-site", b"same-origin"), (b"origin", b"https://a.example.org")):
        scope = _scope("https", "a.example.org")
        scope["headers"] += [(name, value), (name, value)]
        with pytest.raises(CsrfOriginMismatch):
            check_origin(scope)


def test_same_origin_and_user_initiated_fetches_pass() -> None:
    for site in ("same-origin", "none"):
        check_origin(_scope("https", "a.example.org", sec_fetch_site=site))


def test_security_code_names_the_accounts_session_cookie() -> None:
    assert SESSION_COOKIE == ACCOUNTS_SESSION_COOKIE
