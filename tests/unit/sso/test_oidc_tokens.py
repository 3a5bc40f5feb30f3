"""sso.oidc.tokens.validate_id_token: every forgery and mix-up refused with its own code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, Key, KeySet, OKPKey, RSAKey

from sso.errors import SsoRejected
from sso.oidc.tokens import identity_from_claims, validate_id_token

ISSUER = "https://idp.example.test"
CLIENT = "client-tenant-a"
OTHER_CLIENT = "client-tenant-b"
NONCE = "n-0S6_WzA2Mj"
NOW = int(time.time())

RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig"})
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
ED = OKPKey.generate_key("Ed25519", parameters={"kid": "ed-1"})
ATTACKER = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})  # same kid, other key


def public(*keys: Key) -> KeySet:
    return KeySet.import_key_set({"keys": [key.as_dict(private=False) for key in keys]})


JWKS = public(RSA, EC, ED)


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "248289761001",
        "aud": CLIENT,
        "exp": NOW + 300,
        "iat": NOW,
        "nonce": NONCE,
        "email": "jane@example.test",
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def sign(payload: dict[str, Any], key: Key = RSA, alg: str = "RS256", **header: Any) -> str:
    head = {"alg": alg, "kid": key.kid, **header}
    return jwt.encode({k: v for k, v in head.items() if v is not None}, payload, key, [alg])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )


def validate(raw: str, jwks: KeySet = JWKS, **options: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"issuer": ISSUER, "client_id": CLIENT, "nonce": NONCE, "now": NOW}
    return validate_id_token(raw, jwks=jwks, **(settings | options))


def code_of(raw: str, jwks: KeySet = JWKS, **options: Any) -> str:
    with pytest.raises(SsoRejected) as caught:
        validate(raw, jwks, **options)
    return caught.value.code


@pytest.mark.parametrize(
    ("key", "alg"), [(RSA, "RS256"), (RSA, "PS256"), (EC, "ES256"), (ED, "Ed25519")]
)
def test_a_valid_token_is_accepted(key: Key, alg: str) -> None:
    assert validate(sign(claims(), key, alg))["sub"] == "248289761001"


def test_aud_list_with_our_azp_is_accepted() -> None:
    token = sign(claims(aud=[CLIENT, OTHER_CLIENT], azp=CLIENT))
    assert validate(token)["azp"] == CLIENT


def test_clock_skew_within_the_leeway_is_accepted() -> None:
    assert validate(sign(claims(exp=NOW - 30, iat=NOW + 30)))["iss"] == ISSUER


def test_without_kid_the_only_fitting_key_is_used() -> None:
    assert validate(sign(claims(), kid=None), jwks=public(RSA))["iss"] == ISSUER


def _hs256_with_public_key_as_secret() -> str:
    """The classic confusion attack: HMAC keyed with the provider's public key PEM."""
    header = b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    secret = RSA.as_pem(private=False)
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


def _tampered_signature() -> str:
    head, body, signature = sign(claims()).split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return f"{head}.{body}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"


def _tampered_payload() -> str:
    head, _, signature = sign(claims()).split(".")
    return f"{head}.{b64(json.dumps(claims(sub='admin')).encode())}.{signature}"


ATTACKS: list[tuple[str, str, str]] = [
    ("wrong iss", sign(claims(iss="https://evil.example.test")), "oidc_issuer_mismatch"),
    ("iss with trailing slash", sign(claims(iss=ISSUER + "/")), "oidc_issuer_mismatch"),
    ("no iss", sign(claims(iss=None)), "oidc_issuer_mismatch"),
    ("wrong aud", sign(claims(aud=OTHER_CLIENT)), "oidc_audience_mismatch"),
    ("aud list without us", sign(claims(aud=[OTHER_CLIENT, "x"])), "oidc_audience_mismatch"),
    ("no aud", sign(claims(aud=None)), "oidc_audience_mismatch"),
    ("aud list, no azp", sign(claims(aud=[CLIENT, OTHER_CLIENT])), "oidc_azp_mismatch"),
    (
        "aud list, azp other",
        sign(claims(aud=[CLIENT, OTHER_CLIENT], azp=OTHER_CLIENT)),
        "oidc_azp_mismatch",
    ),
    ("azp other", sign(claims(azp=OTHER_CLIENT)), "oidc_azp_mismatch"),
    ("expired", sign(claims(exp=NOW - 61, iat=NOW - 600)), "oidc_expired"),
    ("no exp", sign(claims(exp=None)), "oidc_expired"),
    ("iat in the future", sign(claims(iat=NOW + 120)), "oidc_iat_invalid"),
    ("no iat", sign(claims(iat=None)), "oidc_iat_invalid"),
    ("nbf in the future", sign(claims(nbf=NOW + 600)), "oidc_not_yet_valid"),
    ("bad nonce", sign(claims(nonce="other-login")), "oidc_nonce_mismatch"),
    ("no nonce", sign(claims(nonce=None)), "oidc_nonce_mismatch"),
    ("nonce list", sign(claims(nonce=["x", NONCE])), "oidc_nonce_mismatch"),
    ("no sub", sign(claims(sub=None)), "oidc_token_malformed"),
    ("alg none", unsigned({"alg": "none", "kid": "rsa-1"}, claims()), "oidc_alg_refused"),
    ("alg None", unsigned({"alg": "None"}, claims()), "oidc_alg_refused"),
    ("no alg", unsigned({"kid": "rsa-1"}, claims(), b"x"), "oidc_token_malformed"),
    ("HS256 with the public key", _hs256_with_public_key_as_secret(), "oidc_alg_refused"),
    ("tampered signature", _tampered_signature(), "oidc_signature_invalid"),
    ("tampered payload", _tampered_payload(), "oidc_signature_invalid"),
    ("attacker key, known kid", sign(claims(), ATTACKER), "oidc_signature_invalid"),
    ("RSA kid, ES256 alg", sign(claims(), EC, "ES256", kid="rsa-1"), "oidc_signature_invalid"),
    ("unknown kid", sign(claims(), kid="rotated-2"), "oidc_unknown_key"),
    ("not a JWT", "not-a-token", "oidc_token_malformed"),
    ("JWE", "a.b.c.d.e", "oidc_token_malformed"),
    ("garbage header", "!!!.e30.AA", "oidc_token_malformed"),
    ("b64 false", sign(claims(), b64=False, crit=["b64"]), "oidc_token_malformed"),
]


@pytest.mark.parametrize(("raw", "code"), [(raw, code) for _, raw, code in ATTACKS],
                         ids=[name for name, _, _ in ATTACKS])  # fmt: skip
def test_attacks_are_refused_with_their_code(raw: str, code: str) -> None:
    assert code_of(raw) == code


def test_an_algorithm_outside_the_narrowed_list_is_refused() -> None:
    token = sign(claims(), EC, "ES256")
    assert code_of(token, allowed_algs=frozenset({"RS256"})) == "oidc_alg_refused"


def test_without_kid_and_several_fitting_keys_the_token_is_refused() -> None:
    other = RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})
    assert code_of(sign(claims(), kid=None), jwks=public(RSA, other)) == "oidc_token_malformed"


def test_an_empty_expected_nonce_never_matches() -> None:
    assert code_of(sign(claims(nonce="")), nonce="") == "oidc_nonce_mismatch"


@pytest.mark.parametrize("algs", [{"HS256"}, {"RS256", "none"}, set()])
def test_symmetric_or_none_algorithms_cannot_be_allowed(algs: set[str]) -> None:
    with pytest.raises(ValueError, match="allowed_algs"):
        validate(sign(claims()), allowed_algs=frozenset(algs))


def test_errors_carry_no_token_material() -> None:
    token = sign(claims(iss="https://evil.example.test"))
    with pytest.raises(SsoRejected) as caught:
        validate(token)
    text = f"{caught.value} {caught.value.detail}"
    assert token not in text
    assert token.split(".")[2] not in text


@pytest.mark.parametrize(
    ("value", "verified"),
    [(True, True), ("true", True), (False, False), ("True", False), (1, False), ("yes", False),
     (None, False)],
)  # fmt: skip
def test_email_verified_only_when_the_provider_says_true(value: Any, verified: bool) -> None:
    identity = identity_from_claims(ISSUER, claims(email_verified=value))
    assert identity.email_verified is verified
    assert (identity.issuer, identity.subject, identity.email) == (
        ISSUER,
        "248289761001",
        "jane@example.test",
    )


def test_identity_ignores_non_string_profile_claims() -> None:
    identity = identity_from_claims(ISSUER, claims(email=["a@x.test"], name=7, given_name=""))
    assert (identity.email, identity.name, identity.given_name) == (None, None, None)
