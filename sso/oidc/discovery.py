"""OpenID Provider metadata: fetched from ``{issuer}/.well-known/openid-configuration`` and checked.

Authlib caches discovery documents forever and checks none of this, so the relying party does
it here: the document must name exactly the configured issuer (OpenID Connect Discovery 1.0
section 4.3: otherwise anyone who can serve JSON at a URL could impersonate another issuer), the
endpoints must be https URLs, and the provider must support what :mod:`sso.oidc.flow` uses
(response type ``code``, PKCE ``S256``, an asymmetric ID token algorithm, client_secret_basic or
client_secret_post). :class:`DiscoveryCache` keeps documents for an hour, keyed by the caller's
connection version as well, so an edited connection is never served from a stale entry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sso.errors import SsoRejected
from sso.netfetch import check_url, fetch
from sso.oidc.tokens import DEFAULT_ALGS

__all__ = [
    "DISCOVERY_PATH",
    "DiscoveryCache",
    "ProviderMetadata",
    "check_issuer",
    "discover",
    "discovery_url",
    "parse_metadata",
]

DISCOVERY_PATH = "/.well-known/openid-configuration"
MAX_METADATA_BYTES = 256 * 1024
SUPPORTED_CLIENT_AUTH = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """The checked parts of a provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    token_endpoint_auth_methods: tuple[str, ...]
    """As listed by the provider (the spec default ``client_secret_basic`` when not listed)."""
    code_challenge_methods: tuple[str, ...]
    """As listed; empty when the provider does not list any."""
    id_token_signing_algs: tuple[str, ...]
    iss_parameter_supported: bool
    """``authorization_response_iss_parameter_supported``: callbacks must then carry ``iss``."""
    allow_loopback: bool
    """The endpoints were vetted with loopback allowed; later requests to them must be too."""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def check_issuer(issuer: str, *, allow_loopback: bool) -> str:
    """Refuse an issuer that is not an https URL without query or fragment; returns it unchanged.

    Raises:
        SsoRejected: ``url_invalid`` or ``url_not_https``.
    """
    url = check_url(issuer, allow_loopback=allow_loopback)
    if url.query:
        raise SsoRejected("url_invalid", "An issuer URL must not contain a ?query.")
    return issuer


def discovery_url(issuer: str) -> str:
    """Where ``issuer`` publishes its metadata (a trailing slash is not doubled)."""
    return issuer.rstrip("/") + DISCOVERY_PATH


def _invalid(message: str, **detail: Any) -> SsoRejected:
    return SsoRejected("oidc_discovery_invalid", message, detail)


def _unsupported(message: str, **detail: Any) -> SsoRejected:
    return SsoRejected("oidc_discovery_unsupported", message, detail)


def _strings(doc: Mapping[str, Any], name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    value = doc.get(name)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid(f"The provider's {name} is not a list of strings.", field=name)
    return tuple(value)


def _endpoint(doc: Mapping[str, Any], name: str, *, allow_loopback: bool, required: bool) -> str:
    value = doc.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise _invalid(f"The provider's metadata has no {name}.", field=name)
    try:
        check_url(value, allow_loopback=allow_loopback)
    except SsoRejected as exc:
        raise _invalid(f"The provider's {name} is unusable: {exc.message}", field=name) from exc
    return value


def parse_metadata(
    document: bytes | Mapping[str, Any], *, issuer: str, allow_loopback: bool = False
) -> ProviderMetadata:
    """Check a discovery document against the configured ``issuer``.

    Raises:
        SsoRejected: ``oidc_discovery_invalid`` (not a JSON object, a field missing or malformed,
            an endpoint not https), ``oidc_discovery_issuer_mismatch`` (``issuer`` is not exactly
            the configured one) or ``oidc_discovery_unsupported`` (no ``code`` response type, no
            ``S256`` among listed PKCE methods, no acceptable ID token algorithm or client
            authentication method).
    """
    if isinstance(document, bytes):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise _invalid("The provider's metadata is not valid JSON.") from exc
    if not isinstance(document, Mapping):
        raise _invalid("The provider's metadata is not a JSON object.")
    doc: Mapping[str, Any] = document
    if doc.get("issuer") != issuer:
        published = doc.get("issuer")
        raise SsoRejected(
            "oidc_discovery_issuer_mismatch",
            f"The provider calls itself {published!r}, not the configured issuer {issuer!r}; "
            "the configured issuer must match it exactly (including any trailing slash).",
            {"configured": issuer, "published": published if isinstance(published, str) else None},
        )
    endpoints = {
        name: _endpoint(doc, name, allow_loopback=allow_loopback, required=True)
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")
    }
    userinfo = _endpoint(doc, "userinfo_endpoint", allow_loopback=allow_loopback, required=False)
    if "code" not in _strings(doc, "response_types_supported"):
        raise _unsupported("The provider does not support the authorization code flow.")
    pkce = _strings(doc, "code_challenge_methods_supported")
    if pkce and "S256" not in pkce:
        raise _unsupported("The provider does not support PKCE with S256.", listed=list(pkce))
    algs = _strings(doc, "id_token_signing_alg_values_supported")
    if algs and not DEFAULT_ALGS.intersection(algs):
        raise _unsupported(
            "The provider signs ID tokens only with algorithms this service refuses.",
            listed=list(algs),
        )
    auth_methods = _strings(doc, "token_endpoint_auth_methods_supported", ("client_secret_basic",))
    if not set(SUPPORTED_CLIENT_AUTH).intersection(auth_methods):
        raise _unsupported(
            "The provider supports neither client_secret_basic nor client_secret_post.",
            listed=list(auth_methods),
        )
    iss_parameter = doc.get("authorization_response_iss_parameter_supported", False)
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=endpoints["authorization_endpoint"],
        token_endpoint=endpoints["token_endpoint"],
        jwks_uri=endpoints["jwks_uri"],
        userinfo_endpoint=userinfo or None,
        token_endpoint_auth_methods=auth_methods,
        code_challenge_methods=pkce,
        id_token_signing_algs=algs,
        iss_parameter_supported=iss_parameter is True,
        allow_loopback=allow_loopback,
        raw=dict(doc),
    )


async def discover(
    issuer: str, *, allow_loopback: bool = False, http_timeout: float = 10.0
) -> ProviderMetadata:
    """Fetch and check the metadata of ``issuer`` (no caching: see :class:`DiscoveryCache`).

    Raises:
        SsoRejected: as :func:`check_issuer`, :func:`sso.netfetch.fetch` and
            :func:`parse_metadata`.
    """
    check_issuer(issuer, allow_loopback=allow_loopback)
    document = await fetch(
        discovery_url(issuer),
        max_bytes=MAX_METADATA_BYTES,
        timeout=http_timeout,
        allow_loopback=allow_loopback,
        accept="application/json",
    )
    return parse_metadata(document.body, issuer=issuer, allow_loopback=allow_loopback)


class DiscoveryCache:
    """Checked provider metadata per (issuer, connection version), kept for ``ttl`` seconds.

    The caller passes a version (or fingerprint) of the connection settings with every lookup
    and changes it whenever an administrator edits the connection, so an edit is never answered
    from a stale entry. Failures are not cached. One cache serves every tenant: an entry holds
    only public provider metadata.

    Args:
        ttl: Seconds an entry is served.
        allow_loopback: Passed to :func:`discover` (development and tests only).
        timeout: Seconds allowed for one discovery fetch.
        clock: Monotonic seconds; injectable for tests of expiry.
    """

    def __init__(
        self,
        *,
        ttl: float = 3600.0,
        allow_loopback: bool = False,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._allow_loopback = allow_loopback
        self._timeout = timeout
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, ProviderMetadata]] = {}

    async def get(self, issuer: str, *, config_version: str) -> ProviderMetadata:
        """The metadata of ``issuer``, fetched unless a fresh entry for this version exists.

        Raises:
            SsoRejected: as :func:`discover`.
        """
        now = self._clock()
        entry = self._entries.get((issuer, config_version))
        if entry is not None and entry[0] > now:
            return entry[1]
        metadata = await discover(
            issuer, allow_loopback=self._allow_loopback, http_timeout=self._timeout
        )
        now = self._clock()
        self._entries = {key: e for key, e in self._entries.items() if e[0] > now}
        self._entries[(issuer, config_version)] = (now + self._ttl, metadata)
        return metadata

    def forget(self, issuer: str) -> None:
        """Drop every entry of ``issuer`` (all versions): the next lookup fetches again."""
        self._entries = {key: e for key, e in self._entries.items() if key[0] != issuer}
