"""The checks of a SAML Response that python3-saml does loosely or not at all, done exactly.

python3-saml accepts a Destination that merely starts with the ACS URL, a Recipient that merely
contains it, no Audience at all, any InResponseTo when the caller expects none, and checks
times only against the system clock. These checks run on the one assertion the pre-scan allows.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree  # type: ignore[import-untyped]

from sso.saml._config import IdpConfig, SpConfig
from sso.saml._library import CLOCK_SKEW, NS, parse_instant, text_of
from sso.saml.errors import reject

__all__ = ["ExactChecks"]

_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"


class ExactChecks:
    """The exact checks of one response, run on the document python3-saml parsed."""

    def __init__(
        self,
        sp: SpConfig,
        idp: IdpConfig,
        acs_url: str,
        expected_request_id: str | None,
        allow_unsolicited: bool,
        now: datetime,
    ) -> None:
        self.sp = sp
        self.idp = idp
        self.acs_url = acs_url
        self.expected = expected_request_id
        self.allow_unsolicited = allow_unsolicited
        self.now = now

    def run(self, root: etree._Element) -> datetime:
        """Raise the first failed check; return the end of the acceptance window."""
        assertions = root.findall("saml:Assertion", NS)
        if len(assertions) != 1:
            raise reject("saml_assertion_count", count=len(assertions))
        assertion = assertions[0]
        self._issuer(root, assertion)
        self._destination(root)
        self._audience(assertion)
        confirmation = self._confirmation(assertion)
        self._in_response_to(root, confirmation)
        return self._times(assertion, confirmation)

    def _issuer(self, root: etree._Element, assertion: etree._Element) -> None:
        envelope = root.findall("saml:Issuer", NS)
        inner = assertion.findall("saml:Issuer", NS)
        issuers = [text_of(e) for e in (*envelope, *inner)]
        if len(envelope) > 1 or len(inner) != 1 or any(i != self.idp.entity_id for i in issuers):
            raise reject(
                "saml_issuer_mismatch",
                f"The issuer is not this connection's identity provider "
                f"(expected {self.idp.entity_id!r}).",
                expected=self.idp.entity_id,
                received=[(i or "")[:200] for i in issuers],
            )

    def _destination(self, root: etree._Element) -> None:
        destination = root.get("Destination")
        if destination != self.acs_url:
            message = (
                "The response has no Destination."
                if destination is None
                else f"The response was addressed to another URL than {self.acs_url!r}."
            )
            raise reject(
                "saml_destination_mismatch",
                message,
                expected=self.acs_url,
                received=(destination or "")[:300],
            )

    def _audience(self, assertion: etree._Element) -> None:
        restrictions = assertion.findall("saml:Conditions/saml:AudienceRestriction", NS)
        audiences = [[text_of(a) for a in r.findall("saml:Audience", NS)] for r in restrictions]
        # Several restrictions all apply (SAML core 2.5.1.4): each must name this SP.
        if not audiences or any(self.sp.sp_entity_id not in group for group in audiences):
            raise reject(
                "saml_audience_mismatch",
                f"The assertion is not addressed to this service provider "
                f"({self.sp.sp_entity_id!r}); "
                "check the SP entity ID configured at the identity provider.",
                expected=self.sp.sp_entity_id,
                received=[(a or "")[:200] for group in audiences for a in group][:10],
            )

    def _confirmation(self, assertion: etree._Element) -> etree._Element:
        bearers = [
            sc
            for sc in assertion.findall("saml:Subject/saml:SubjectConfirmation", NS)
            if sc.get("Method") == _BEARER
        ]
        if len(bearers) != 1:
            raise reject(
                "saml_subject_invalid",
                "The assertion must have exactly one bearer subject confirmation.",
                count=len(bearers),
            )
        data = bearers[0].find("saml:SubjectConfirmationData", NS)
        if data is None or data.get("Recipient") != self.acs_url:
            received = "" if data is None else (data.get("Recipient") or "")
            raise reject(
                "saml_recipient_mismatch",
                f"The assertion's recipient is not {self.acs_url!r}.",
                expected=self.acs_url,
                received=received[:300],
            )
        return data

    def _in_response_to(self, root: etree._Element, confirmation: etree._Element) -> None:
        values = [v for v in (root.get("InResponseTo"), confirmation.get("InResponseTo")) if v]
        if self.expected is not None:
            if not values or root.get("InResponseTo") != self.expected:
                raise reject(
                    "saml_in_response_to_mismatch",
                    "The response does not answer the sign-in request this browser started.",
                )
            if any(v != self.expected for v in values):
                raise reject("saml_in_response_to_mismatch")
            return
        if values:
            raise reject(
                "saml_in_response_to_mismatch",
                "The response answers a sign-in request this browser has no record of "
                "(it expired, or was started in another browser).",
            )
        if not self.allow_unsolicited:
            raise reject("saml_unsolicited")

    def _times(self, assertion: etree._Element, confirmation: etree._Element) -> datetime:
        conditions = assertion.find("saml:Conditions", NS)
        not_before = parse_instant(None if conditions is None else conditions.get("NotBefore"))
        ends = [
            parse_instant(None if conditions is None else conditions.get("NotOnOrAfter")),
            parse_instant(confirmation.get("NotOnOrAfter")),
        ]
        if ends[1] is None:
            raise reject(
                "saml_subject_invalid", "The subject confirmation has no NotOnOrAfter time."
            )
        starts = [not_before, parse_instant(confirmation.get("NotBefore"))]
        if any(s is not None and s > self.now + CLOCK_SKEW for s in starts):
            raise reject("saml_not_yet_valid")
        end = min(e for e in ends if e is not None)
        if end + CLOCK_SKEW <= self.now:
            raise reject("saml_expired")
        statement = assertion.find("saml:AuthnStatement", NS)
        session_end = parse_instant(
            None if statement is None else statement.get("SessionNotOnOrAfter")
        )
        if session_end is not None and session_end + CLOCK_SKEW <= self.now:
            raise reject("saml_expired", "The identity provider's session has ended.")
        return end
