"""The authorization code flow with PKCE, as a relying party: :func:`begin` and :func:`finish`.

:func:`begin` makes the authorization URL and the three secrets of one sign-in attempt
(``state``, ``nonce``, PKCE ``code_verifier``); the caller keeps them server-side, bound to the
browser session, and hands them back to :func:`finish` with the callback's query parameters.
:func:`finish` checks the callback (``state``; RFC 9207 ``iss``, which Authlib does not check;
an ``error``), exchanges the code with Authlib's httpx client over
:class:`~sso.netfetch.VettedTransport`, validates the ID token (refetching the JWKS once on an
unknown ``kid``), optionally reads userinfo, and returns an :class:`OidcIdentity`.
Nothing here stores anything or knows about tenants.
"""

from __future__ import annotations

import hmac
import re
import secrets
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from authlib.deprecate import AuthlibDeprecationWarning  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]

from sso.errors import SsoRejected
from sso.netfetch import VettedTransport
from sso.oidc.discovery import ProviderMetadata
from sso.oidc.jwks import JwksCache, verify_id_token
from sso.oidc.tokens import DEFAULT_ALGS, OidcIdentity, identity_from_claims

with warnings.catch_warnings():
    # Authlib 1.9 warns on import that it found httpx rather than httpx2; httpx is this
    # project's HTTP client (Litestar's test client's too), so the warning is not actionable.
    warnings.filterwarnings("ignore", "The httpx module", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]
        AsyncOAuth2Client,
        OAuthError,
    )

__all__ = [
    "AuthorizationStart",
    "begin",
    "check_callback",
    "exchange_code",
    "finish",
]

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 section 4.1
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_RESERVED = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "state", "nonce"}
    | {"code_challenge", "code_challenge_method"}
)


@dataclass(frozen=True, slots=True)
class AuthorizationStart:
    """One sign-in attempt: send the browser to ``url``; keep the rest server-side."""

    url: str
    state: str
    nonce: str
    code_verifier: str = field(repr=False)


def begin(
    metadata: ProviderMetadata,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    extra_params: Mapping[str, str] | None = None,
) -> AuthorizationStart:
    """Start a sign-in: the authorization URL with ``state``, ``nonce`` and PKCE S256.

    ``openid`` is added to ``scopes`` when missing. ``extra_params`` (``prompt``,
    ``login_hint``, Google's ``hd``...) may not set the protocol parameters.

    Raises:
        ValueError: ``extra_params`` names a protocol parameter.
    """
    extra = dict(extra_params or {})
    if _RESERVED.intersection(extra):
        raise ValueError(f"extra_params may not set {sorted(_RESERVED.intersection(extra))}")
    scope = list(scopes) if "openid" in scopes else ["openid", *scopes]
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)  # 256 bits each
    verifier = secrets.token_urlsafe(64)  # 86 characters
    url = prepare_grant_uri(
        metadata.authorization_endpoint,
        client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
        **extra,
    )
    return AuthorizationStart(url=str(url), state=state, nonce=nonce, code_verifier=verifier)


def _error_code(value: object) -> str:
    """A provider's OAuth error code if it looks like one, never its free text."""
    text = str(value)
    return text if _ERROR_CODE.fullmatch(text) else "unrecognised"


def check_callback(
    metadata: ProviderMetadata, params: Mapping[str, str], *, expected_state: str
) -> str:
    """Check the callback's query parameters and return the authorization code.

    Raises:
        SsoRejected: ``oidc_state_mismatch``, ``oidc_callback_iss_mismatch`` (``iss`` differs,
            or is missing while the provider promises it), ``oidc_provider_error``
            (``detail["error"]`` is the provider's error code) or ``oidc_callback_invalid``.
    """
    state = params.get("state")
    if not expected_state or state is None or not hmac.compare_digest(state, expected_state):
        raise SsoRejected(
            "oidc_state_mismatch",
            "The sign-in response does not belong to this browser's sign-in attempt; start again.",
        )
    iss = params.get("iss")
    if (iss is not None or metadata.iss_parameter_supported) and iss != metadata.issuer:
        raise SsoRejected(
            "oidc_callback_iss_mismatch",
            "The sign-in response comes from another issuer than this connection's (RFC 9207).",
            {"expected": metadata.issuer, "present": iss is not None},
        )
    if "error" in params:
        error = _error_code(params["error"])
        raise SsoRejected(
            "oidc_provider_error",
            f"The identity provider refused the sign-in ({error}).",
            {"error": error},
        )
    code = params.get("code")
    if not code:
        raise SsoRejected("oidc_callback_invalid", "The sign-in response carries no code.")
    return code


def _client(metadata: ProviderMetadata, client_id: str, client_secret: str, seconds: float) -> Any:
    """Authlib's client for one sign-in, talking only to vetted addresses."""
    basic = "client_secret_basic" in metadata.token_endpoint_auth_methods
    return AsyncOAuth2Client(
        client_id=client_id,
        client_secret=client_secret,
        token_endpoint_auth_method="client_secret_basic" if basic else "client_secret_post",
        transport=VettedTransport(allow_loopback=metadata.allow_loopback),
        timeout=seconds,
        follow_redirects=False,
        trust_env=False,
    )


async def _exchange(
    client: Any,
    metadata: ProviderMetadata,
    code: str,
    redirect_uri: str,
    verifier: str | None,
    seconds: float,
) -> dict[str, Any]:
    extra = {"code_verifier": verifier} if verifier is not None else {}
    try:
        with anyio.fail_after(seconds):
            token = await client.fetch_token(
                metadata.token_endpoint,
                grant_type="authorization_code",
                code=code,
                redirect_uri=redirect_uri,
                **extra,
            )
    except OAuthError as exc:
        error = _error_code(exc.error)
        raise SsoRejected(
            "oidc_token_exchange_failed",
            f"The identity provider refused to exchange the code ({error}).",
            {"error": error},
        ) from exc
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        raise SsoRejected(
            "oidc_token_exchange_failed",
            f"The token endpoint answered HTTP {status}.",
            {"status": status},
        ) from exc
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise SsoRejected("fetch_timeout", "The token endpoint did not answer in time.") from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoRejected(
            "fetch_failed", f"The token request failed ({type(exc).__name__})."
        ) from exc
    return dict(token)


async def exchange_code(
    metadata: ProviderMetadata,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    code_verifier: str | None,
    http_timeout: float,
) -> dict[str, Any]:
    """POST ``code`` to the token endpoint with Authlib's client; return the token response.

    :func:`finish` does this itself. ``code_verifier`` None sends none (a provider that
    requires PKCE must then refuse).

    Raises:
        SsoRejected: ``oidc_token_exchange_failed`` (``detail["error"]`` is the provider's
            OAuth error code, e.g. ``invalid_grant``), ``fetch_timeout``, ``fetch_failed`` or a
            refusal of :class:`~sso.netfetch.VettedTransport`.
    """
    async with _client(metadata, client_id, client_secret, http_timeout) as client:
        return await _exchange(client, metadata, code, redirect_uri, code_verifier, http_timeout)


async def _userinfo(client: Any, metadata: ProviderMetadata, seconds: float) -> dict[str, Any]:
    if metadata.userinfo_endpoint is None:
        raise SsoRejected("oidc_userinfo_failed", "The provider publishes no userinfo endpoint.")
    try:
        with anyio.fail_after(seconds):
            response = await client.get(metadata.userinfo_endpoint)
            data = response.json() if response.status_code == 200 else None
    except (OAuthError, httpx.HTTPError, TimeoutError, ValueError) as exc:
        raise SsoRejected("oidc_userinfo_failed", "The userinfo request failed.") from exc
    if not isinstance(data, dict):
        raise SsoRejected(
            "oidc_userinfo_failed",
            f"The userinfo endpoint answered HTTP {response.status_code}, not a JSON object.",
            {"status": response.status_code},
        )
    return data


async def finish(
    metadata: ProviderMetadata,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    callback_params: Mapping[str, str],
    expected_state: str,
    code_verifier: str,
    nonce: str,
    jwks_cache: JwksCache,
    http_timeout: float,
    fetch_userinfo: bool = False,
    required_claims: Mapping[str, str] | None = None,
    allowed_algs: frozenset[str] = DEFAULT_ALGS,
    leeway: int = 60,
) -> OidcIdentity:
    """Complete a sign-in from the provider's callback parameters.

    Args:
        fetch_userinfo: Also read the userinfo endpoint; its ``sub`` must be the token's.
        required_claims: Claims the signed ID token must carry with exactly these values,
            e.g. Google's ``{"hd": "example.com"}``.

    Raises:
        SsoRejected: as :func:`check_callback`, :func:`exchange_code` and
            :func:`~sso.oidc.jwks.verify_id_token`; ``oidc_pkce_invalid`` (the stored verifier
            is malformed), ``oidc_id_token_missing``, ``oidc_claim_refused``,
            ``oidc_userinfo_failed`` or ``oidc_userinfo_sub_mismatch``.
    """
    code = check_callback(metadata, callback_params, expected_state=expected_state)
    if not _VERIFIER.fullmatch(code_verifier):
        raise SsoRejected("oidc_pkce_invalid", "The stored PKCE verifier is malformed.")
    async with _client(metadata, client_id, client_secret, http_timeout) as client:
        token = await _exchange(client, metadata, code, redirect_uri, code_verifier, http_timeout)
        raw = token.get("id_token")
        if not isinstance(raw, str) or not raw:
            raise SsoRejected("oidc_id_token_missing", "The provider returned no ID token.")
        claims = await verify_id_token(
            raw,
            jwks_cache=jwks_cache,
            jwks_uri=metadata.jwks_uri,
            issuer=metadata.issuer,
            client_id=client_id,
            nonce=nonce,
            allowed_algs=allowed_algs,
            leeway=leeway,
        )
        for name, value in (required_claims or {}).items():
            if claims.get(name) != value:
                raise SsoRejected(
                    "oidc_claim_refused",
                    f"The account's {name!r} is not the one this connection requires.",
                    {"claim": name, "expected": value},
                )
        if fetch_userinfo:
            info = await _userinfo(client, metadata, http_timeout)
            if info.get("sub") != claims["sub"]:
                raise SsoRejected(
                    "oidc_userinfo_sub_mismatch",
                    "The userinfo response describes another account than the ID token.",
                )
            claims = {**info, **claims}
    return identity_from_claims(metadata.issuer, claims)
