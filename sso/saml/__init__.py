"""SAML 2.0 service provider: the protocol layer, on plain values (no database, no routes).

- :mod:`sso.saml.prescan`: structural refusal of hostile XML before any library parses it.
- :mod:`sso.saml.keys`: SP signing keys and certificate facts.
- :mod:`sso.saml.metadata`: IdP metadata in, SP metadata out.
- :mod:`sso.saml.sp`: per-connection settings, AuthnRequest, Single Logout.
- :mod:`sso.saml.validate`: the ACS check of a SAML Response.

Every refusal is an :class:`sso.errors.SsoRejected` with a code of
:data:`sso.saml.errors.MESSAGES`.
"""

from sso.saml.errors import MESSAGES
from sso.saml.keys import (
    CertificateInfo,
    SigningKeyPair,
    certificate_info,
    common_name_for,
    generate_signing_pair,
    normalise_certificate,
)
from sso.saml.metadata import IdpCertificate, IdpMetadata, parse_idp_metadata, sp_metadata
from sso.saml.prescan import decode_saml_message, prescan
from sso.saml.sp import (
    IdpConfig,
    IdpLogoutRequest,
    LogoutCompleted,
    SpConfig,
    authn_request,
    logout_request,
    process_logout,
    saml_settings,
)
from sso.saml.validate import CLOCK_SKEW, ValidatedAssertion, validate_response

__all__ = [
    "CLOCK_SKEW",
    "MESSAGES",
    "CertificateInfo",
    "IdpCertificate",
    "IdpConfig",
    "IdpLogoutRequest",
    "IdpMetadata",
    "LogoutCompleted",
    "SigningKeyPair",
    "SpConfig",
    "ValidatedAssertion",
    "authn_request",
    "certificate_info",
    "common_name_for",
    "decode_saml_message",
    "generate_signing_pair",
    "logout_request",
    "normalise_certificate",
    "parse_idp_metadata",
    "prescan",
    "process_logout",
    "saml_settings",
    "sp_metadata",
    "validate_response",
]
