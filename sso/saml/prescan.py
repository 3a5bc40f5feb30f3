"""A strict structural check of a SAML message, run before any SAML library parses it.

python3-saml and xmlsec accept much more of XML and XML-DSig than a SAML message needs, and
each extra feature has been an attack: DTDs and entities (XXE, billion laughs), XSLT and XPath
transforms (code execution and CPU exhaustion inside the signature check), ``ds:Object`` and
extra elements next to the signed one (signature wrapping, "On Breaking SAML", USENIX Security
2012), comments inside a NameID (CVE-2017-11427/11428). :func:`prescan` refuses all of these
outright, on the decoded bytes, in one pass over a tree that libxml2 parsed without loading any
DTD, resolving any entity or touching the network. Elements are matched by namespace URI and
local name, so prefix games change nothing.

:func:`decode_saml_message` is the only way a message gets from a form or query parameter to
bytes: it caps the encoded size and, for the HTTP-Redirect binding, the inflated size (a deflate
bomb stops after ``MAX_XML_BYTES + 1`` bytes of output).
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable

from lxml import etree  # type: ignore[import-untyped]

from sso.errors import SsoRejected
from sso.saml.errors import reject

__all__ = [
    "ALLOWED_C14N",
    "ALLOWED_TRANSFORMS",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "MAX_ENCODED_BYTES",
    "MAX_XML_BYTES",
    "decode_saml_message",
    "prescan",
    "safe_parser",
]

MAX_ENCODED_BYTES = 256 * 1024
"""Largest base64 message accepted from a form field or query parameter."""
MAX_XML_BYTES = 1024 * 1024
"""Largest decoded (and, for HTTP-Redirect, inflated) XML accepted."""
MAX_DEPTH = 64
"""Deepest element nesting accepted (a real response nests about 8 deep)."""
MAX_ELEMENTS = 10_000
"""Most elements accepted in one message (a response with 500 group values has about 1,100)."""

_DS = "http://www.w3.org/2000/09/xmldsig#"
_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
_XENC = "http://www.w3.org/2001/04/xmlenc#"

_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

ALLOWED_C14N = frozenset({_EXC_C14N, _C14N, _C14N11})
"""Canonicalisation algorithms accepted; the ``#WithComments`` variants are not (comments are
refused anyway, and no identity provider signs with them)."""
ALLOWED_TRANSFORMS = ALLOWED_C14N | {_ENVELOPED}
"""Transform algorithms accepted in a ``ds:Reference``; XSLT, XPath, XPath Filter 2.0 and
base64 are all refused."""
_MAX_TRANSFORMS = 2

_PROTOCOL_MESSAGES = frozenset(
    f"{{{_SAMLP}}}{name}"
    for name in (
        "Response",
        "LogoutRequest",
        "LogoutResponse",
        "AuthnRequest",
        "ArtifactResolve",
        "ArtifactResponse",
        "AttributeQuery",
        "AuthnQuery",
        "AuthzDecisionQuery",
        "AssertionIDRequest",
        "ManageNameIDRequest",
        "NameIDMappingRequest",
    )
)
_ROOTS = frozenset(
    f"{{{_SAMLP}}}{name}" for name in ("Response", "LogoutRequest", "LogoutResponse")
)
_SIGNATURE_CHILDREN = frozenset(
    f"{{{_DS}}}{n}" for n in ("SignedInfo", "SignatureValue", "KeyInfo")
)
_ENCRYPTED = frozenset(
    {
        f"{{{_SAML}}}EncryptedAssertion",
        f"{{{_SAML}}}EncryptedID",
        f"{{{_SAML}}}EncryptedAttribute",
        f"{{{_XENC}}}EncryptedData",
        f"{{{_XENC}}}EncryptedKey",
    }
)
_ASSERTION = f"{{{_SAML}}}Assertion"
_REFERENCE = f"{{{_DS}}}Reference"
_SIGNATURE = f"{{{_DS}}}Signature"
_TRANSFORM = f"{{{_DS}}}Transform"


def safe_parser() -> etree.XMLParser:
    """A new lxml parser that never loads a DTD, resolves an entity or reaches the network.

    Comments and processing instructions are kept so that :func:`prescan` can refuse them.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
        collect_ids=False,
    )


def decode_saml_message(b64: str, *, redirect_binding: bool) -> bytes:
    """Decode a ``SAMLResponse``/``SAMLRequest`` parameter to XML bytes, within size limits.

    Args:
        b64: The parameter as received (base64; whitespace such as line breaks is ignored).
        redirect_binding: True for the HTTP-Redirect binding (raw DEFLATE, then base64); False
            for HTTP-POST (base64 only).

    Returns:
        The XML bytes, not yet checked: pass them to :func:`prescan`.

    Raises:
        SsoRejected: ``saml_too_large`` (over ``MAX_ENCODED_BYTES`` encoded, or over
            ``MAX_XML_BYTES`` decoded or inflated) or ``saml_malformed`` (not base64, or not a
            complete raw DEFLATE stream).
    """
    if len(b64) > MAX_ENCODED_BYTES:
        raise reject("saml_too_large", limit=MAX_ENCODED_BYTES, size=len(b64))
    try:
        compact = b64.encode("ascii").translate(None, b" \t\r\n")
        raw = base64.b64decode(compact, validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise reject("saml_malformed", "The SAML message is not valid base64.") from None
    if not redirect_binding:
        if len(raw) > MAX_XML_BYTES:
            raise reject("saml_too_large", limit=MAX_XML_BYTES, size=len(raw))
        return raw
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        xml = inflater.decompress(raw, MAX_XML_BYTES + 1)
    except zlib.error:
        raise reject("saml_malformed", "The SAML message is not raw DEFLATE data.") from None
    if len(xml) > MAX_XML_BYTES or inflater.unconsumed_tail:
        raise reject(
            "saml_too_large",
            "The SAML message inflates to more than this service accepts.",
            limit=MAX_XML_BYTES,
        )
    if not inflater.eof or inflater.unused_data:
        raise reject("saml_malformed", "The SAML message is truncated or has trailing data.")
    return xml


def prescan(xml: bytes, *, expected_root: str | None = None) -> None:
    """Refuse a SAML message that uses any XML or XML-DSig feature SAML does not need.

    Checks, in order: size; no DOCTYPE or entity declaration; well-formed UTF-8 XML; root is a
    ``samlp:Response``, ``samlp:LogoutRequest`` or ``samlp:LogoutResponse`` (or exactly
    ``expected_root``); then in one walk: no processing instruction, no comment inside the root,
    depth and element count within limits, only enveloped-signature and canonical-XML transforms
    (at most two per reference), no ``ds:Object`` or ``ds:RetrievalMethod``, at most one
    assertion and only as a child of the root, no protocol message nested in another, each
    signature a child of the root or of that assertion with exactly one reference to its parent's
    ID, and no encrypted element.

    Args:
        xml: The decoded message (from :func:`decode_saml_message`).
        expected_root: The local name the root must have (e.g. ``"Response"``), or None.

    Raises:
        SsoRejected: ``saml_too_large``, ``saml_dtd_refused``, ``saml_malformed``,
            ``saml_wrong_message``, ``saml_pi_refused``, ``saml_comment_refused``,
            ``saml_too_complex``, ``saml_transform_refused``, ``saml_signature_wrapping`` or
            ``saml_encrypted_unsupported``.
    """
    if len(xml) > MAX_XML_BYTES:
        raise reject("saml_too_large", limit=MAX_XML_BYTES, size=len(xml))
    # A cheap first look; the parser's own DOCTYPE check below also covers other encodings.
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise reject("saml_dtd_refused")
    try:
        root = etree.fromstring(xml, safe_parser())
    except etree.XMLSyntaxError:
        raise reject("saml_malformed", "The SAML message is not well-formed XML.") from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise reject("saml_dtd_refused")
    if (info.encoding or "UTF-8").upper() not in ("UTF-8", "US-ASCII", "ASCII"):
        raise reject("saml_malformed", "The SAML message is not encoded in UTF-8.")
    _check_root(root, expected_root)
    _walk(root)


def _check_root(root: etree._Element, expected_root: str | None) -> None:
    allowed = _ROOTS if expected_root is None else {f"{{{_SAMLP}}}{expected_root}"}
    if root.tag not in allowed:
        raise reject("saml_wrong_message", element=etree.QName(root).localname)
    for sibling in (*root.itersiblings(preceding=True), *root.itersiblings()):
        if isinstance(sibling, etree._ProcessingInstruction):
            raise reject("saml_pi_refused")


def _walk(root: etree._Element) -> None:
    depth = 0
    count = 0
    assertions = 0
    for event, node in etree.iterwalk(root, events=("start", "end", "comment", "pi")):
        if event == "end":
            depth -= 1
            continue
        if event == "comment":
            raise reject("saml_comment_refused")
        if event == "pi":
            raise reject("saml_pi_refused")
        depth += 1
        count += 1
        if depth > MAX_DEPTH or count > MAX_ELEMENTS:
            raise reject("saml_too_complex", max_depth=MAX_DEPTH, max_elements=MAX_ELEMENTS)
        tag = node.tag
        if tag == _ASSERTION:
            assertions += 1
            if assertions > 1 or node.getparent() is not root:
                raise _wrapping("an assertion outside its place, or more than one assertion")
        elif tag in _PROTOCOL_MESSAGES and node is not root:
            raise _wrapping("a protocol message nested inside another")
        elif tag in _ENCRYPTED:
            raise reject("saml_encrypted_unsupported")
        else:
            check = _CHECKS.get(tag)
            if check is not None:
                check(node, root)


def _wrapping(what: str) -> SsoRejected:
    return reject(
        "saml_signature_wrapping",
        f"The message's structure is not allowed: {what} (a signature-wrapping pattern).",
    )


def _check_signature(node: etree._Element, root: etree._Element) -> None:
    parent = node.getparent()
    if parent is None or not (parent is root or (parent.tag == _ASSERTION)):
        raise _wrapping("a signature outside the message or its assertion")
    if len(parent.findall(_SIGNATURE)) != 1:
        raise _wrapping("more than one signature on one element")
    children = [c for c in node if isinstance(c.tag, str)]
    tags = [c.tag for c in children]
    if any(t not in _SIGNATURE_CHILDREN for t in tags) or tags.count(f"{{{_DS}}}SignedInfo") != 1:
        raise _wrapping("unexpected elements inside a signature")
    references = node.findall(f"{{{_DS}}}SignedInfo/{_REFERENCE}")
    parent_id = parent.get("ID")
    if len(references) != 1 or not parent_id or references[0].get("URI") != f"#{parent_id}":
        raise _wrapping("a signature that does not reference exactly the element it signs")


def _check_transforms(node: etree._Element, _root: etree._Element) -> None:
    children = [c for c in node if isinstance(c.tag, str)]
    if len(children) > _MAX_TRANSFORMS or any(c.tag != _TRANSFORM for c in children):
        raise reject("saml_transform_refused", count=len(children))


def _check_algorithm(allowed: frozenset[str]) -> Callable[[etree._Element, etree._Element], None]:
    def check(node: etree._Element, _root: etree._Element) -> None:
        algorithm = node.get("Algorithm")
        if algorithm not in allowed:
            raise reject("saml_transform_refused", algorithm=(algorithm or "")[:100])

    return check


def _refuse_wrapping(what: str) -> Callable[[etree._Element, etree._Element], None]:
    def check(_node: etree._Element, _root: etree._Element) -> None:
        raise _wrapping(what)

    return check


_CHECKS: dict[str, Callable[[etree._Element, etree._Element], None]] = {
    _SIGNATURE: _check_signature,
    f"{{{_DS}}}Transforms": _check_transforms,
    _TRANSFORM: _check_algorithm(ALLOWED_TRANSFORMS),
    f"{{{_DS}}}CanonicalizationMethod": _check_algorithm(ALLOWED_C14N),
    f"{{{_DS}}}Object": _refuse_wrapping("a ds:Object element"),
    f"{{{_DS}}}Manifest": _refuse_wrapping("a ds:Manifest element"),
    f"{{{_DS}}}RetrievalMethod": _refuse_wrapping("a ds:RetrievalMethod element"),
}
