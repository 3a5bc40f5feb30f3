"""The providers' signing keys (JWKS), fetched through :mod:`sso.netfetch` and cached per URL.

Providers rotate signing keys by publishing the new key and then signing with it, so a token
whose ``kid`` is unknown is the cue to fetch the set again, once (OpenID Connect Core 10.1.1).
That refetch is rate-limited per ``jwks_uri`` (at most one per ``min_refetch_interval``), so
anyone sending tokens with made-up ``kid`` values cannot make this server hammer the provider.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from sso.errors import SsoRejected
from sso.netfetch import fetch
from sso.oidc.tokens import DEFAULT_ALGS, validate_id_token

__all__ = ["JwksCache", "parse_jwks", "verify_id_token"]

MAX_JWKS_BYTES = 256 * 1024


def parse_jwks(document: bytes) -> KeySet:
    """The public signing keys of a JWKS document.

    Keys of unknown types are skipped (RFC 7517 section 5), and so are symmetric (``oct``) keys
    and keys marked for encryption: a published symmetric key would let anyone forge tokens.

    Raises:
        SsoRejected: ``oidc_jwks_invalid`` (not JSON, no ``keys`` list, a malformed key, no
            signing key left).
    """
    try:
        data = json.loads(document)
        listed = data["keys"]
        if not isinstance(listed, list):
            raise TypeError("keys is not a list")
        usable = [
            entry
            for entry in listed
            if isinstance(entry, dict) and entry.get("kty") != "oct" and entry.get("use") != "enc"
        ]
        imported = KeySet.import_key_set({"keys": usable})
        # A private key published by mistake still verifies; its private half is not kept.
        return KeySet.import_key_set(imported.as_dict(private=False))
    except (ValueError, KeyError, TypeError, JoseError) as exc:
        raise SsoRejected(
            "oidc_jwks_invalid", "The provider's signing keys (JWKS) cannot be read."
        ) from exc


@dataclass(slots=True)
class _Entry:
    keys: KeySet
    expires: float


class JwksCache:
    """Key sets per ``jwks_uri``, shared by every tenant (they hold only public keys).

    Args:
        ttl: Seconds a fetched set is served before it is fetched again.
        min_refetch_interval: Least seconds between two fetches of one ``jwks_uri`` caused by
            :meth:`refetch` (an unknown ``kid``).
        allow_loopback: Passed to :func:`sso.netfetch.fetch` (development and tests only).
        timeout: Seconds allowed for one fetch.
        clock: Monotonic seconds; injectable for tests of expiry and rate limiting.
    """

    def __init__(
        self,
        *,
        ttl: float = 3600.0,
        min_refetch_interval: float = 30.0,
        allow_loopback: bool = False,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._min_interval = min_refetch_interval
        self._allow_loopback = allow_loopback
        self._timeout = timeout
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._attempts: dict[str, float] = {}

    async def _fetch(self, jwks_uri: str) -> KeySet:
        self._attempts[jwks_uri] = self._clock()  # before awaiting: one refetch in flight
        document = await fetch(
            jwks_uri,
            max_bytes=MAX_JWKS_BYTES,
            timeout=self._timeout,
            allow_loopback=self._allow_loopback,
            accept="application/jwk-set+json, application/json",
        )
        keys = parse_jwks(document.body)
        now = self._clock()
        self._entries[jwks_uri] = _Entry(keys=keys, expires=now + self._ttl)
        return keys

    async def get(self, jwks_uri: str) -> KeySet:
        """The key set at ``jwks_uri``: cached, or fetched when absent or older than ``ttl``.

        Raises:
            SsoRejected: as :func:`sso.netfetch.fetch` and :func:`parse_jwks`.
        """
        entry = self._entries.get(jwks_uri)
        if entry is not None and entry.expires > self._clock():
            return entry.keys
        return await self._fetch(jwks_uri)

    async def refetch(self, jwks_uri: str) -> KeySet | None:
        """Fetch the set again after an unknown ``kid``, unless that was done too recently.

        Returns:
            The new key set, or None when a fetch of this URL happened less than
            ``min_refetch_interval`` seconds ago (the caller then refuses the token).

        Raises:
            SsoRejected: as :meth:`get`.
        """
        last = self._attempts.get(jwks_uri)
        if last is not None and self._clock() - last < self._min_interval:
            return None
        return await self._fetch(jwks_uri)

    def forget(self, jwks_uri: str) -> None:
        """Drop the cached set of ``jwks_uri`` (the next :meth:`get` fetches it)."""
        self._entries.pop(jwks_uri, None)


async def verify_id_token(
    raw: str,
    *,
    jwks_cache: JwksCache,
    jwks_uri: str,
    issuer: str,
    client_id: str,
    nonce: str,
    allowed_algs: frozenset[str] = DEFAULT_ALGS,
    leeway: int = 60,
    now: int | None = None,
) -> dict[str, Any]:
    """:func:`~sso.oidc.tokens.validate_id_token` against the cached set at ``jwks_uri``.

    On ``oidc_unknown_key`` the set is fetched again, once (:meth:`JwksCache.refetch`), and the
    token checked against the new set: that is how a provider's key rotation is accepted.

    Raises:
        SsoRejected: as :func:`~sso.oidc.tokens.validate_id_token` and :meth:`JwksCache.get`;
            ``oidc_unknown_key`` when the key is still unknown or the refetch was rate-limited.
    """

    def check(keys: KeySet) -> dict[str, Any]:
        return validate_id_token(
            raw,
            jwks=keys,
            issuer=issuer,
            client_id=client_id,
            nonce=nonce,
            allowed_algs=allowed_algs,
            leeway=leeway,
            now=now,
        )

    try:
        return check(await jwks_cache.get(jwks_uri))
    except SsoRejected as exc:
        if exc.code != "oidc_unknown_key":
            raise
        fresh = await jwks_cache.refetch(jwks_uri)
        if fresh is None:
            raise
        return check(fresh)
