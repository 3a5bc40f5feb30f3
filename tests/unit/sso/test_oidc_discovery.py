"""sso.oidc.discovery.parse_metadata: what a provider's discovery document must say."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sso.errors import SsoRejected
from sso.oidc.discovery import check_issuer, discovery_url, parse_metadata

ISSUER = "https://idp.example.test/tenant-1"


def document(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/keys",
        "userinfo_endpoint": f"{ISSUER}/userinfo",
        "response_types_supported": ["code", "id_token"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "authorization_response_iss_parameter_supported": True,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def test_a_complete_document_is_accepted() -> None:
    metadata = parse_metadata(json.dumps(document()).encode(), issuer=ISSUER)
    assert metadata.token_endpoint == f"{ISSUER}/token"
    assert metadata.userinfo_endpoint == f"{ISSUER}/userinfo"
    assert metadata.token_endpoint_auth_methods == ("client_secret_post",)
    assert metadata.iss_parameter_supported is True
    assert metadata.allow_loopback is False


def test_defaults_when_optional_fields_are_absent() -> None:
    metadata = parse_metadata(
        document(
            userinfo_endpoint=None,
            code_challenge_methods_supported=None,
            token_endpoint_auth_methods_supported=None,
            authorization_response_iss_parameter_supported="true",  # a string is not true
        ),
        issuer=ISSUER,
    )
    assert metadata.userinfo_endpoint is None
    assert metadata.code_challenge_methods == ()
    assert metadata.token_endpoint_auth_methods == ("client_secret_basic",)
    assert metadata.iss_parameter_supported is False


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"issuer": ISSUER + "/"}, "oidc_discovery_issuer_mismatch"),
        ({"issuer": "https://idp.example.test/tenant-2"}, "oidc_discovery_issuer_mismatch"),
        ({"issuer": None}, "oidc_discovery_issuer_mismatch"),
        ({"token_endpoint": None}, "oidc_discovery_invalid"),
        ({"jwks_uri": None}, "oidc_discovery_invalid"),
        ({"authorization_endpoint": 7}, "oidc_discovery_invalid"),
        ({"token_endpoint": "http://idp.example.test/token"}, "oidc_discovery_invalid"),
        ({"jwks_uri": "https://user:pw@idp.example.test/keys"}, "oidc_discovery_invalid"),
        ({"userinfo_endpoint": "javascript:alert(1)"}, "oidc_discovery_invalid"),
        ({"response_types_supported": ["id_token"]}, "oidc_discovery_unsupported"),
        ({"response_types_supported": None}, "oidc_discovery_unsupported"),
        ({"response_types_supported": "code"}, "oidc_discovery_invalid"),
        ({"code_challenge_methods_supported": ["plain"]}, "oidc_discovery_unsupported"),
        (
            {"id_token_signing_alg_values_supported": ["HS256", "none"]},
            "oidc_discovery_unsupported",
        ),
        (
            {"token_endpoint_auth_methods_supported": ["private_key_jwt"]},
            "oidc_discovery_unsupported",
        ),
    ],
)
def test_bad_documents_are_refused(changes: dict[str, Any], code: str) -> None:
    with pytest.raises(SsoRejected) as caught:
        parse_metadata(document(**changes), issuer=ISSUER)
    assert caught.value.code == code


@pytest.mark.parametrize("raw", [b"<html>", b"[]", b'"issuer"', b"\xff"])
def test_non_objects_are_refused(raw: bytes) -> None:
    with pytest.raises(SsoRejected) as caught:
        parse_metadata(raw, issuer=ISSUER)
    assert caught.value.code == "oidc_discovery_invalid"


def test_loopback_endpoints_need_loopback_allowed() -> None:
    local = "http://127.0.0.1:8080"
    doc = document(
        issuer=local,
        authorization_endpoint=f"{local}/auth",
        token_endpoint=f"{local}/token",
        jwks_uri=f"{local}/jwks",
        userinfo_endpoint=None,
    )
    with pytest.raises(SsoRejected):
        parse_metadata(doc, issuer=local)
    assert parse_metadata(doc, issuer=local, allow_loopback=True).allow_loopback is True


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        ("https://accounts.google.com", "https://accounts.google.com/.well-known/openid-configuration"),
        ("https://idp.example.test/realm/", "https://idp.example.test/realm/.well-known/openid-configuration"),
    ],
)  # fmt: skip
def test_discovery_url(issuer: str, expected: str) -> None:
    assert discovery_url(issuer) == expected


@pytest.mark.parametrize(
    ("issuer", "code"),
    [
        ("http://idp.example.test", "url_not_https"),
        ("https://idp.example.test?tenant=1", "url_invalid"),
        ("https://idp.example.test#x", "url_invalid"),
    ],
)
def test_check_issuer(issuer: str, code: str) -> None:
    with pytest.raises(SsoRejected) as caught:
        check_issuer(issuer, allow_loopback=False)
    assert caught.value.code == code
