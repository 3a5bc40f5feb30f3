"""Per-connection settings and the signed AuthnRequest, checked by a real IdP (pysaml2)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from sso.errors import SsoRejected
from sso.saml import IdpConfig, SpConfig, authn_request, saml_settings
from tests.sso_support.saml_idp import IncorrectlySigned, InProcessIdp, key_pair, tenant_sp

SP_A = tenant_sp("acme")
SP_B = tenant_sp("globex")
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@pytest.fixture(scope="module")
def idp() -> Iterator[InProcessIdp]:
    server = InProcessIdp(key_pair("idp"), [SP_A, SP_B])
    yield server
    server.close()


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("authnRequestsSigned", True),
        ("logoutRequestSigned", True),
        ("logoutResponseSigned", True),
        ("wantAssertionsSigned", True),
        ("wantMessagesSigned", False),
        ("wantNameId", True),
        ("rejectDeprecatedAlgorithm", True),
        ("allowRepeatAttributeName", False),
        ("wantAssertionsEncrypted", False),
        ("requestedAuthnContext", False),
        ("signatureAlgorithm", RSA_SHA256),
        ("digestAlgorithm", "http://www.w3.org/2001/04/xmlenc#sha256"),
    ],
)
def test_the_security_policy_is_in_the_settings(
    idp: InProcessIdp, key: str, expected: object
) -> None:
    settings = saml_settings(SP_A, idp.idp_config())

    assert settings["strict"] is True
    assert settings["security"][key] == expected


def test_settings_carry_every_idp_certificate_and_only_this_connection(
    idp: InProcessIdp,
) -> None:
    certs = (idp.key.cert_pem, key_pair("idp-next").cert_pem)
    config = IdpConfig(idp.entity_id, idp.sso_url, None, certs)

    settings = saml_settings(SP_B, config)

    assert settings["idp"]["x509certMulti"] == {"signing": list(certs)}
    assert "singleLogoutService" not in settings["idp"]
    assert settings["sp"]["entityId"] == SP_B.sp_entity_id
    assert settings["sp"]["assertionConsumerService"]["url"] == SP_B.acs_url
    assert SP_A.sp_entity_id not in repr(settings)


def test_a_connection_without_idp_certificates_is_refused(idp: InProcessIdp) -> None:
    config = IdpConfig(idp.entity_id, idp.sso_url, idp.slo_url, ())

    with pytest.raises(SsoRejected) as caught:
        authn_request(SP_A, config, relay_state="r")

    assert caught.value.code == "metadata_no_signing_cert"


def test_the_sp_key_never_shows_in_a_repr() -> None:
    assert "PRIVATE" not in repr(SP_A)


@pytest.mark.parametrize("sp", [SP_A, SP_B], ids=["acme", "globex"])
def test_the_authn_request_is_signed_and_accepted_by_the_idp(
    idp: InProcessIdp, sp: SpConfig
) -> None:
    url, request_id = authn_request(sp, idp.idp_config(), relay_state="flow-123")

    query = parse_qs(urlsplit(url).query)
    received = idp.receive_authn_request(url)

    assert url.startswith(idp.sso_url + "?")
    assert query["SigAlg"] == [RSA_SHA256]
    assert query["RelayState"] == ["flow-123"]
    assert received.request_id == request_id
    assert received.issuer == sp.sp_entity_id
    assert received.relay_state == "flow-123"
    assert received.message.message.assertion_consumer_service_url == sp.acs_url
    assert received.message.message.destination == idp.sso_url


def test_each_request_has_its_own_id(idp: InProcessIdp) -> None:
    ids = {authn_request(SP_A, idp.idp_config(), relay_state="r")[1] for _ in range(5)}

    assert len(ids) == 5


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"RelayState": "flow-evil"}, id="relay state changed"),
        pytest.param({"Signature": None}, id="signature removed"),
    ],
)
def test_the_idp_refuses_a_tampered_request(
    idp: InProcessIdp, tamper: dict[str, str | None]
) -> None:
    url, _request_id = authn_request(SP_A, idp.idp_config(), relay_state="flow-123")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for name, value in tamper.items():
        if value is None:
            del query[name]
        else:
            query[name] = value
    forged = parts._replace(query=urlencode(query)).geturl()

    with pytest.raises(IncorrectlySigned):
        idp.receive_authn_request(forged)


def test_another_tenants_key_does_not_sign_for_this_connection(idp: InProcessIdp) -> None:
    stolen = SpConfig(
        SP_A.sp_entity_id, SP_A.acs_url, SP_A.sls_url, SP_A.sp_cert_pem, SP_B.sp_key_pem
    )
    url, _request_id = authn_request(stolen, idp.idp_config(), relay_state="r")

    with pytest.raises(IncorrectlySigned):
        idp.receive_authn_request(url)
