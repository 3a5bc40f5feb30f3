"""Hostile SAML responses, each built from a valid one the test IdP signed.

:data:`ATTACKS` maps a name to the code :func:`sso.saml.validate.validate_response` must refuse it
with and a builder. The XML signature wrapping variants follow SAML Raider's XSW1-XSW8 (after
Somorovsky et al., "On Breaking SAML: Be Whoever You Want to Be", USENIX Security 2012): in each,
the signed content survives intact somewhere in the document (so the signature still verifies)
while an evil copy, claiming ``admin@example.com``, sits where a naive reader looks.
"""

from __future__ import annotations

import base64
import copy
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from lxml import etree  # type: ignore[import-untyped]

from sso.saml import SigningKeyPair, SpConfig
from tests.sso_support.saml_idp import InProcessIdp, encode

__all__ = [
    "ATTACKS",
    "EVIL_NAME_ID",
    "Attack",
    "AttackKit",
    "Hostile",
    "billion_laughs",
    "deflate_bomb",
    "with_transform",
]

EVIL_NAME_ID = "admin@example.com"
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"

_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
_DS = "http://www.w3.org/2000/09/xmldsig#"
_NS = {"samlp": _SAMLP, "saml": _SAML, "ds": _DS}


@dataclass(frozen=True)
class Hostile:
    """A hostile ``SAMLResponse`` value, and how the SP receives it."""

    saml_response: str
    solicited: bool = True
    """True: validated against the flow's request ID; False: as an IdP-initiated sign-in on a
    connection that does not allow those."""


@dataclass
class AttackKit:
    """What the builders start from: an IdP, the SP it answers, the request it answers."""

    idp: InProcessIdp
    sp: SpConfig
    request_id: str
    other_key: SigningKeyPair

    @cached_property
    def assertion_signed(self) -> bytes:
        """A valid response whose assertion is signed."""
        return self.idp.response_xml(self.sp, in_response_to=self.request_id)

    @cached_property
    def response_signed(self) -> bytes:
        """A valid response whose envelope only is signed."""
        return self.idp.response_xml(
            self.sp, in_response_to=self.request_id, sign_assertion=False, sign_response=True
        )

    def issue(self, **options: object) -> str:
        """A response from the IdP for the kit's SP and request, with ``options`` changed."""
        values: dict[str, object] = {"in_response_to": self.request_id, **options}
        return self.idp.issue(self.sp, **values)


@dataclass(frozen=True)
class Attack:
    """One hostile variant: the refusal code expected and how to build it."""

    code: str
    build: Callable[[AttackKit], Hostile]


def _tree(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def _out(root: etree._Element) -> Hostile:
    return Hostile(encode(etree.tostring(root)))


def _make_evil(element: etree._Element) -> None:
    """Give the evil copy another ID and the victim's NameID."""
    element.set("ID", "_evil" + element.get("ID", ""))
    for name_id in element.iter(f"{{{_SAML}}}NameID"):
        name_id.text = EVIL_NAME_ID


def _without_signature(element: etree._Element) -> etree._Element:
    clone = copy.deepcopy(element)
    for signature in clone.findall("ds:Signature", _NS):
        clone.remove(signature)
    return clone


def _xsw_response(kit: AttackKit, *, inside_signature: bool) -> Hostile:
    """XSW1 (original inside the Signature) and XSW2 (original before it, detached)."""
    root = _tree(kit.response_signed)
    original = _without_signature(root)
    _make_evil(root)
    signature = root.find("ds:Signature", _NS)
    if inside_signature:
        signature.append(original)
    else:
        signature.addprevious(original)
    return _out(root)


def _xsw3(kit: AttackKit) -> Hostile:
    root = _tree(kit.assertion_signed)
    assertion = root.find("saml:Assertion", _NS)
    evil = _without_signature(assertion)
    _make_evil(evil)
    assertion.addprevious(evil)
    return _out(root)


def _xsw4(kit: AttackKit) -> Hostile:
    root = _tree(kit.assertion_signed)
    assertion = root.find("saml:Assertion", _NS)
    evil = _without_signature(assertion)
    _make_evil(evil)
    root.replace(assertion, evil)
    evil.append(assertion)
    return _out(root)


def _xsw5_6(kit: AttackKit, *, inside_signature: bool) -> Hostile:
    """XSW5: the signed copy at the end of the response; XSW6: inside the evil one's Signature."""
    root = _tree(kit.assertion_signed)
    assertion = root.find("saml:Assertion", _NS)
    original = _without_signature(assertion)
    _make_evil(assertion)  # keeps its (now misplaced) signature
    if inside_signature:
        assertion.find("ds:Signature", _NS).append(original)
    else:
        root.append(original)
    return _out(root)


def _xsw7(kit: AttackKit) -> Hostile:
    root = _tree(kit.assertion_signed)
    assertion = root.find("saml:Assertion", _NS)
    extensions = etree.Element(f"{{{_SAMLP}}}Extensions")
    extensions.append(copy.deepcopy(assertion))
    root.find("samlp:Status", _NS).addprevious(extensions)
    evil = _without_signature(assertion)
    _make_evil(evil)
    root.replace(assertion, evil)
    return _out(root)


def _xsw8(kit: AttackKit) -> Hostile:
    root = _tree(kit.assertion_signed)
    assertion = root.find("saml:Assertion", _NS)
    original = _without_signature(assertion)
    _make_evil(assertion)
    holder = etree.SubElement(assertion.find("ds:Signature", _NS), f"{{{_DS}}}Object")
    holder.append(original)
    return _out(root)


def _stripped(kit: AttackKit) -> Hostile:
    root = _tree(kit.assertion_signed)
    assertion = root.find("saml:Assertion", _NS)
    assertion.remove(assertion.find("ds:Signature", _NS))
    _make_evil(assertion)
    return _out(root)


def _tampered(kit: AttackKit) -> Hostile:
    root = _tree(kit.assertion_signed)
    root.find("saml:Assertion/saml:Subject/saml:NameID", _NS).text = EVIL_NAME_ID
    return _out(root)


def _comment_injection(kit: AttackKit) -> Hostile:
    """CVE-2017-11427: the IdP signed ``admin@example.com.evil.test``, a comment cuts it."""
    root = _tree(
        kit.idp.response_xml(
            kit.sp, in_response_to=kit.request_id, name_id=f"{EVIL_NAME_ID}.evil.test"
        )
    )
    name_id = root.find("saml:Assertion/saml:Subject/saml:NameID", _NS)
    name_id.text = EVIL_NAME_ID
    comment = etree.Comment("")
    comment.tail = ".evil.test"
    name_id.append(comment)
    return _out(root)


def _with_prolog(kit: AttackKit, prolog: bytes, *, entity: str | None = None) -> Hostile:
    xml = kit.assertion_signed
    if entity is not None:
        xml = xml.replace(b"alice@example.com</", f"&{entity};</".encode(), 1)
    body = xml.split(b"?>", 1)[1] if xml.startswith(b"<?xml") else xml
    return Hostile(encode(b'<?xml version="1.0"?>\n' + prolog + body))


def billion_laughs(levels: int = 10) -> bytes:
    """The entity-expansion DOCTYPE (10 levels of 10: a billion ``lol``)."""
    lines = [b'<!ENTITY lol0 "lol">']
    lines += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">'.encode() for i in range(1, levels)]
    return b"<!DOCTYPE samlp:Response [" + b"".join(lines) + b"]>\n"


def with_transform(xml: bytes, algorithm: str, body: bytes = b"", *, replace: bool = True) -> bytes:
    """The response with the assertion signature's c14n transform replaced by (or, with
    ``replace=False``, followed by) a transform of ``algorithm``."""
    root = _tree(xml)
    transforms = root.find(
        "saml:Assertion/ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms", _NS
    )
    transform = etree.fromstring(
        f'<ds:Transform xmlns:ds="{_DS}" Algorithm="{algorithm}">'.encode()
        + body
        + b"</ds:Transform>"
    )
    if replace:
        transforms.replace(transforms[-1], transform)
    else:
        transforms.append(transform)
    return bytes(etree.tostring(root))


_XSLT_BODY = (
    b'<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
    b'<xsl:template match="/"><xsl:copy-of select="document(\'file:///etc/passwd\')"/>'
    b"</xsl:template></xsl:stylesheet>"
)


def _oversized(kit: AttackKit) -> Hostile:
    root = _tree(kit.assertion_signed)
    padding = etree.SubElement(root.find("saml:Assertion", _NS), f"{{{_SAML}}}Advice")
    padding.text = "A" * (300 * 1024)
    return _out(root)


def deflate_bomb(inflated_bytes: int = 64 * 1024 * 1024) -> str:
    """A ``SAMLRequest`` (HTTP-Redirect: raw DEFLATE, base64) inflating to ``inflated_bytes``."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = (
        f'<samlp:LogoutRequest xmlns:samlp="{_SAMLP}" ID="_bomb" Version="2.0" '
        'IssueInstant="2024-01-01T00:00:00Z"><!--'
    ).encode()
    chunks = [compressor.compress(head)]
    block = b" " * (1024 * 1024)
    for _ in range(inflated_bytes // len(block)):
        chunks.append(compressor.compress(block))
    chunks.append(compressor.compress(b"--></samlp:LogoutRequest>"))
    chunks.append(compressor.flush())
    return base64.b64encode(b"".join(chunks)).decode("ascii")


def _now(minutes: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


ATTACKS: dict[str, Attack] = {
    "unsigned": Attack("saml_unsigned", lambda k: Hostile(k.issue(sign_assertion=False))),
    "signature stripped": Attack("saml_unsigned", _stripped),
    "signed by another key": Attack(
        "saml_signature_invalid", lambda k: Hostile(k.issue(signer=k.other_key))
    ),
    "response signed by another key": Attack(
        "saml_signature_invalid",
        lambda k: Hostile(k.issue(sign_assertion=True, sign_response=True, signer=k.other_key)),
    ),
    "modified after signing": Attack("saml_signature_invalid", _tampered),
    "XSW1": Attack("saml_signature_wrapping", lambda k: _xsw_response(k, inside_signature=True)),
    "XSW2": Attack("saml_signature_wrapping", lambda k: _xsw_response(k, inside_signature=False)),
    "XSW3": Attack("saml_signature_wrapping", _xsw3),
    "XSW4": Attack("saml_signature_wrapping", _xsw4),
    "XSW5": Attack("saml_signature_wrapping", lambda k: _xsw5_6(k, inside_signature=False)),
    "XSW6": Attack("saml_signature_wrapping", lambda k: _xsw5_6(k, inside_signature=True)),
    "XSW7": Attack("saml_signature_wrapping", _xsw7),
    "XSW8": Attack("saml_signature_wrapping", _xsw8),
    "NameID comment injection": Attack("saml_comment_refused", _comment_injection),
    "wrong audience": Attack(
        "saml_audience_mismatch",
        lambda k: Hostile(k.issue(audience="https://other.example.test/sp")),
    ),
    "missing audience": Attack("saml_audience_mismatch", lambda k: Hostile(k.issue(audience=""))),
    "wrong recipient": Attack(
        "saml_recipient_mismatch",
        lambda k: Hostile(k.issue(recipient="https://other.example.test/acs")),
    ),
    "wrong destination": Attack(
        "saml_destination_mismatch",
        lambda k: Hostile(k.issue(destination="https://other.example.test/acs")),
    ),
    "missing destination": Attack(
        "saml_destination_mismatch", lambda k: Hostile(k.issue(destination=""))
    ),
    "wrong issuer": Attack(
        "saml_issuer_mismatch", lambda k: Hostile(k.issue(issuer="https://evil.example.test/idp"))
    ),
    "expired": Attack(
        "saml_expired",
        lambda k: Hostile(k.issue(not_before=_now(-30), not_on_or_after=_now(-20))),
    ),
    "not yet valid": Attack(
        "saml_not_yet_valid",
        lambda k: Hostile(k.issue(not_before=_now(20), not_on_or_after=_now(30))),
    ),
    "unsolicited": Attack(
        "saml_unsolicited", lambda k: Hostile(k.issue(in_response_to=None), solicited=False)
    ),
    "in response to another request": Attack(
        "saml_in_response_to_mismatch",
        lambda k: Hostile(k.issue(in_response_to="ONELOGIN_another_request")),
    ),
    "answer to a request while none is pending": Attack(
        "saml_in_response_to_mismatch", lambda k: Hostile(k.issue(), solicited=False)
    ),
    "DTD with external entity (XXE)": Attack(
        "saml_dtd_refused",
        lambda k: _with_prolog(
            k,
            b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
            entity="xxe",
        ),
    ),
    "billion laughs": Attack(
        "saml_dtd_refused", lambda k: _with_prolog(k, billion_laughs(), entity="lol9")
    ),
    "processing instruction": Attack(
        "saml_pi_refused",
        lambda k: _with_prolog(k, b'<?xml-stylesheet type="text/xsl" href="x.xsl"?>\n'),
    ),
    "XSLT transform": Attack(
        "saml_transform_refused",
        lambda k: Hostile(encode(with_transform(k.assertion_signed, XSLT, _XSLT_BODY))),
    ),
    "XPath transform": Attack(
        "saml_transform_refused",
        lambda k: Hostile(
            encode(with_transform(k.assertion_signed, XPATH, b"<ds:XPath>1</ds:XPath>"))
        ),
    ),
    "three transforms": Attack(
        "saml_transform_refused",
        lambda k: Hostile(
            encode(
                with_transform(
                    k.assertion_signed, "http://www.w3.org/2001/10/xml-exc-c14n#", replace=False
                )
            )
        ),
    ),
    "oversized": Attack("saml_too_large", _oversized),
    "SHA-1 signature": Attack("saml_deprecated_algorithm", lambda k: Hostile(k.issue(sha1=True))),
}
"""Name -> the expected refusal and its builder."""
