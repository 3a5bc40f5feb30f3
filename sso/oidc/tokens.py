"""ID token validation (OpenID Connect Core 1.0 section 3.1.3.7) with joserfc.

Every check a relying party owes is made here, each failure with its own code: the signature
against the provider's JWKS (key chosen by ``kid``), an asymmetric algorithm from an allow-list
(never ``none``, never HMAC: an HS256 token "signed" with the provider's public key must fail),
exact ``iss``, ``aud`` containing our client, ``azp`` equal to our client whenever it is present
or ``aud`` names anyone else (Authlib accepts an ``aud`` list holding another client as long as
``azp`` is ours, unless told otherwise), ``exp``, ``iat``, ``nbf``, the ``nonce`` of this login,
and a ``sub``.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyCurveError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key, KeySet
from joserfc.jws import JWSRegistry

from sso.errors import SsoRejected

__all__ = [
    "ASYMMETRIC_ALGS",
    "DEFAULT_ALGS",
    "OidcIdentity",
    "identity_from_claims",
    "validate_id_token",
]

DEFAULT_ALGS: frozenset[str] = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "Ed25519"}
)
"""ID token algorithms accepted unless the caller narrows them (asymmetric only)."""

ASYMMETRIC_ALGS: frozenset[str] = DEFAULT_ALGS | {"ES256K", "Ed448"}
"""Every algorithm a caller may allow; anything else (``none``, ``HS*``) is a programming error."""

# The claim a joserfc claims error names -> our code. Missing and invalid share one code each.
_CLAIM_CODES = {
    "iss": "oidc_issuer_mismatch",
    "aud": "oidc_audience_mismatch",
    "exp": "oidc_expired",
    "iat": "oidc_iat_invalid",
    "nbf": "oidc_not_yet_valid",
    "sub": "oidc_token_malformed",
}
_CLAIM_MESSAGES = {
    "oidc_issuer_mismatch": "The ID token was issued by someone other than the configured issuer.",
    "oidc_audience_mismatch": "The ID token is not meant for this client (aud).",
    "oidc_expired": "The ID token has expired; check that this server's clock is right.",
    "oidc_iat_invalid": "The ID token's issue time is missing or in the future (clock skew?).",
    "oidc_not_yet_valid": "The ID token is not valid yet (nbf); check this server's clock.",
    "oidc_token_malformed": "The ID token has no valid subject (sub).",
}


def _malformed(message: str) -> SsoRejected:
    return SsoRejected("oidc_token_malformed", message)


def _header(raw: str) -> dict[str, Any]:
    if not isinstance(raw, str) or raw.count(".") != 2:
        raise _malformed("The ID token is not a signed JWT (encrypted ID tokens are unsupported).")
    try:
        header = dict(jws.extract_compact(raw.encode("ascii")).headers())
    except (JoseError, ValueError, UnicodeError) as exc:
        raise _malformed("The ID token's header cannot be read.") from exc
    if "b64" in header:
        raise _malformed("The ID token uses an unencoded payload (b64), which is refused.")
    return header


def _signing_key(keys: Iterable[Key], *, kid: Any, alg: str) -> Key:
    """The one key of ``keys`` that may verify a token with this ``kid`` and ``alg``."""
    key_type = JWSRegistry.algorithms[alg].key_type
    named = [key for key in keys if kid is None or key.kid == kid]
    if kid is not None and not named:
        raise SsoRejected(
            "oidc_unknown_key",
            "The ID token is signed with a key the provider does not publish (yet).",
            {"kid": str(kid)},
        )
    fitting = [
        key
        for key in named
        if key.key_type == key_type and key.get("use") in (None, "sig") and key.alg in (None, alg)
    ]
    if not fitting:
        if kid is None:
            raise SsoRejected(
                "oidc_unknown_key",
                f"The provider publishes no key for {alg} ID tokens.",
                {"alg": alg},
            )
        raise SsoRejected(
            "oidc_signature_invalid",
            f"The key named by the ID token does not fit its algorithm {alg}.",
            {"kid": str(kid), "alg": alg},
        )
    if len(fitting) > 1:
        # OpenID Connect Core 10.1: with several keys published, the token must name one.
        raise _malformed("The ID token does not say which of the provider's keys signed it (kid).")
    return fitting[0]


def _claim_error(exc: ClaimError) -> SsoRejected:
    names = exc.claim.split(",") if isinstance(exc, MissingClaimError) else [exc.claim]
    code = "oidc_expired" if isinstance(exc, ExpiredTokenError) else None
    code = code or next((_CLAIM_CODES[n] for n in names if n in _CLAIM_CODES), None)
    code = code or "oidc_token_malformed"
    message = _CLAIM_MESSAGES.get(code, "The ID token's claims are invalid.")
    return SsoRejected(code, message, {"claims": names})


def validate_id_token(
    raw: str,
    *,
    jwks: KeySet | Collection[Key],
    issuer: str,
    client_id: str,
    nonce: str,
    allowed_algs: frozenset[str] = DEFAULT_ALGS,
    leeway: int = 60,
    now: int | None = None,
) -> dict[str, Any]:
    """Verify an ID token and return its claims.

    Args:
        raw: The compact JWS from the token response.
        jwks: The provider's signing keys (a joserfc ``KeySet`` or keys).
        issuer: The configured issuer; ``iss`` must equal it exactly.
        client_id: Our client; ``aud`` must contain it, ``azp`` (if any) must be it.
        nonce: The nonce stored for this login; ``nonce`` must equal it.
        allowed_algs: Acceptable ``alg`` values, a subset of :data:`ASYMMETRIC_ALGS`.
        leeway: Clock skew tolerated for ``exp``, ``iat`` and ``nbf``, in seconds.
        now: The current Unix time (defaults to the clock).

    Raises:
        ValueError: ``allowed_algs`` holds a symmetric algorithm or ``none``.
        SsoRejected: ``oidc_token_malformed``, ``oidc_alg_refused``, ``oidc_unknown_key`` (no
            published key has this ``kid``: refetch the JWKS once and retry),
            ``oidc_signature_invalid``, ``oidc_issuer_mismatch``, ``oidc_audience_mismatch``,
            ``oidc_azp_mismatch``, ``oidc_expired``, ``oidc_iat_invalid``, ``oidc_not_yet_valid``
            or ``oidc_nonce_mismatch``.
    """
    if not allowed_algs or not allowed_algs <= ASYMMETRIC_ALGS:
        raise ValueError(f"allowed_algs must be a non-empty subset of {sorted(ASYMMETRIC_ALGS)}")
    header = _header(raw)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed_algs:
        raise SsoRejected(
            "oidc_alg_refused",
            f"The ID token is signed with {alg!r}, which is not an accepted algorithm.",
            {"alg": str(alg), "allowed": sorted(allowed_algs)},
        )
    key = _signing_key(jwks, kid=header.get("kid"), alg=alg)
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    try:
        token = jwt.decode(raw, key, registry=registry)
    except (BadSignatureError, InvalidKeyCurveError) as exc:
        raise SsoRejected(
            "oidc_signature_invalid", "The ID token's signature does not verify."
        ) from exc
    except (JoseError, ValueError) as exc:
        raise _malformed("The ID token cannot be decoded.") from exc
    claims = token.claims
    essential: jwt.ClaimsOption = {"essential": True}
    checks = jwt.JWTClaimsRegistry(
        now=now,
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub=essential,
        exp=essential,
        iat=essential,
    )
    try:
        checks.validate(claims)
    except ClaimError as exc:
        raise _claim_error(exc) from exc
    audience = claims["aud"]
    azp = claims.get("azp")
    others = isinstance(audience, list) and any(aud != client_id for aud in audience)
    if (others or azp is not None) and azp != client_id:
        raise SsoRejected(
            "oidc_azp_mismatch",
            "The ID token was issued to another client (azp), or names other audiences without"
            " naming this client as the authorized party.",
            {"azp": azp if isinstance(azp, str) else None},
        )
    token_nonce = claims.get("nonce")
    if (
        not nonce
        or not isinstance(token_nonce, str)
        or not hmac.compare_digest(token_nonce.encode(), nonce.encode())
    ):
        raise SsoRejected(
            "oidc_nonce_mismatch",
            "The ID token belongs to another sign-in attempt (nonce); start the sign-in again.",
        )
    return dict(claims)


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    """Who signed in, as the provider vouches. ``(issuer, subject)`` is the stable account key."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    """True only when the provider says so: JSON ``true`` (or the exact string ``"true"``)."""
    name: str | None
    given_name: str | None
    family_name: str | None
    claims: Mapping[str, Any] = field(repr=False, hash=False)
    """The ID token's claims, plus any userinfo claims the ID token lacks."""


def _text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


def identity_from_claims(issuer: str, claims: Mapping[str, Any]) -> OidcIdentity:
    """The :class:`OidcIdentity` described by validated claims (``sub`` must be present).

    ``email_verified`` is True only for JSON ``true`` or the exact string ``"true"`` (some
    providers send the string); anything else, absence included, is False.
    """
    verified = claims.get("email_verified")
    return OidcIdentity(
        issuer=issuer,
        subject=str(claims["sub"]),
        email=_text(claims, "email"),
        email_verified=verified is True or verified == "true",
        name=_text(claims, "name"),
        given_name=_text(claims, "given_name"),
        family_name=_text(claims, "family_name"),
        claims=MappingProxyType(dict(claims)),
    )
