"""sso.oidc.presets: issuers built from what an administrator types, and what is refused."""

from __future__ import annotations

import pytest

from sso.oidc.presets import PRESETS, fill_preset
from whitelabel.errors import ValidationFailed

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@pytest.mark.parametrize(
    ("preset", "values", "issuer"),
    [
        ("google", {"domain": "Example.com "}, "https://accounts.google.com"),
        ("entra", {"tenant": TENANT.upper()}, f"https://login.microsoftonline.com/{TENANT}/v2.0"),
        ("okta", {"domain": "acme.okta.com"}, "https://acme.okta.com"),
        ("okta", {"domain": "acme.okta.com", "authorization_server": "default"}, "https://acme.okta.com/oauth2/default"),
        ("okta", {"domain": "login.acme.test", "authorization_server": "aus1a2b3c4d5e6f7g8h9"}, "https://login.acme.test/oauth2/aus1a2b3c4d5e6f7g8h9"),
        ("generic", {"issuer": "https://idp.example.test/realms/Acme"}, "https://idp.example.test/realms/Acme"),
    ],
)  # fmt: skip
def test_presets_fill_the_exact_issuer(preset: str, values: dict[str, str], issuer: str) -> None:
    filled = fill_preset(preset, values)
    assert filled.issuer == issuer
    assert filled.discovery_url == f"{issuer}/.well-known/openid-configuration"
    assert filled.scopes[0] == "openid"


def test_google_requires_the_domain_in_the_signed_token() -> None:
    filled = fill_preset("google", {"domain": "example.com"})
    assert filled.required_claims == {"hd": "example.com"}
    assert filled.authorization_params == {"hd": "example.com"}
    assert filled.claims.domain == "hd"


def test_groups_claims_where_the_provider_has_them() -> None:
    assert PRESETS["entra"].claims.groups == "groups"
    assert PRESETS["okta"].claims.groups == "groups"
    assert PRESETS["google"].claims.groups is None
    assert PRESETS["entra"].claims.email_verified is None  # Entra sends none
    assert PRESETS["entra"].discovery_url_template.endswith(
        "/{tenant}/v2.0/.well-known/openid-configuration"
    )


@pytest.mark.parametrize(
    ("preset", "values", "field"),
    [
        ("nope", {}, "preset"),
        ("google", {}, "domain"),
        ("google", {"domain": "example"}, "domain"),
        ("google", {"domain": "evil.com/x"}, "domain"),
        ("entra", {"tenant": "common"}, "tenant"),
        ("entra", {"tenant": "organizations"}, "tenant"),
        ("entra", {"tenant": "contoso.onmicrosoft.com"}, "tenant"),
        ("okta", {"domain": "acme.okta.com/oauth2"}, "domain"),
        (
            "okta",
            {"domain": "acme.okta.com", "authorization_server": "../x"},
            "authorization_server",
        ),
        ("generic", {"issuer": "http://idp.example.test"}, "issuer"),
        ("generic", {"issuer": "https://idp.example.test?x=1"}, "issuer"),
        ("generic", {"issuer": "https://u:p@idp.example.test"}, "issuer"),
    ],
)
def test_bad_values_are_refused_with_the_field(
    preset: str, values: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        fill_preset(preset, values)
    assert caught.value.detail == {"field": field}


def test_multi_tenant_entra_gets_an_explanation() -> None:
    with pytest.raises(ValidationFailed, match="multi-tenant"):
        fill_preset("entra", {"tenant": "common"})


def test_a_loopback_issuer_only_when_allowed() -> None:
    with pytest.raises(ValidationFailed):
        fill_preset("generic", {"issuer": "http://127.0.0.1:9000"})
    assert (
        fill_preset("generic", {"issuer": "http://127.0.0.1:9000"}, allow_loopback=True).issuer
        == "http://127.0.0.1:9000"
    )
