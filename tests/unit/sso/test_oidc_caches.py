"""Discovery and JWKS caches against a real HTTP server on 127.0.0.1: expiry, versions, rotation."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import Key, KeySet, OctKey, RSAKey

from sso.errors import SsoRejected
from sso.oidc.discovery import DiscoveryCache
from sso.oidc.jwks import JwksCache, parse_jwks, verify_id_token

CLIENT = "client-a"
NONCE = "nonce-1"


class Site:
    """Documents served by path; ``hits`` counts the requests per path."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        self.hits: Counter[str] = Counter()
        self.base = ""


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.hits[self.path] += 1
            document = served.documents.get(self.path)
            body = json.dumps(document).encode()
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def metadata_for(issuer: str, **changes: Any) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "response_types_supported": ["code"],
        **changes,
    }


def test_discovery_is_cached_per_version_and_for_its_ttl(site: Site) -> None:
    path = "/.well-known/openid-configuration"
    site.documents[path] = metadata_for(site.base)
    clock = Clock()
    cache = DiscoveryCache(ttl=3600, allow_loopback=True, clock=clock)

    async def scenario() -> None:
        first = await cache.get(site.base, config_version="v1")
        assert await cache.get(site.base, config_version="v1") is first
        assert site.hits[path] == 1
        site.documents[path] = metadata_for(site.base, token_endpoint=f"{site.base}/token2")
        # An admin edit bumps the version: never the stale entry.
        edited = await cache.get(site.base, config_version="v2")
        assert edited.token_endpoint.endswith("/token2")
        clock.now += 3601
        assert (await cache.get(site.base, config_version="v2")) is not edited
        cache.forget(site.base)
        await cache.get(site.base, config_version="v2")

    asyncio.run(scenario())
    assert site.hits[path] == 4


def test_discovery_refuses_another_issuer_and_caches_no_failure(site: Site) -> None:
    path = "/.well-known/openid-configuration"
    site.documents[path] = metadata_for("https://impostor.example.test")
    cache = DiscoveryCache(allow_loopback=True)
    for _ in range(2):
        with pytest.raises(SsoRejected) as caught:
            asyncio.run(cache.get(site.base, config_version="v1"))
        assert caught.value.code == "oidc_discovery_issuer_mismatch"
    assert site.hits[path] == 2


def test_discovery_needs_loopback_allowed_for_a_loopback_issuer(site: Site) -> None:
    with pytest.raises(SsoRejected) as caught:
        asyncio.run(DiscoveryCache().get(site.base, config_version="v1"))
    assert caught.value.code == "url_not_https"


def public(*keys: Key) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def id_token(key: RSAKey, issuer: str) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "sub": "u1", "aud": CLIENT, "exp": now + 60, "iat": now}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims | {"nonce": NONCE}, key, ["RS256"])


def test_an_unknown_kid_is_accepted_after_one_refetch_and_refetches_are_rate_limited(
    site: Site,
) -> None:
    old = RSAKey.generate_key(2048, parameters={"kid": "old"})
    new = RSAKey.generate_key(2048, parameters={"kid": "new"})
    forged = RSAKey.generate_key(2048, parameters={"kid": "made-up"})
    site.documents["/jwks"] = public(old)
    clock = Clock()
    cache = JwksCache(allow_loopback=True, min_refetch_interval=30, clock=clock)
    jwks_uri = f"{site.base}/jwks"

    def verify(key: RSAKey) -> dict[str, Any]:
        return asyncio.run(
            verify_id_token(
                id_token(key, site.base),
                jwks_cache=cache,
                jwks_uri=jwks_uri,
                issuer=site.base,
                client_id=CLIENT,
                nonce=NONCE,
            )
        )

    assert verify(old)["sub"] == "u1"
    site.documents["/jwks"] = public(old, new)  # the provider rotates
    clock.now += 31
    assert verify(new)["sub"] == "u1"  # one refetch
    assert site.hits["/jwks"] == 2
    for _ in range(5):  # made-up kids within 30 s: no request reaches the provider
        with pytest.raises(SsoRejected) as caught:
            verify(forged)
        assert caught.value.code == "oidc_unknown_key"
    assert site.hits["/jwks"] == 2
    clock.now += 31
    with pytest.raises(SsoRejected):
        verify(forged)
    assert site.hits["/jwks"] == 3  # one more after the interval, still refused
    assert verify(old)["sub"] == "u1"  # from the cache
    assert site.hits["/jwks"] == 3


def test_jwks_cache_expires(site: Site) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k"})
    site.documents["/jwks"] = public(key)
    clock = Clock()
    cache = JwksCache(ttl=60, allow_loopback=True, clock=clock)
    asyncio.run(cache.get(f"{site.base}/jwks"))
    asyncio.run(cache.get(f"{site.base}/jwks"))
    clock.now += 61
    asyncio.run(cache.get(f"{site.base}/jwks"))
    assert site.hits["/jwks"] == 2


def test_parse_jwks_drops_symmetric_keys_and_private_halves() -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": "r"})
    oct_key = OctKey.generate_key(256, parameters={"kid": "o"})
    document = {"keys": [rsa.as_dict(private=True), oct_key.as_dict(private=True)]}
    keys = parse_jwks(json.dumps(document).encode())
    assert isinstance(keys, KeySet)
    assert [(key.kid, key.key_type, key.is_private) for key in keys] == [("r", "RSA", False)]


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[]",
        b'{"keys": {}}',
        b'{"keys": []}',
        b'{"keys": [{"kty": "oct", "k": "AA"}]}',
    ],
)
def test_unreadable_jwks_are_refused(document: bytes) -> None:
    with pytest.raises(SsoRejected) as caught:
        parse_jwks(document)
    assert caught.value.code == "oidc_jwks_invalid"
