"""The hostile responses are real attacks: their signed part still verifies on its own.

A wrapping attack that broke the signature would be refused for the wrong reason and prove
nothing about the wrapping defences; these tests check each builder with xmlsec directly, with
the tampered and wrongly-signed variants as the controls that must not verify.

XSW1, XSW6 and XSW8 hide the signed copy *inside* the ``ds:Signature``; libxmlsec's
enveloped-signature transform drops everything under the signature, so their digests no longer
match and xmlsec alone already refuses them (they succeeded against other XML-DSig stacks in
"On Breaking SAML"). The pre-scan refuses them before that, like the other five.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator

import pytest
import xmlsec
from lxml import etree  # type: ignore[import-untyped]

from sso.saml import authn_request
from tests.sso_support.saml_attacks import ATTACKS, EVIL_NAME_ID, AttackKit, deflate_bomb
from tests.sso_support.saml_idp import InProcessIdp, key_pair, tenant_sp

SP = tenant_sp("acme")
DS = "{http://www.w3.org/2000/09/xmldsig#}"
SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"


@pytest.fixture(scope="module")
def kit() -> Iterator[AttackKit]:
    idp = InProcessIdp(key_pair("idp"), [SP])
    _url, request_id = authn_request(SP, idp.idp_config(), relay_state="r")
    yield AttackKit(idp, SP, request_id, key_pair("intruder"))
    idp.close()


def _a_signature_verifies(xml: bytes, cert_pem: str) -> bool:
    root = etree.fromstring(xml)
    xmlsec.tree.add_ids(root, ["ID"])
    for signature in root.iter(f"{DS}Signature"):
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem, None)
        try:
            context.verify(signature)
        except xmlsec.Error:
            continue
        return True
    return False


@pytest.mark.parametrize(
    ("name", "verifies"),
    [
        *[(f"XSW{n}", True) for n in (2, 3, 4, 5, 7)],
        *[(f"XSW{n}", False) for n in (1, 6, 8)],
        ("NameID comment injection", True),
        ("modified after signing", False),
        ("signed by another key", False),
    ],
)
def test_the_signed_part_of_each_attack_still_verifies(
    kit: AttackKit, name: str, verifies: bool
) -> None:
    xml = base64.b64decode(ATTACKS[name].build(kit).saml_response)

    assert _a_signature_verifies(xml, kit.idp.key.cert_pem) is verifies


@pytest.mark.parametrize("name", [f"XSW{n}" for n in range(1, 9)])
def test_each_wrapping_attack_puts_the_victim_where_a_naive_reader_looks(
    kit: AttackKit, name: str
) -> None:
    root = etree.fromstring(base64.b64decode(ATTACKS[name].build(kit).saml_response))

    # The path a naive SP reads: the first assertion under the response, its subject.
    name_id = root.find(f"{SAML}Assertion/{SAML}Subject/{SAML}NameID")

    assert name_id.text == EVIL_NAME_ID


def test_the_deflate_bomb_inflates_far_beyond_the_limit() -> None:
    raw = base64.b64decode(deflate_bomb())

    assert len(raw) < 256 * 1024
    assert len(zlib.decompress(raw, -zlib.MAX_WBITS)) >= 64 * 1024 * 1024
