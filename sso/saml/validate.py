"""Validate a SAML Response posted to a connection's Assertion Consumer Service.

Three layers, all of which must pass: :func:`sso.saml.prescan.prescan` (structure, before any
library sees the bytes), python3-saml in strict mode (schema, status, signatures, algorithms,
one assertion, timestamps against the system clock), then this module's exact checks of what
python3-saml checks loosely or not at all: Issuer, Destination (exact, required), Audience
(required, every restriction), the bearer SubjectConfirmation's Recipient (exact) and
NotOnOrAfter (required), InResponseTo against the request this browser started (or its absence
for an IdP-initiated sign-in, allowed per connection), and every validity window against ``now``.
The NameID and attributes are read only after all of this passed.

Replay protection is the caller's: keep ``assertion_id`` until ``not_on_or_after`` plus
:data:`CLOCK_SKEW`, and refuse an ID seen before.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from onelogin.saml2.errors import (  # type: ignore[import-untyped]
    OneLogin_Saml2_ValidationError as LibError,
)
from onelogin.saml2.response import OneLogin_Saml2_Response  # type: ignore[import-untyped]

from sso.errors import SsoRejected
from sso.saml._checks import ExactChecks
from sso.saml._config import IdpConfig, SpConfig, library_settings, request_data
from sso.saml._library import CLOCK_SKEW, NS, library_rejection
from sso.saml.errors import reject
from sso.saml.prescan import decode_saml_message, prescan

__all__ = ["CLOCK_SKEW", "ValidatedAssertion", "validate_response"]

# python3-saml refusals that this module's own checks can explain more precisely.
_REFINABLE = frozenset(
    {
        LibError.WRONG_DESTINATION,
        LibError.EMPTY_DESTINATION,
        LibError.WRONG_AUDIENCE,
        LibError.WRONG_ISSUER,
        LibError.ISSUER_MULTIPLE_IN_RESPONSE,
        LibError.ISSUER_NOT_FOUND_IN_ASSERTION,
        LibError.WRONG_INRESPONSETO,
        LibError.WRONG_SUBJECTCONFIRMATION,
        LibError.ASSERTION_EXPIRED,
        LibError.ASSERTION_TOO_EARLY,
        LibError.SESSION_EXPIRED,
    }
)
_UNSIGNED = frozenset(
    {LibError.NO_SIGNED_ASSERTION, LibError.NO_SIGNED_MESSAGE, LibError.NO_SIGNATURE_FOUND}
)


@dataclass(frozen=True)
class ValidatedAssertion:
    """What a valid response says about the person who signed in."""

    name_id: str
    name_id_format: str | None
    session_index: str | None
    """The IdP session, for Single Logout."""
    assertion_id: str
    """Keep it in the replay cache until ``not_on_or_after`` plus ``CLOCK_SKEW``."""
    issuer: str
    in_response_to: str | None
    not_on_or_after: datetime
    """The end of the window in which this assertion could be accepted (UTC)."""
    attributes: dict[str, list[str]]
    """Attribute Name -> its values, in document order."""


def validate_response(
    sp: SpConfig,
    idp: IdpConfig,
    *,
    saml_response_b64: str,
    acs_url: str,
    expected_request_id: str | None,
    allow_unsolicited: bool,
    now: datetime | None = None,
) -> ValidatedAssertion:
    """Validate a ``SAMLResponse`` form value for one connection and read the assertion.

    Args:
        sp: The connection's SP side (its entity ID is the required audience).
        idp: The connection's identity provider (issuer and signing certificates).
        saml_response_b64: The ``SAMLResponse`` field of the HTTP-POST, as received.
        acs_url: The exact URL the response was posted to: Destination and Recipient must equal
            it.
        expected_request_id: The ID of the AuthnRequest this browser's flow sent, or None when
            no flow is in progress (an IdP-initiated sign-in).
        allow_unsolicited: Whether this connection accepts IdP-initiated sign-ins (only
            consulted when ``expected_request_id`` is None).
        now: The instant to check validity windows against (default: the current time).
            python3-saml also checks the assertion's Conditions against the system clock.

    Returns:
        The validated assertion's subject, session, attributes and replay-cache facts.

    Raises:
        SsoRejected: With a code of :data:`sso.saml.errors.MESSAGES` (e.g.
            ``saml_signature_invalid``, ``saml_audience_mismatch``, ``saml_unsolicited``).
    """
    instant = (now or datetime.now(UTC)).astimezone(UTC)
    xml = decode_saml_message(saml_response_b64, redirect_binding=False)
    prescan(xml, expected_root="Response")
    settings = library_settings(sp, idp)
    # Hand python3-saml exactly the bytes that were pre-scanned (its own base64 decoding is
    # lenient; one decoder for both removes any parser differential).
    response = OneLogin_Saml2_Response(settings, base64.b64encode(xml).decode("ascii"))
    data = request_data(acs_url, post_data={"SAMLResponse": saml_response_b64})
    checks = ExactChecks(sp, idp, acs_url, expected_request_id, allow_unsolicited, instant)
    failure: Exception | None = None
    try:
        response.is_valid(data, request_id=expected_request_id, raise_exceptions=True)
    except Exception as error:
        failure = error
    if failure is not None:
        raise _explain(failure, response, checks) from None
    not_on_or_after = checks.run(response.document)
    return _read(response, idp.entity_id, not_on_or_after)


def _explain(failure: Exception, response: Any, checks: ExactChecks) -> SsoRejected:
    """The refusal to report for a python3-saml failure, as precise as this module can make it."""
    code = failure.code if isinstance(failure, LibError) else None
    if code in _REFINABLE:
        try:
            checks.run(response.document)
        except SsoRejected as precise:
            return precise
    if code in _UNSIGNED and _no_signature(response):
        return reject("saml_unsigned", "Neither the response nor its assertion is signed.")
    return library_rejection(failure)


def _no_signature(response: Any) -> bool:
    root = response.document
    return bool(
        root.find("ds:Signature", NS) is None
        and root.find("saml:Assertion/ds:Signature", NS) is None
    )


def _read(response: Any, issuer: str, not_on_or_after: datetime) -> ValidatedAssertion:
    """The assertion's facts, read through python3-saml (from the signed assertion only)."""
    try:
        name_id = response.get_nameid_data()
        raw_attributes = response.get_attributes()
        assertion_id = response.get_assertion_id()
        session_index = response.get_session_index()
    except Exception as error:
        raise library_rejection(error) from None
    value = name_id.get("Value")
    if not value or not assertion_id:
        raise reject("saml_subject_invalid", "The assertion has no NameID or no ID.")
    attributes: dict[str, list[str]] = {}
    for name, values in raw_attributes.items():
        attributes[str(name)] = [
            str(v["NameID"]["value"] or "") if isinstance(v, dict) else str(v) for v in values
        ]
    return ValidatedAssertion(
        name_id=str(value),
        name_id_format=name_id.get("Format"),
        session_index=None if session_index is None else str(session_index),
        assertion_id=str(assertion_id),
        issuer=issuer,
        in_response_to=response.get_in_response_to(),
        not_on_or_after=not_on_or_after,
        attributes=attributes,
    )
