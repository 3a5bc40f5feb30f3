"""prescan and decode_saml_message: hostile XML refused by structure, before any SAML library.

The documents here are hand-written (the signatures are placeholders: the pre-scan never checks
them); ``test_saml_validate.py`` runs the same defences on responses a real IdP signed.
"""

from __future__ import annotations

import base64
import zlib

import pytest

from sso.errors import SsoRejected
from sso.saml.prescan import (
    MAX_DEPTH,
    MAX_ELEMENTS,
    MAX_ENCODED_BYTES,
    MAX_XML_BYTES,
    decode_saml_message,
    prescan,
)
from tests.sso_support.saml_attacks import billion_laughs, deflate_bomb

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"

TRANSFORMS = f'<ds:Transform Algorithm="{ENVELOPED}"/><ds:Transform Algorithm="{EXC}"/>'


def signature(
    ref: str = "#_a1", transforms: str = TRANSFORMS, extra: str = "", c14n: str = EXC
) -> str:
    return (
        f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo>'
        f'<ds:CanonicalizationMethod Algorithm="{c14n}"/>'
        '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
        f'<ds:Reference URI="{ref}"><ds:Transforms>{transforms}</ds:Transforms>'
        '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        "<ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        f"<ds:SignatureValue>AAAA</ds:SignatureValue>{extra}</ds:Signature>"
    )


def response(
    *,
    prolog: str = "",
    signature_xml: str | None = None,
    name_id: str = "alice@example.com",
    before_assertion: str = "",
    after_assertion: str = "",
    in_assertion: str = "",
    root: str = "Response",
) -> bytes:
    sig = signature() if signature_xml is None else signature_xml
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<samlp:{root} xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_r1" Version="2.0" '
        'IssueInstant="2024-01-01T00:00:00Z">'
        "<saml:Issuer>https://idp.example.test</saml:Issuer>"
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
        f"</samlp:Status>{before_assertion}"
        '<saml:Assertion ID="_a1" Version="2.0" IssueInstant="2024-01-01T00:00:00Z">'
        f"<saml:Issuer>https://idp.example.test</saml:Issuer>{sig}"
        f"<saml:Subject><saml:NameID>{name_id}</saml:NameID></saml:Subject>{in_assertion}"
        f"</saml:Assertion>{after_assertion}</samlp:{root}>"
    ).encode()


def nested(depth: int) -> str:
    return "<saml:Advice>" * depth + "</saml:Advice>" * depth


def refusal(xml: bytes, **kwargs: str) -> str:
    with pytest.raises(SsoRejected) as caught:
        prescan(xml, **kwargs)
    return caught.value.code


@pytest.mark.parametrize(
    "xml",
    [
        pytest.param(response(), id="a plain signed response"),
        pytest.param(response(prolog="<!-- made by an IdP -->"), id="a comment before the root"),
        pytest.param(
            response(
                signature_xml=signature(
                    transforms=f'<ds:Transform Algorithm="{ENVELOPED}"/>'
                    '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">'
                    f'<ec:InclusiveNamespaces xmlns:ec="{EXC}" PrefixList="xs"/></ds:Transform>'
                )
            ),
            id="exclusive c14n with an InclusiveNamespaces list",
        ),
        pytest.param(
            response(
                signature_xml=signature(
                    c14n="http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
                    transforms=f'<ds:Transform Algorithm="{ENVELOPED}"/>',
                )
            ),
            id="inclusive c14n, one transform",
        ),
        pytest.param(response(in_assertion=nested(MAX_DEPTH - 3)), id="deep, within the limit"),
    ],
)
def test_ordinary_messages_pass(xml: bytes) -> None:
    prescan(xml, expected_root="Response")


def _utf16_with_entity() -> bytes:
    text = response(prolog='<!DOCTYPE r [<!ENTITY e "x">]>').decode()
    return text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        (
            response(prolog='<!DOCTYPE r SYSTEM "http://evil.example.test/r.dtd">'),
            "saml_dtd_refused",
        ),
        (response(prolog=billion_laughs().decode(), name_id="&lol9;"), "saml_dtd_refused"),
        (_utf16_with_entity(), "saml_dtd_refused"),
        (response(prolog='<?xml-stylesheet href="x.xsl"?>'), "saml_pi_refused"),
        (response(in_assertion="<?php system('id'); ?>"), "saml_pi_refused"),
        (response(name_id="admin@example.com<!---->.evil.test"), "saml_comment_refused"),
        (response(after_assertion="<!-- a note -->"), "saml_comment_refused"),
        (
            response(signature_xml=signature(transforms=f'<ds:Transform Algorithm="{XSLT}"/>')),
            "saml_transform_refused",
        ),
        (
            # The same XSLT transform under another prefix, and as the default namespace.
            response(
                signature_xml=signature(
                    transforms=f'<evil:Transform xmlns:evil="{DS}" Algorithm="{XSLT}"/>'
                )
            ),
            "saml_transform_refused",
        ),
        (
            response(
                signature_xml=signature(transforms=f'<Transform xmlns="{DS}" Algorithm="{XSLT}"/>')
            ),
            "saml_transform_refused",
        ),
        (
            response(
                signature_xml=signature(
                    transforms='<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"/>'
                )
            ),
            "saml_transform_refused",
        ),
        (
            response(
                signature_xml=signature(
                    transforms='<ds:Transform Algorithm="http://www.w3.org/2002/06/xmldsig-filter2"/>'
                )
            ),
            "saml_transform_refused",
        ),
        (
            response(
                signature_xml=signature(transforms=f'<ds:Transform Algorithm="{EXC}WithComments"/>')
            ),
            "saml_transform_refused",
        ),
        (
            response(
                signature_xml=signature(
                    transforms=TRANSFORMS + f'<ds:Transform Algorithm="{EXC}"/>'
                )
            ),
            "saml_transform_refused",
        ),
        (
            # A look-alike element in another namespace inside ds:Transforms.
            response(
                signature_xml=signature(
                    transforms=f'<x:Transform xmlns:x="urn:not-dsig" Algorithm="{EXC}"/>'
                )
            ),
            "saml_transform_refused",
        ),
        (response(signature_xml=signature(c14n=XSLT)), "saml_transform_refused"),
        (
            response(signature_xml=signature(extra="<ds:Object><saml:Assertion/></ds:Object>")),
            "saml_signature_wrapping",
        ),
        (
            response(signature_xml=signature(extra=f'<o:Object xmlns:o="{DS}"/>')),
            "saml_signature_wrapping",
        ),
        (
            response(
                signature_xml=signature(
                    extra='<ds:KeyInfo><ds:RetrievalMethod URI="http://evil.example.test/k"/></ds:KeyInfo>'
                )
            ),
            "saml_signature_wrapping",
        ),
        (response(signature_xml=signature(ref="#_other")), "saml_signature_wrapping"),
        (response(signature_xml=signature(ref="")), "saml_signature_wrapping"),
        (
            response(before_assertion='<saml:Assertion ID="_evil" Version="2.0"/>'),
            "saml_signature_wrapping",
        ),
        (
            response(
                in_assertion='<saml:Advice><saml:Assertion ID="_x" Version="2.0"/></saml:Advice>'
            ),
            "saml_signature_wrapping",
        ),
        (
            response(after_assertion=f'<samlp:Response xmlns:samlp="{SAMLP}" ID="_r2"/>'),
            "saml_signature_wrapping",
        ),
        (
            response(in_assertion=f"<saml:Subject>{signature()}</saml:Subject>"),
            "saml_signature_wrapping",
        ),
        (response(in_assertion=signature()), "saml_signature_wrapping"),
        (response(after_assertion="<saml:EncryptedAssertion/>"), "saml_encrypted_unsupported"),
        (response(in_assertion=nested(MAX_DEPTH)), "saml_too_complex"),
        (response(in_assertion="<saml:Advice/>" * MAX_ELEMENTS), "saml_too_complex"),
        (response(root="AuthnRequest"), "saml_wrong_message"),
        (b"<html><body>not saml</body></html>", "saml_wrong_message"),
        (b"<samlp:Response", "saml_malformed"),
        (b"", "saml_malformed"),
        (response(in_assertion="&undefined;"), "saml_malformed"),
        (
            response().decode().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode(),
            "saml_malformed",
        ),
        (
            response(in_assertion="<saml:Advice>" + "A" * MAX_XML_BYTES + "</saml:Advice>"),
            "saml_too_large",
        ),
    ],
)
def test_hostile_messages_are_refused(xml: bytes, code: str) -> None:
    assert refusal(xml) == code


def test_the_expected_root_is_enforced() -> None:
    assert refusal(response(root="LogoutResponse"), expected_root="Response") == (
        "saml_wrong_message"
    )


def test_an_xslt_transform_is_refused_before_any_stylesheet_runs() -> None:
    # The XSLT a real attack carries: read a local file. The pre-scan refuses it on the
    # Transform's algorithm alone; benchmarks/sso_acs.py prints the CPU this costs (no timing
    # assertions in tests).
    stylesheet = (
        '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
        '<xsl:template match="/"><xsl:copy-of select="document(\'file:///etc/passwd\')"/>'
        "</xsl:template></xsl:stylesheet>"
    )
    xml = response(
        signature_xml=signature(
            transforms=f'<ds:Transform Algorithm="{XSLT}">{stylesheet}</ds:Transform>'
        )
    )

    with pytest.raises(SsoRejected) as refused:
        prescan(xml)

    assert refused.value.code == "saml_transform_refused"


# -- decode_saml_message --------------------------------------------------------------------


def deflate(data: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return base64.b64encode(compressor.compress(data) + compressor.flush()).decode()


@pytest.mark.parametrize(
    ("value", "redirect", "expected"),
    [
        (base64.b64encode(b"<x/>").decode(), False, b"<x/>"),
        (base64.encodebytes(b"<x/>" * 40).decode(), False, b"<x/>" * 40),
        (deflate(b"<samlp:LogoutRequest/>"), True, b"<samlp:LogoutRequest/>"),
        (deflate(b"A" * MAX_XML_BYTES), True, b"A" * MAX_XML_BYTES),
    ],
)
def test_messages_decode(value: str, redirect: bool, expected: bytes) -> None:
    assert decode_saml_message(value, redirect_binding=redirect) == expected


@pytest.mark.parametrize(
    ("value", "redirect", "code"),
    [
        ("not base64!", False, "saml_malformed"),
        ("é" + base64.b64encode(b"<x/>").decode(), False, "saml_malformed"),
        ("A" * (MAX_ENCODED_BYTES + 4), False, "saml_too_large"),
        (deflate_bomb(), True, "saml_too_large"),
        (deflate(b"A" * (MAX_XML_BYTES + 1)), True, "saml_too_large"),
        (deflate(b"<x/>")[:-8], True, "saml_malformed"),
        (base64.b64encode(b"<x/>").decode(), True, "saml_malformed"),
        (
            base64.b64encode(base64.b64decode(deflate(b"<x/>")) + b"trailing").decode(),
            True,
            "saml_malformed",
        ),
    ],
)
def test_bad_encodings_are_refused(value: str, redirect: bool, code: str) -> None:
    with pytest.raises(SsoRejected) as caught:
        decode_saml_message(value, redirect_binding=redirect)

    assert caught.value.code == code
