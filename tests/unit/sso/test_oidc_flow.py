"""sso.oidc.flow: the authorization URL of begin(), and the callback checks of finish()."""

from __future__ import annotations

import hashlib
from base64 import urlsafe_b64encode
from urllib.parse import parse_qs, urlsplit

import pytest

from sso.errors import SsoRejected
from sso.oidc.discovery import ProviderMetadata, parse_metadata
from sso.oidc.flow import begin, check_callback

ISSUER = "https://idp.example.test"


def metadata(*, iss_parameter: bool = True) -> ProviderMetadata:
    return parse_metadata(
        {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize?tenant=acme",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/keys",
            "response_types_supported": ["code"],
            "authorization_response_iss_parameter_supported": iss_parameter,
        },
        issuer=ISSUER,
    )


def test_begin_makes_a_code_flow_url_with_pkce_state_and_nonce() -> None:
    start = begin(
        metadata(),
        client_id="client-a",
        redirect_uri="https://a.example.test/sso/callback",
        scopes=["email", "profile"],
        extra_params={"prompt": "login"},
    )
    url = urlsplit(start.url)
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ISSUER}/authorize"
    assert query["tenant"] == "acme"  # the endpoint's own query is kept
    assert query["response_type"] == "code"
    assert query["client_id"] == "client-a"
    assert query["redirect_uri"] == "https://a.example.test/sso/callback"
    assert query["scope"].split() == ["openid", "email", "profile"]
    assert (query["state"], query["nonce"]) == (start.state, start.nonce)
    assert query["code_challenge_method"] == "S256"
    digest = hashlib.sha256(start.code_verifier.encode()).digest()
    assert query["code_challenge"] == urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert query["prompt"] == "login"
    assert "code_verifier" not in query
    assert 43 <= len(start.code_verifier) <= 128
    assert len(start.state) >= 22 and len(start.nonce) >= 22  # at least 128 bits each
    assert start.code_verifier not in repr(start)


def test_every_attempt_has_fresh_secrets() -> None:
    first, second = (
        begin(metadata(), client_id="c", redirect_uri="https://a.test/cb", scopes=["openid"])
        for _ in range(2)
    )
    assert {first.state, first.nonce, first.code_verifier}.isdisjoint(
        {second.state, second.nonce, second.code_verifier}
    )


def test_extra_params_cannot_override_the_protocol() -> None:
    with pytest.raises(ValueError, match="state"):
        begin(
            metadata(),
            client_id="c",
            redirect_uri="https://a.test/cb",
            scopes=["openid"],
            extra_params={"state": "fixed"},
        )


GOOD = {"code": "c0de", "state": "expected-state", "iss": ISSUER}


@pytest.mark.parametrize(
    ("params", "iss_parameter", "code"),
    [
        ({**GOOD, "state": "other"}, True, "oidc_state_mismatch"),
        ({"code": "c0de", "iss": ISSUER}, True, "oidc_state_mismatch"),
        ({**GOOD, "state": ""}, True, "oidc_state_mismatch"),
        ({**GOOD, "iss": "https://evil.example.test"}, True, "oidc_callback_iss_mismatch"),
        ({**GOOD, "iss": "https://evil.example.test"}, False, "oidc_callback_iss_mismatch"),
        ({"code": "c0de", "state": "expected-state"}, True, "oidc_callback_iss_mismatch"),
        ({**GOOD, "error": "access_denied"}, True, "oidc_provider_error"),
        ({"state": "expected-state", "iss": ISSUER}, True, "oidc_callback_invalid"),
    ],
)
def test_bad_callbacks_are_refused(params: dict[str, str], iss_parameter: bool, code: str) -> None:
    with pytest.raises(SsoRejected) as caught:
        check_callback(
            metadata(iss_parameter=iss_parameter), params, expected_state="expected-state"
        )
    assert caught.value.code == code


def test_an_empty_expected_state_never_matches() -> None:
    with pytest.raises(SsoRejected) as caught:
        check_callback(metadata(), {**GOOD, "state": ""}, expected_state="")
    assert caught.value.code == "oidc_state_mismatch"


def test_a_provider_error_keeps_its_code_but_not_its_free_text() -> None:
    params = {**GOOD, "error": "<script>alert(1)</script>", "error_description": "<b>x</b>"}
    with pytest.raises(SsoRejected) as caught:
        check_callback(metadata(), params, expected_state="expected-state")
    assert caught.value.detail == {"error": "unrecognised"}
    assert "<" not in caught.value.message
    params = {**GOOD, "error": "access_denied", "error_description": "User said no"}
    with pytest.raises(SsoRejected) as caught:
        check_callback(metadata(), params, expected_state="expected-state")
    assert caught.value.detail == {"error": "access_denied"}


def test_a_good_callback_gives_the_code() -> None:
    assert check_callback(metadata(), GOOD, expected_state="expected-state") == "c0de"
    without_iss = {"code": "c0de", "state": "expected-state"}
    assert (
        check_callback(metadata(iss_parameter=False), without_iss, expected_state="expected-state")
        == "c0de"
    )
