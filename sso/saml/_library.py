"""python3-saml's refusals translated to this package's codes, and small shared readers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lxml import etree  # type: ignore[import-untyped]
from onelogin.saml2.errors import (  # type: ignore[import-untyped]
    OneLogin_Saml2_ValidationError as LibError,
)

from sso.errors import SsoRejected
from sso.saml.errors import reject

__all__ = ["CLOCK_SKEW", "NS", "library_rejection", "parse_instant", "text_of"]

CLOCK_SKEW = timedelta(seconds=120)
"""Tolerated difference between the identity provider's clock and ours."""

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}

_CODES: dict[int, str] = {
    LibError.UNSUPPORTED_SAML_VERSION: "saml_schema_invalid",
    LibError.MISSING_ID: "saml_schema_invalid",
    LibError.MISSING_STATUS: "saml_schema_invalid",
    LibError.MISSING_STATUS_CODE: "saml_schema_invalid",
    LibError.INVALID_XML_FORMAT: "saml_schema_invalid",
    LibError.STATUS_CODE_IS_NOT_SUCCESS: "saml_status_not_success",
    LibError.WRONG_NUMBER_OF_ASSERTIONS: "saml_assertion_count",
    LibError.WRONG_SIGNED_ELEMENT: "saml_signature_wrapping",
    LibError.ID_NOT_FOUND_IN_SIGNED_ELEMENT: "saml_signature_wrapping",
    LibError.DUPLICATED_ID_IN_SIGNED_ELEMENTS: "saml_signature_wrapping",
    LibError.INVALID_SIGNED_ELEMENT: "saml_signature_wrapping",
    LibError.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS: "saml_signature_wrapping",
    LibError.UNEXPECTED_SIGNED_ELEMENTS: "saml_signature_wrapping",
    LibError.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE: "saml_signature_wrapping",
    LibError.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION: "saml_signature_wrapping",
    LibError.WRONG_NUMBER_OF_SIGNATURES: "saml_signature_wrapping",
    LibError.NO_ENCRYPTED_ASSERTION: "saml_encrypted_unsupported",
    LibError.NO_ENCRYPTED_NAMEID: "saml_encrypted_unsupported",
    LibError.KEYINFO_NOT_FOUND_IN_ENCRYPTED_DATA: "saml_encrypted_unsupported",
    LibError.CHILDREN_NODE_NOT_FOUND_IN_KEYINFO: "saml_encrypted_unsupported",
    LibError.UNSUPPORTED_RETRIEVAL_METHOD: "saml_encrypted_unsupported",
    LibError.ENCRYPTED_ATTRIBUTES: "saml_encrypted_unsupported",
    LibError.MISSING_CONDITIONS: "saml_subject_invalid",
    LibError.WRONG_NUMBER_OF_AUTHSTATEMENTS: "saml_subject_invalid",
    LibError.NO_ATTRIBUTESTATEMENT: "saml_subject_invalid",
    LibError.NO_NAMEID: "saml_subject_invalid",
    LibError.EMPTY_NAMEID: "saml_subject_invalid",
    LibError.WRONG_SUBJECTCONFIRMATION: "saml_subject_invalid",
    LibError.SP_NAME_QUALIFIER_NAME_MISMATCH: "saml_audience_mismatch",
    LibError.WRONG_AUDIENCE: "saml_audience_mismatch",
    LibError.ASSERTION_TOO_EARLY: "saml_not_yet_valid",
    LibError.ASSERTION_EXPIRED: "saml_expired",
    LibError.SESSION_EXPIRED: "saml_expired",
    LibError.RESPONSE_EXPIRED: "saml_expired",
    LibError.WRONG_DESTINATION: "saml_destination_mismatch",
    LibError.EMPTY_DESTINATION: "saml_destination_mismatch",
    LibError.ISSUER_MULTIPLE_IN_RESPONSE: "saml_issuer_mismatch",
    LibError.ISSUER_NOT_FOUND_IN_ASSERTION: "saml_issuer_mismatch",
    LibError.WRONG_ISSUER: "saml_issuer_mismatch",
    LibError.WRONG_INRESPONSETO: "saml_in_response_to_mismatch",
    LibError.NO_SIGNED_MESSAGE: "saml_unsigned",
    LibError.NO_SIGNATURE_FOUND: "saml_unsigned",
    LibError.NO_SIGNED_ASSERTION: "saml_assertion_unsigned",
    LibError.INVALID_SIGNATURE: "saml_signature_invalid",
    LibError.DUPLICATED_ATTRIBUTE_NAME_FOUND: "saml_duplicate_attribute",
    LibError.DEPRECATED_SIGNATURE_METHOD: "saml_deprecated_algorithm",
    LibError.DEPRECATED_DIGEST_METHOD: "saml_deprecated_algorithm",
}


def library_rejection(error: Exception) -> SsoRejected:
    """The refusal for an exception python3-saml raised while validating a message.

    The library's own message is not passed on: it can quote values of the message (an issuer,
    an ID) that are noise on an administrator's page. Its numeric code goes into ``detail``.
    """
    if isinstance(error, LibError):
        code = _CODES.get(error.code, "saml_invalid")
        return reject(code, library_code=error.code)
    # Anything else (xmlsec.Error, lxml errors, OneLogin_Saml2_Error) means the message could not
    # be processed at all; only the exception's class goes to the log.
    return reject("saml_invalid", library_error=type(error).__name__)


def parse_instant(value: str | None) -> datetime | None:
    """A SAML ``xs:dateTime`` (UTC) as an aware datetime; None when absent.

    Raises:
        SsoRejected: ``saml_schema_invalid`` when the value is not an ISO 8601 date-time.
    """
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise reject("saml_schema_invalid", "A timestamp in the message is malformed.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def text_of(element: etree._Element | None) -> str | None:
    """The text of an element (comments are refused earlier, so there is one text node)."""
    if element is None:
        return None
    return element.text or ""
