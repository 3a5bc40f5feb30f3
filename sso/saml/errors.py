"""The stable codes of every SAML refusal, each with the message an administrator reads.

Every function of :mod:`sso.saml` that refuses something raises :class:`sso.errors.SsoRejected`
with one of these codes. The messages are shown on the connection's "test connection" page: they
say what to fix and never quote a key, a certificate body or the assertion itself.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from sso.errors import SsoRejected

__all__ = ["MESSAGES", "reject"]

_MESSAGES = {
    # -- transport and pre-scan (before any SAML library sees the message)
    "saml_malformed": "The SAML message is not well-formed base64 or XML.",
    "saml_too_large": "The SAML message is larger than this service accepts.",
    "saml_too_complex": "The SAML message nests too deeply or has too many elements.",
    "saml_dtd_refused": "The SAML message declares a DTD or entities; this is never accepted.",
    "saml_pi_refused": "The SAML message contains an XML processing instruction.",
    "saml_comment_refused": "The SAML message contains an XML comment inside the message.",
    "saml_transform_refused": (
        "The signature uses a transform or canonicalisation this service does not accept "
        "(only enveloped-signature and canonical XML, at most two transforms)."
    ),
    "saml_signature_wrapping": (
        "The message's structure is not the one a signed SAML message has "
        "(a signature-wrapping pattern)."
    ),
    "saml_encrypted_unsupported": (
        "The message contains encrypted elements; this connection accepts plain signed assertions."
    ),
    "saml_wrong_message": "The SAML message is not of the expected kind.",
    # -- signatures
    "saml_unsigned": "The message carries no signature.",
    "saml_assertion_unsigned": (
        "The assertion is not signed; configure the identity provider to sign assertions."
    ),
    "saml_signature_invalid": (
        "The signature does not verify with any of the identity provider's certificates; "
        "check that the connection has the current signing certificate."
    ),
    "saml_deprecated_algorithm": (
        "The signature uses SHA-1; configure the identity provider to sign with RSA-SHA256."
    ),
    # -- content
    "saml_status_not_success": "The identity provider answered with an error status.",
    "saml_schema_invalid": "The message does not follow the SAML 2.0 protocol schema.",
    "saml_assertion_count": "The response must contain exactly one assertion.",
    "saml_issuer_mismatch": "The issuer is not this connection's identity provider.",
    "saml_audience_mismatch": "The assertion is not addressed to this service provider.",
    "saml_destination_mismatch": "The response was sent to another address than this one.",
    "saml_recipient_mismatch": "The assertion's recipient is another address than this one.",
    "saml_expired": "The assertion has expired; check the clocks of both servers.",
    "saml_not_yet_valid": "The assertion is not valid yet; check the clocks of both servers.",
    "saml_in_response_to_mismatch": "The response answers another sign-in request.",
    "saml_unsolicited": (
        "The response was not requested by this service (IdP-initiated sign-in is off)."
    ),
    "saml_subject_invalid": "The assertion has no usable subject confirmation or NameID.",
    "saml_duplicate_attribute": "The assertion names the same attribute twice.",
    "saml_invalid": "The SAML message was refused.",
    # -- logout
    "saml_logout_failed": "The identity provider did not confirm the logout.",
    "saml_slo_unsupported": "The identity provider has no single logout address.",
    # -- metadata and certificates
    "metadata_invalid": "The metadata is not a valid SAML identity provider metadata document.",
    "metadata_too_large": "The metadata document is larger than this service accepts.",
    "metadata_dtd_refused": "The metadata declares a DTD or entities; this is never accepted.",
    "metadata_no_idp": "The metadata describes no identity provider (no IDPSSODescriptor).",
    "metadata_no_sso_url": "The metadata has no single sign-on address (HTTP-Redirect or POST).",
    "metadata_no_signing_cert": "The metadata publishes no signing certificate.",
    "certificate_invalid": "A certificate could not be read as an X.509 certificate.",
}

MESSAGES = MappingProxyType(_MESSAGES)
"""Code -> the default plain-English message of that refusal."""


def reject(code: str, message: str | None = None, **detail: Any) -> SsoRejected:
    """The refusal with ``code`` (one of :data:`MESSAGES`) and its message.

    Args:
        code: A code of :data:`MESSAGES`.
        message: A more precise message than the default; it must not contain secrets or the
            assertion.
        **detail: Non-secret data for logs (e.g. the expected and received audience).

    Returns:
        The exception, for the caller to raise.

    Raises:
        KeyError: ``code`` is not a known code (a programming error).
    """
    default = _MESSAGES[code]
    return SsoRejected(code, message or default, detail or None)
