"""OpenID Connect relying party: discovery, JWKS, ID token checks, and the code flow with PKCE.

Protocol only: no database, no routes. Connections, sessions and pages are built on these.
"""

from sso.oidc.discovery import DiscoveryCache, ProviderMetadata, discover, parse_metadata
from sso.oidc.flow import AuthorizationStart, begin, check_callback, exchange_code, finish
from sso.oidc.jwks import JwksCache, parse_jwks, verify_id_token
from sso.oidc.presets import PRESETS, FilledPreset, OidcPreset, fill_preset
from sso.oidc.tokens import (
    ASYMMETRIC_ALGS,
    DEFAULT_ALGS,
    OidcIdentity,
    identity_from_claims,
    validate_id_token,
)

__all__ = [
    "ASYMMETRIC_ALGS",
    "DEFAULT_ALGS",
    "PRESETS",
    "AuthorizationStart",
    "DiscoveryCache",
    "FilledPreset",
    "JwksCache",
    "OidcIdentity",
    "OidcPreset",
    "ProviderMetadata",
    "begin",
    "check_callback",
    "discover",
    "exchange_code",
    "fill_preset",
    "finish",
    "identity_from_claims",
    "parse_jwks",
    "parse_metadata",
    "validate_id_token",
    "verify_id_token",
]
