"""IdP metadata in (pysaml2's own, several certificates, bad documents), SP metadata out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree  # type: ignore[import-untyped]

from sso.errors import SsoRejected
from sso.saml import (
    SpConfig,
    authn_request,
    certificate_info,
    parse_idp_metadata,
    sp_metadata,
    validate_response,
)
from sso.saml.metadata import MAX_METADATA_BYTES
from tests.sso_support.saml_attacks import billion_laughs
from tests.sso_support.saml_idp import InProcessIdp, key_pair, tenant_sp

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
SP_A = tenant_sp("acme")
SP_B = tenant_sp("globex")


@pytest.fixture(scope="module")
def idp() -> Iterator[InProcessIdp]:
    server = InProcessIdp(key_pair("idp"), [SP_A, SP_B])
    yield server
    server.close()


def key_descriptor(pem: str, use: str | None = "signing") -> str:
    body = "".join(pem.strip().splitlines()[1:-1])
    attribute = f' use="{use}"' if use else ""
    return (
        f'<md:KeyDescriptor{attribute}><ds:KeyInfo xmlns:ds="{DS}"><ds:X509Data>'
        f"<ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        "</md:KeyDescriptor>"
    )


def entity(
    entity_id: str = "https://idp.example.test/metadata",
    *,
    keys: str | None = None,
    services: str | None = None,
    descriptor: str = "IDPSSODescriptor",
) -> str:
    if keys is None:
        keys = key_descriptor(key_pair("idp").cert_pem)
    if services is None:
        services = (
            f'<md:SingleLogoutService Binding="{REDIRECT}" Location="https://idp.example.test/slo"/>'
            f'<md:SingleSignOnService Binding="{POST}" Location="https://idp.example.test/sso-post"/>'
            f'<md:SingleSignOnService Binding="{REDIRECT}" Location="https://idp.example.test/sso"/>'
        )
    return (
        f'<md:EntityDescriptor xmlns:md="{MD}" entityID="{entity_id}">'
        f'<md:{descriptor} protocolSupportEnumeration="{PROTOCOL}">{keys}{services}'
        f"</md:{descriptor}></md:EntityDescriptor>"
    )


def test_pysaml2_idp_metadata_is_read(idp: InProcessIdp) -> None:
    metadata = parse_idp_metadata(idp.metadata())

    assert metadata.entity_id == idp.entity_id
    assert metadata.sso_url == idp.sso_url
    assert metadata.sso_binding == REDIRECT
    assert metadata.slo_url == idp.slo_url
    info = certificate_info(idp.key.cert_pem)
    assert [(c.pem, c.not_after, c.fingerprint_sha256) for c in metadata.signing_certs] == [
        (info.pem, info.not_after, info.fingerprint_sha256)
    ]


def test_metadata_values_make_a_working_connection(idp: InProcessIdp) -> None:
    config = parse_idp_metadata(idp.metadata()).idp_config()
    url, request_id = authn_request(SP_A, config, relay_state="r")
    response = idp.issue(SP_A, in_response_to=idp.receive_authn_request(url).request_id)

    result = validate_response(
        SP_A,
        config,
        saml_response_b64=response,
        acs_url=SP_A.acs_url,
        expected_request_id=request_id,
        allow_unsolicited=False,
    )

    assert result.name_id == "alice@example.com"


def test_every_signing_certificate_of_a_rollover_is_kept_in_order(idp: InProcessIdp) -> None:
    new = key_pair("idp-next").cert_pem

    metadata = parse_idp_metadata(idp.metadata(extra_signing_certs=[new, new]))

    assert [c.pem for c in metadata.signing_certs] == [
        certificate_info(new).pem,
        certificate_info(idp.key.cert_pem).pem,
    ]
    assert metadata.idp_config().signing_certs == tuple(c.pem for c in metadata.signing_certs)


def test_encryption_keys_are_not_signing_keys() -> None:
    signing, encryption = key_pair("idp").cert_pem, key_pair("idp-enc").cert_pem
    keys = key_descriptor(encryption, "encryption") + key_descriptor(signing, None)

    metadata = parse_idp_metadata(entity(keys=keys).encode())

    assert [c.pem for c in metadata.signing_certs] == [certificate_info(signing).pem]


def test_an_idp_with_post_only_sso_is_read_with_that_binding() -> None:
    services = f'<md:SingleSignOnService Binding="{POST}" Location="https://idp.example.test/p"/>'

    metadata = parse_idp_metadata(entity(services=services).encode())

    assert (metadata.sso_url, metadata.sso_binding, metadata.slo_url) == (
        "https://idp.example.test/p",
        POST,
        None,
    )


def test_one_idp_is_picked_from_an_aggregate() -> None:
    aggregate = (
        f'<md:EntitiesDescriptor xmlns:md="{MD}">{entity("https://one.example.test")}'
        f"{entity('https://two.example.test')}</md:EntitiesDescriptor>"
    ).encode()

    assert parse_idp_metadata(aggregate, entity_id="https://two.example.test").entity_id == (
        "https://two.example.test"
    )


@pytest.mark.parametrize(
    ("document", "code"),
    [
        pytest.param(b"not xml", "metadata_invalid", id="not XML"),
        pytest.param(b"<html/>", "metadata_invalid", id="not metadata"),
        pytest.param(
            b'<!DOCTYPE m SYSTEM "http://evil.example.test/m.dtd">' + entity().encode(),
            "metadata_dtd_refused",
            id="external DTD",
        ),
        pytest.param(
            billion_laughs().replace(b"samlp:Response", b"md:EntityDescriptor")
            + entity("&lol9;").encode(),
            "metadata_dtd_refused",
            id="billion laughs",
        ),
        pytest.param(
            entity()
            .replace(
                "<md:EntityDescriptor",
                '<?xml version="1.0" encoding="UTF-16"?>'
                '<!DOCTYPE x [<!ENTITY e "e">]><md:EntityDescriptor',
                1,
            )
            .encode("utf-16"),
            "metadata_dtd_refused",
            id="entity declaration in UTF-16",
        ),
        pytest.param(
            entity(descriptor="SPSSODescriptor").encode(), "metadata_no_idp", id="an SP's metadata"
        ),
        pytest.param(entity(services="").encode(), "metadata_no_sso_url", id="no SSO service"),
        pytest.param(
            entity(
                services=f'<md:SingleSignOnService Binding="{REDIRECT}" Location="javascript:x"/>'
            ).encode(),
            "metadata_no_sso_url",
            id="SSO location not http(s)",
        ),
        pytest.param(entity(keys="").encode(), "metadata_no_signing_cert", id="no certificate"),
        pytest.param(
            entity(keys=key_descriptor(key_pair("idp").cert_pem, "encryption")).encode(),
            "metadata_no_signing_cert",
            id="encryption certificate only",
        ),
        pytest.param(
            entity(
                keys=f'<md:KeyDescriptor><ds:KeyInfo xmlns:ds="{DS}"><ds:X509Data>'
                "<ds:X509Certificate>bm90IGEgY2VydA==</ds:X509Certificate>"
                "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            ).encode(),
            "certificate_invalid",
            id="garbage certificate",
        ),
        pytest.param(
            (
                f'<md:EntitiesDescriptor xmlns:md="{MD}">{entity("https://one.example.test")}'
                f"{entity('https://two.example.test')}</md:EntitiesDescriptor>"
            ).encode(),
            "metadata_invalid",
            id="two IdPs, none chosen",
        ),
        pytest.param(
            entity().encode() + b" " * MAX_METADATA_BYTES, "metadata_too_large", id="too large"
        ),
    ],
)
def test_bad_metadata_is_refused_with_a_clear_code(document: bytes, code: str) -> None:
    with pytest.raises(SsoRejected) as caught:
        parse_idp_metadata(document)

    assert caught.value.code == code
    assert caught.value.message


def test_an_entity_id_missing_from_an_aggregate_is_reported() -> None:
    with pytest.raises(SsoRejected) as caught:
        parse_idp_metadata(entity().encode(), entity_id="https://other.example.test")

    assert caught.value.code == "metadata_no_idp"


# -- SP metadata ------------------------------------------------------------------------------


def _sp_descriptor(document: str) -> tuple[etree._Element, etree._Element]:
    root = etree.fromstring(document.encode())
    return root, root.find(f"{{{MD}}}SPSSODescriptor")


@pytest.mark.parametrize("sp", [SP_A, SP_B], ids=["acme", "globex"])
def test_sp_metadata_publishes_one_connection(sp: SpConfig) -> None:
    root, descriptor = _sp_descriptor(sp_metadata(sp))

    assert root.get("entityID") == sp.sp_entity_id
    not_after = certificate_info(sp.sp_cert_pem).not_after
    assert root.get("validUntil") == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert descriptor.get("AuthnRequestsSigned") == "true"
    assert descriptor.get("WantAssertionsSigned") == "true"
    acs = descriptor.findall(f"{{{MD}}}AssertionConsumerService")
    sls = descriptor.findall(f"{{{MD}}}SingleLogoutService")
    assert [(e.get("Binding"), e.get("Location")) for e in acs] == [(POST, sp.acs_url)]
    assert [(e.get("Binding"), e.get("Location")) for e in sls] == [(REDIRECT, sp.sls_url)]
    keys = descriptor.findall(f"{{{MD}}}KeyDescriptor")
    assert [k.get("use") for k in keys] == ["signing"]
    other = SP_B if sp is SP_A else SP_A
    assert other.sp_entity_id not in sp_metadata(sp)


def test_sp_metadata_publishes_the_next_certificate_during_a_rollover() -> None:
    nxt = key_pair("sp-acme-next").cert_pem
    sp = SpConfig(
        SP_A.sp_entity_id, SP_A.acs_url, SP_A.sls_url, SP_A.sp_cert_pem, SP_A.sp_key_pem, nxt
    )

    _root, descriptor = _sp_descriptor(sp_metadata(sp))

    published = [
        certificate_info(node.text).pem for node in descriptor.iter(f"{{{DS}}}X509Certificate")
    ]
    assert sorted(published) == sorted(
        [certificate_info(SP_A.sp_cert_pem).pem, certificate_info(nxt).pem]
    )


def test_sp_metadata_says_when_assertions_may_come_unsigned() -> None:
    _root, descriptor = _sp_descriptor(sp_metadata(SP_A, want_assertions_signed=False))

    assert descriptor.get("WantAssertionsSigned") == "false"


@pytest.mark.parametrize(
    ("acs_url", "cert", "code"),
    [
        ("not a url", SP_A.sp_cert_pem, "metadata_invalid"),
        (SP_A.acs_url, "not a certificate", "certificate_invalid"),
    ],
)
def test_sp_metadata_refuses_unusable_values(acs_url: str, cert: str, code: str) -> None:
    sp = SpConfig(SP_A.sp_entity_id, acs_url, SP_A.sls_url, cert, "")

    with pytest.raises(SsoRejected) as caught:
        sp_metadata(sp)

    assert caught.value.code == code
