"""The OpenID Connect relying party against a real OpenID Provider (npm oidc-provider) on loopback.

Two clients stand for two tenants of one provider; every sign-in goes through the provider's own
login and consent pages (scripted, no browser) and back through sso.oidc.flow.finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sso.errors import SsoRejected
from sso.oidc import (
    AuthorizationStart,
    JwksCache,
    OidcIdentity,
    ProviderMetadata,
    begin,
    discover,
    exchange_code,
    finish,
)
from tests.sso_support.oidc_provider import (
    OidcPeer,
    PeerClient,
    login,
    new_signing_key,
    oidc_provider,
)

TENANT_A = PeerClient("tenant-a", "secret-of-tenant-a-0123456789", "http://a.localhost/sso/cb")
TENANT_B = PeerClient("tenant-b", "secret-of-tenant-b-9876543210", "http://b.localhost/sso/cb")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcPeer]:
    with oidc_provider(tmp_path_factory.mktemp("oidc"), [TENANT_A, TENANT_B]) as running:
        yield running


@pytest.fixture(scope="module")
def metadata(peer: OidcPeer) -> ProviderMetadata:
    return asyncio.run(discover(peer.issuer, allow_loopback=True))


def start(metadata: ProviderMetadata, client: PeerClient) -> AuthorizationStart:
    return begin(
        metadata,
        client_id=client.client_id,
        redirect_uri=client.redirect_uri,
        scopes=["email", "profile"],
    )


def complete(
    metadata: ProviderMetadata,
    client: PeerClient,
    attempt: AuthorizationStart,
    params: dict[str, str],
    *,
    jwks_cache: JwksCache | None = None,
    **overrides: Any,
) -> OidcIdentity:
    arguments: dict[str, Any] = {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "redirect_uri": client.redirect_uri,
        "callback_params": params,
        "expected_state": attempt.state,
        "code_verifier": attempt.code_verifier,
        "nonce": attempt.nonce,
        "jwks_cache": jwks_cache or JwksCache(allow_loopback=True),
        "http_timeout": 10.0,
    }
    return asyncio.run(finish(metadata, **(arguments | overrides)))


def refused(call: Any) -> SsoRejected:
    with pytest.raises(SsoRejected) as caught:
        call()
    return caught.value


def test_discovery_of_the_real_provider(metadata: ProviderMetadata, peer: OidcPeer) -> None:
    assert metadata.issuer == peer.issuer
    assert metadata.iss_parameter_supported is True
    assert "S256" in metadata.code_challenge_methods


def test_two_tenants_sign_in_each_through_their_own_client(metadata: ProviderMetadata) -> None:
    cache = JwksCache(allow_loopback=True)
    identities = {}
    for client, user in ((TENANT_A, "alice"), (TENANT_B, "bruno")):
        attempt = start(metadata, client)
        params = login(attempt.url, user, redirect_uri=client.redirect_uri)
        assert params["iss"] == metadata.issuer
        identities[client.client_id] = complete(
            metadata, client, attempt, params, jwks_cache=cache, fetch_userinfo=True
        )
    alice, bruno = identities["tenant-a"], identities["tenant-b"]
    assert (alice.issuer, alice.subject, alice.email) == (
        metadata.issuer,
        "alice",
        "alice@example.test",
    )
    assert (alice.email_verified, alice.given_name, alice.name) == (True, "alice", "alice Tester")
    assert alice.claims["aud"] == "tenant-a"
    assert (bruno.subject, bruno.claims["aud"]) == ("bruno", "tenant-b")


def test_a_code_issued_to_one_tenant_is_useless_to_the_other(metadata: ProviderMetadata) -> None:
    attempt = start(metadata, TENANT_A)
    params = login(attempt.url, "alice", redirect_uri=TENANT_A.redirect_uri)
    error = refused(lambda: complete(metadata, TENANT_B, attempt, params))
    assert (error.code, error.detail) == ("oidc_token_exchange_failed", {"error": "invalid_grant"})


def test_a_code_works_once(metadata: ProviderMetadata) -> None:
    attempt = start(metadata, TENANT_A)
    params = login(attempt.url, "alice", redirect_uri=TENANT_A.redirect_uri)
    assert complete(metadata, TENANT_A, attempt, params).subject == "alice"
    error = refused(lambda: complete(metadata, TENANT_A, attempt, params))
    assert error.code == "oidc_token_exchange_failed"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"state": None}, "oidc_state_mismatch"),
        ({"state": "forged-state"}, "oidc_state_mismatch"),
        ({"iss": "http://127.0.0.1:1"}, "oidc_callback_iss_mismatch"),
        ({"iss": None}, "oidc_callback_iss_mismatch"),  # the provider promises iss
    ],
)
def test_tampered_callbacks_are_refused(
    metadata: ProviderMetadata, change: dict[str, str | None], code: str
) -> None:
    attempt = start(metadata, TENANT_A)
    params = login(attempt.url, "alice", redirect_uri=TENANT_A.redirect_uri)
    tampered = {k: v for k, v in (params | change).items() if v is not None}
    assert refused(lambda: complete(metadata, TENANT_A, attempt, tampered)).code == code


def test_another_attempts_nonce_is_refused(metadata: ProviderMetadata) -> None:
    attempt, other = start(metadata, TENANT_A), start(metadata, TENANT_A)
    params = login(attempt.url, "alice", redirect_uri=TENANT_A.redirect_uri)
    error = refused(lambda: complete(metadata, TENANT_A, attempt, params, nonce=other.nonce))
    assert error.code == "oidc_nonce_mismatch"


def test_the_provider_refuses_a_code_without_its_pkce_verifier(
    metadata: ProviderMetadata,
) -> None:
    attempt = start(metadata, TENANT_A)
    params = login(attempt.url, "alice", redirect_uri=TENANT_A.redirect_uri)
    error = refused(
        lambda: asyncio.run(
            exchange_code(
                metadata,
                client_id=TENANT_A.client_id,
                client_secret=TENANT_A.client_secret,
                redirect_uri=TENANT_A.redirect_uri,
                code=params["code"],
                code_verifier=None,
                http_timeout=10.0,
            )
        )
    )
    assert (error.code, error.detail) == ("oidc_token_exchange_failed", {"error": "invalid_grant"})
    assert params["code"] not in f"{error} {error.detail}"


def test_the_provider_refuses_another_attempts_verifier(metadata: ProviderMetadata) -> None:
    attempt, other = start(metadata, TENANT_A), start(metadata, TENANT_A)
    params = login(attempt.url, "alice", redirect_uri=TENANT_A.redirect_uri)
    error = refused(
        lambda: complete(metadata, TENANT_A, attempt, params, code_verifier=other.code_verifier)
    )
    assert (error.code, error.detail) == ("oidc_token_exchange_failed", {"error": "invalid_grant"})


def test_a_wrong_client_secret_is_refused(metadata: ProviderMetadata) -> None:
    attempt = start(metadata, TENANT_A)
    params = login(attempt.url, "alice", redirect_uri=TENANT_A.redirect_uri)
    error = refused(lambda: complete(metadata, TENANT_A, attempt, params, client_secret="wrong"))
    assert (error.code, error.detail) == ("oidc_token_exchange_failed", {"error": "invalid_client"})
    assert TENANT_A.client_secret not in f"{error} {error.detail}"


def test_an_unverified_email_is_reported_unverified(metadata: ProviderMetadata) -> None:
    attempt = start(metadata, TENANT_B)
    params = login(attempt.url, "carol+unverified", redirect_uri=TENANT_B.redirect_uri)
    identity = complete(metadata, TENANT_B, attempt, params)
    assert (identity.email, identity.email_verified) == ("carol+unverified@example.test", False)


def test_required_claims_are_enforced(metadata: ProviderMetadata) -> None:
    attempt = start(metadata, TENANT_A)
    params = login(attempt.url, "dave", redirect_uri=TENANT_A.redirect_uri)
    error = refused(
        lambda: complete(metadata, TENANT_A, attempt, params, required_claims={"hd": "corp.test"})
    )
    assert error.code == "oidc_claim_refused"


def test_a_rotated_signing_key_is_accepted_after_one_jwks_refetch(
    tmp_path: Path,
) -> None:
    """The provider restarts with a new key only; tokens signed with it still verify."""
    with oidc_provider(tmp_path, [TENANT_A], key=new_signing_key("key-2024")) as rotating:
        metadata = asyncio.run(discover(rotating.issuer, allow_loopback=True))
        clock = Clock()
        cache = JwksCache(allow_loopback=True, clock=clock)

        def sign_in(user: str) -> OidcIdentity:
            attempt = start(metadata, TENANT_A)
            params = login(attempt.url, user, redirect_uri=TENANT_A.redirect_uri)
            return complete(metadata, TENANT_A, attempt, params, jwks_cache=cache)

        assert sign_in("erin").subject == "erin"
        rotating.rotate(new_signing_key("key-2025"))
        # The keys were fetched moments ago: no refetch yet (rate limit), so the new kid is unknown.
        assert refused(lambda: sign_in("frank")).code == "oidc_unknown_key"
        clock.now += 31
        assert sign_in("frank").subject == "frank"
        keys = asyncio.run(cache.get(metadata.jwks_uri))
        assert [key.kid for key in keys] == ["key-2025"]
