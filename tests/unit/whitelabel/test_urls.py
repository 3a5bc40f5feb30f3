"""Tenant URLs outside a request: the public scheme and port settings and ``tenant_base_url``."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from whitelabel.errors import SettingsError
from whitelabel.settings import Settings
from whitelabel.urls import tenant_base_url

GOOD = {"WHITELABEL_SECRET_KEY": "s" * 32}


@dataclass(frozen=True)
class Tenant:
    slug: str
    primary_host: str | None


def settings(**env: str) -> Settings:
    return Settings.from_env({**GOOD, **env})


def test_defaults_are_https_without_a_port() -> None:
    got = settings()
    assert (got.public_url_scheme, got.public_port) == ("https", None)
    assert settings(WHITELABEL_PUBLIC_URL_SCHEME="", WHITELABEL_PUBLIC_PORT="").public_port is None


@pytest.mark.parametrize(
    ("env", "tenant", "url"),
    [
        ({}, Tenant("acme", "acme.example.com"), "https://acme.example.com"),
        ({"WHITELABEL_PUBLIC_PORT": "443"}, Tenant("a", "a.localhost"), "https://a.localhost"),
        (
            {"WHITELABEL_PUBLIC_PORT": "8443"},
            Tenant("a", "a.localhost"),
            "https://a.localhost:8443",
        ),
        (
            {"WHITELABEL_PUBLIC_URL_SCHEME": "http", "WHITELABEL_PUBLIC_PORT": "8000"},
            Tenant("campus", "campus.localhost"),
            "http://campus.localhost:8000",
        ),
        (
            {"WHITELABEL_PUBLIC_URL_SCHEME": "http", "WHITELABEL_PUBLIC_PORT": "80"},
            Tenant("campus", "campus.localhost"),
            "http://campus.localhost",
        ),
        # no primary host (not routed yet): the tenant's subdomain of the base domain
        (
            {"WHITELABEL_BASE_DOMAIN": "apps.example.org"},
            Tenant("acme", None),
            "https://acme.apps.example.org",
        ),
        ({}, Tenant("acme", ""), "https://acme.localhost"),
    ],
)
def test_tenant_base_url(env: dict[str, str], tenant: Tenant, url: str) -> None:
    assert tenant_base_url(settings(**env), tenant) == url


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WHITELABEL_PUBLIC_URL_SCHEME", "ftp"),
        ("WHITELABEL_PUBLIC_URL_SCHEME", "HTTPS"),
        ("WHITELABEL_PUBLIC_URL_SCHEME", "https://"),
        ("WHITELABEL_PUBLIC_PORT", "0"),
        ("WHITELABEL_PUBLIC_PORT", "65536"),
        ("WHITELABEL_PUBLIC_PORT", "-1"),
        ("WHITELABEL_PUBLIC_PORT", "80a"),
        ("WHITELABEL_PUBLIC_PORT", "\u0668\u0660"),  # Arabic-Indic digits: int() takes them
        ("WHITELABEL_PUBLIC_PORT", " 80"),
    ],
)
def test_bad_values_name_their_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(**{variable: value})
    assert caught.value.variable == variable


def test_the_constructor_validates_too() -> None:
    with pytest.raises(SettingsError, match="WHITELABEL_PUBLIC_PORT"):
        Settings(secret_key="s" * 32, public_port=70000)
    with pytest.raises(SettingsError, match="WHITELABEL_PUBLIC_URL_SCHEME"):
        Settings(secret_key="s" * 32, public_url_scheme="gopher")
