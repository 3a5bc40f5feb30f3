"""The SP layer against an independent IdP: the npm saml-idp on loopback, one per tenant.

Skipped with a reason when node or tests/peers/node_modules is missing (a failure when
``WHITELABEL_REQUIRE_PEERS=1``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from sso.errors import SsoRejected
from sso.saml import (
    IdpConfig,
    SpConfig,
    authn_request,
    parse_idp_metadata,
    validate_response,
)
from tests.sso_support.saml_idp import key_pair, tenant_sp
from tests.sso_support.saml_idp_server import NpmSamlIdp, saml_idp_server

SP_A = tenant_sp("acme")
SP_B = tenant_sp("globex")
USER = "saml.jackson@example.com"  # saml-idp's default profile

pytestmark = pytest.mark.needs("node")


def _server(sp: SpConfig, tenant: str) -> Iterator[NpmSamlIdp]:
    with saml_idp_server(
        key_pair(f"npm-idp-{tenant}"),
        issuer=f"urn:whitelabel:test:{tenant}-idp",
        acs_url=sp.acs_url,
        audience=sp.sp_entity_id,
    ) as server:
        yield server


@pytest.fixture(scope="module")
def idp_a() -> Iterator[NpmSamlIdp]:
    yield from _server(SP_A, "acme")


@pytest.fixture(scope="module")
def idp_b() -> Iterator[NpmSamlIdp]:
    yield from _server(SP_B, "globex")


def _config(server: NpmSamlIdp) -> IdpConfig:
    return parse_idp_metadata(server.metadata()).idp_config()


def _validate(
    sp: SpConfig, idp: IdpConfig, response: str, request_id: str | None, *, unsolicited: bool
) -> object:
    return validate_response(
        sp,
        idp,
        saml_response_b64=response,
        acs_url=sp.acs_url,
        expected_request_id=request_id,
        allow_unsolicited=unsolicited,
    )


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_a_scripted_login_at_the_idp_is_accepted(
    idp_a: NpmSamlIdp, idp_b: NpmSamlIdp, tenant: str
) -> None:
    sp, server = (SP_A, idp_a) if tenant == "acme" else (SP_B, idp_b)
    config = _config(server)
    url, request_id = authn_request(sp, config, relay_state=f"flow-{tenant}")

    result = validate_response(
        sp,
        config,
        saml_response_b64=server.login(url),
        acs_url=sp.acs_url,
        expected_request_id=request_id,
        allow_unsolicited=False,
    )

    assert config.entity_id == server.issuer
    assert config.sso_url == server.sso_url
    assert result.issuer == server.issuer
    assert result.name_id == USER
    assert result.in_response_to == request_id
    assert result.attributes["email"] == [USER]
    assert result.attributes["firstName"] == ["Saml"]


def test_a_login_at_tenant_a_is_refused_by_tenant_b(idp_a: NpmSamlIdp) -> None:
    config = _config(idp_a)
    url, request_id = authn_request(SP_A, config, relay_state="flow")
    response = idp_a.login(url)

    with pytest.raises(SsoRejected) as caught:
        _validate(SP_B, config, response, request_id, unsolicited=False)

    assert caught.value.code == "saml_destination_mismatch"


def test_tenant_b_does_not_trust_tenant_a_idp(idp_a: NpmSamlIdp, idp_b: NpmSamlIdp) -> None:
    url, request_id = authn_request(SP_B, _config(idp_b), relay_state="flow")
    response = idp_b.login(url)
    impostor = IdpConfig(idp_b.issuer, idp_b.sso_url, None, _config(idp_a).signing_certs)

    with pytest.raises(SsoRejected) as caught:
        _validate(SP_B, impostor, response, request_id, unsolicited=False)

    assert caught.value.code == "saml_signature_invalid"


def test_an_unsolicited_login_needs_the_connection_to_allow_it(idp_a: NpmSamlIdp) -> None:
    config = _config(idp_a)
    response = idp_a.login(None)

    with pytest.raises(SsoRejected) as caught:
        _validate(SP_A, config, response, None, unsolicited=False)
    accepted = validate_response(
        SP_A,
        config,
        saml_response_b64=response,
        acs_url=SP_A.acs_url,
        expected_request_id=None,
        allow_unsolicited=True,
    )

    assert caught.value.code == "saml_unsolicited"
    assert accepted.in_response_to is None
    assert accepted.name_id == USER


def test_a_name_changed_after_signing_is_refused(idp_a: NpmSamlIdp) -> None:
    config = _config(idp_a)
    url, request_id = authn_request(SP_A, config, relay_state="flow")
    xml = base64.b64decode(idp_a.login(url))
    forged = base64.b64encode(xml.replace(USER.encode(), b"admin@example.com")).decode()

    with pytest.raises(SsoRejected) as caught:
        _validate(SP_A, config, forged, request_id, unsolicited=False)

    assert caught.value.code == "saml_signature_invalid"
