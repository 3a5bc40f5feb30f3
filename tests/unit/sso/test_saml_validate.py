"""validate_response: real responses from an in-process pysaml2 IdP, valid and hostile.

Two tenants (``acme`` and ``globex``) each have a connection to the same IdP; a response made for
one is refused by the other.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree  # type: ignore[import-untyped]

from sso.errors import SsoRejected
from sso.saml import (
    MESSAGES,
    IdpConfig,
    SpConfig,
    ValidatedAssertion,
    authn_request,
    validate_response,
)
from tests.sso_support.saml_attacks import ATTACKS, EVIL_NAME_ID, AttackKit
from tests.sso_support.saml_idp import ATTRIBUTES, NAMEID_EMAIL, InProcessIdp, key_pair, tenant_sp

SP_A = tenant_sp("acme")
SP_B = tenant_sp("globex")


@pytest.fixture(scope="module")
def idp() -> Iterator[InProcessIdp]:
    server = InProcessIdp(key_pair("idp"), [SP_A, SP_B])
    yield server
    server.close()


@pytest.fixture(scope="module")
def kit(idp: InProcessIdp) -> AttackKit:
    url, request_id = authn_request(SP_A, idp.idp_config(), relay_state="flow-a")
    assert idp.receive_authn_request(url).request_id == request_id
    return AttackKit(idp, SP_A, request_id, key_pair("intruder"))


def _validate(
    sp: SpConfig,
    idp: IdpConfig,
    response: str,
    expected_request_id: str | None,
    *,
    allow_unsolicited: bool = False,
    now: datetime | None = None,
) -> ValidatedAssertion:
    return validate_response(
        sp,
        idp,
        saml_response_b64=response,
        acs_url=sp.acs_url,
        expected_request_id=expected_request_id,
        allow_unsolicited=allow_unsolicited,
        now=now,
    )


def _refusal(call: object, *args: object, **kwargs: object) -> SsoRejected:
    with pytest.raises(SsoRejected) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


@pytest.mark.parametrize(
    ("sign_assertion", "sign_response", "want_assertions_signed"),
    [
        pytest.param(True, False, True, id="assertion signed"),
        pytest.param(True, True, True, id="assertion and response signed"),
        pytest.param(False, True, False, id="response signed, connection accepts it"),
    ],
)
def test_a_valid_response_is_accepted(
    idp: InProcessIdp,
    kit: AttackKit,
    sign_assertion: bool,
    sign_response: bool,
    want_assertions_signed: bool,
) -> None:
    xml = idp.response_xml(
        SP_A,
        in_response_to=kit.request_id,
        sign_assertion=sign_assertion,
        sign_response=sign_response,
    )
    config = idp.idp_config(want_assertions_signed=want_assertions_signed)
    started = datetime.now(UTC)

    result = _validate(SP_A, config, base64.b64encode(xml).decode(), kit.request_id)

    assertion = etree.fromstring(xml).find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
    assert result.name_id == "alice@example.com"
    assert result.name_id_format == NAMEID_EMAIL
    assert result.issuer == idp.entity_id
    assert result.in_response_to == kit.request_id
    assert result.assertion_id == assertion.get("ID")
    assert result.session_index
    assert started < result.not_on_or_after <= started + timedelta(minutes=6)
    assert result.attributes == {name: list(values) for name, values in ATTRIBUTES.items()}


def test_an_assertion_left_unsigned_is_refused_when_the_connection_requires_it(
    idp: InProcessIdp, kit: AttackKit
) -> None:
    response = kit.issue(sign_assertion=False, sign_response=True)

    error = _refusal(_validate, SP_A, idp.idp_config(), response, kit.request_id)

    assert error.code == "saml_assertion_unsigned"


def test_an_idp_initiated_response_is_accepted_only_where_allowed(
    idp: InProcessIdp, kit: AttackKit
) -> None:
    response = kit.issue(in_response_to=None)

    result = _validate(SP_A, idp.idp_config(), response, None, allow_unsolicited=True)
    error = _refusal(_validate, SP_A, idp.idp_config(), response, None)

    assert result.in_response_to is None
    assert result.name_id == "alice@example.com"
    assert error.code == "saml_unsolicited"


def test_a_rolled_over_idp_key_is_accepted_with_both_certificates(
    idp: InProcessIdp, kit: AttackKit
) -> None:
    new_key = key_pair("idp-next")
    response = kit.issue(signer=new_key)
    old_only = idp.idp_config()
    both = IdpConfig(idp.entity_id, idp.sso_url, idp.slo_url, (idp.key.cert_pem, new_key.cert_pem))

    assert _validate(SP_A, both, response, kit.request_id).name_id == "alice@example.com"
    assert _refusal(_validate, SP_A, old_only, response, kit.request_id).code == (
        "saml_signature_invalid"
    )


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_attack_is_refused_with_its_code(
    idp: InProcessIdp, kit: AttackKit, name: str
) -> None:
    attack = ATTACKS[name]
    hostile = attack.build(kit)

    error = _refusal(
        _validate,
        SP_A,
        idp.idp_config(),
        hostile.saml_response,
        kit.request_id if hostile.solicited else None,
    )

    assert error.code == attack.code
    # What an administrator reads: plain words, no XML, no subject, no key material.
    assert error.message
    assert len(error.message) < 300
    assert "<" not in error.message
    assert "alice@example.com" not in error.message
    assert EVIL_NAME_ID not in error.message
    assert "CERTIFICATE" not in error.message


@pytest.mark.parametrize("code", sorted({a.code for a in ATTACKS.values()}))
def test_every_attack_code_is_a_documented_code(code: str) -> None:
    assert code in MESSAGES


# The CPU the expensive-looking attacks cost is printed by benchmarks/sso_acs.py (tests make no
# timing assertions).


# Which tenant's values each field of the response carries, when tenant B's connection
# receives it; B's own values everywhere is the control row.
@pytest.mark.parametrize(
    ("audience", "recipient", "destination", "expected"),
    [
        pytest.param("A", "A", "A", "saml_destination_mismatch", id="response for A"),
        pytest.param("A", "B", "B", "saml_audience_mismatch", id="audience of A"),
        pytest.param("B", "A", "B", "saml_recipient_mismatch", id="recipient of A"),
        pytest.param("B", "B", "A", "saml_destination_mismatch", id="destination of A"),
        pytest.param("B", "B", "B", None, id="all of B (control)"),
    ],
)
def test_a_response_for_one_tenant_is_refused_by_the_other(
    idp: InProcessIdp, audience: str, recipient: str, destination: str, expected: str | None
) -> None:
    _url, request_b = authn_request(SP_B, idp.idp_config(), relay_state="flow-b")
    tenants = {"A": SP_A, "B": SP_B}
    response = idp.issue(
        SP_A,
        in_response_to=request_b,
        audience=tenants[audience].sp_entity_id,
        recipient=tenants[recipient].acs_url,
        destination=tenants[destination].acs_url,
    )

    if expected is None:
        assert _validate(SP_B, idp.idp_config(), response, request_b).in_response_to == request_b
    else:
        assert _refusal(_validate, SP_B, idp.idp_config(), response, request_b).code == expected


def test_a_response_is_refused_at_another_acs_url_of_the_same_connection(
    idp: InProcessIdp, kit: AttackKit
) -> None:
    response = kit.issue()

    error = _refusal(
        validate_response,
        SP_A,
        idp.idp_config(),
        saml_response_b64=response,
        acs_url=SP_A.acs_url + "/",
        expected_request_id=kit.request_id,
        allow_unsolicited=False,
    )

    assert error.code == "saml_destination_mismatch"


@pytest.mark.parametrize(
    ("shift", "expected"),
    [
        pytest.param(timedelta(minutes=30), "saml_expired", id="half an hour later"),
        pytest.param(timedelta(minutes=-30), "saml_not_yet_valid", id="half an hour earlier"),
    ],
)
def test_validity_is_checked_at_the_given_instant(
    idp: InProcessIdp, kit: AttackKit, shift: timedelta, expected: str
) -> None:
    response = kit.issue()
    now = datetime.now(UTC)

    assert _validate(SP_A, idp.idp_config(), response, kit.request_id, now=now)
    error = _refusal(_validate, SP_A, idp.idp_config(), response, kit.request_id, now=now + shift)

    assert error.code == expected


def test_repeated_attribute_names_are_refused(idp: InProcessIdp, kit: AttackKit) -> None:
    root = etree.fromstring(
        kit.idp.response_xml(SP_A, in_response_to=kit.request_id, sign_assertion=False)
    )
    statement = root.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}AttributeStatement")
    statement.append(etree.fromstring(etree.tostring(statement[0])))
    xml = idp.sign(etree.tostring(root), element="assertion")

    error = _refusal(
        _validate, SP_A, idp.idp_config(), base64.b64encode(xml).decode(), kit.request_id
    )

    assert error.code == "saml_duplicate_attribute"


def test_an_error_status_from_the_idp_is_reported_as_such(
    idp: InProcessIdp, kit: AttackKit
) -> None:
    response = idp.error_response(SP_A, in_response_to=kit.request_id)

    error = _refusal(_validate, SP_A, idp.idp_config(), response, kit.request_id)

    assert error.code == "saml_status_not_success"
