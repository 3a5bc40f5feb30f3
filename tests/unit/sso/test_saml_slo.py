"""Single Logout over HTTP-Redirect, both directions, against a real IdP (pysaml2)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from sso.errors import SsoRejected
from sso.saml import (
    IdpConfig,
    IdpLogoutRequest,
    LogoutCompleted,
    logout_request,
    process_logout,
)
from tests.sso_support.saml_attacks import deflate_bomb
from tests.sso_support.saml_idp import NAMEID_EMAIL, InProcessIdp, key_pair, tenant_sp

SP_A = tenant_sp("acme")
SP_B = tenant_sp("globex")
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


@pytest.fixture(scope="module")
def idp() -> Iterator[InProcessIdp]:
    server = InProcessIdp(key_pair("idp"), [SP_A, SP_B])
    yield server
    server.close()


def _query(url: str) -> str:
    return urlsplit(url).query


def _edit(url: str, **changes: str | None) -> str:
    query = {k: v[0] for k, v in parse_qs(_query(url), keep_blank_values=True).items()}
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return urlencode(query)


def _sp_logout(idp: InProcessIdp) -> tuple[str, str]:
    return logout_request(
        SP_A,
        idp.idp_config(),
        name_id="alice@example.com",
        name_id_format=NAMEID_EMAIL,
        session_index="session-1",
        relay_state="back-to-app",
    )


def test_an_sp_initiated_logout_completes(idp: InProcessIdp) -> None:
    url, request_id = _sp_logout(idp)

    received = idp.receive_logout_request(url)
    answer = idp.logout_response_url(SP_A, received)
    outcome = process_logout(
        SP_A, idp.idp_config(), query_string=_query(answer), expected_request_id=request_id
    )

    assert url.startswith(idp.slo_url + "?")
    assert received.request_id == request_id
    assert received.issuer == SP_A.sp_entity_id
    assert received.message.message.name_id.text == "alice@example.com"
    assert [s.text for s in received.message.message.session_index] == ["session-1"]
    assert outcome == LogoutCompleted(in_response_to=request_id, relay_state="back-to-app")


@pytest.mark.parametrize(
    ("expected_request_id", "success", "code"),
    [
        pytest.param("ONELOGIN_another", True, "saml_in_response_to_mismatch", id="another"),
        pytest.param(None, True, "saml_in_response_to_mismatch", id="none pending"),
        pytest.param("this logout", False, "saml_logout_failed", id="IdP says it failed"),
    ],
)
def test_a_logout_response_must_answer_this_logout_and_succeed(
    idp: InProcessIdp, expected_request_id: str | None, success: bool, code: str
) -> None:
    url, request_id = _sp_logout(idp)
    answer = idp.logout_response_url(SP_A, idp.receive_logout_request(url), success=success)

    with pytest.raises(SsoRejected) as caught:
        process_logout(
            SP_A,
            idp.idp_config(),
            query_string=_query(answer),
            expected_request_id=request_id
            if expected_request_id == "this logout"
            else expected_request_id,
        )

    assert caught.value.code == code


def test_an_idp_initiated_logout_is_answered_with_a_signed_response(idp: InProcessIdp) -> None:
    url, request_id = idp.logout_request_url(SP_A, session_index="session-1")

    outcome = process_logout(
        SP_A, idp.idp_config(), query_string=_query(url), expected_request_id=None
    )

    assert isinstance(outcome, IdpLogoutRequest)
    assert outcome.request_id == request_id
    assert outcome.name_id == "alice@example.com"
    assert outcome.name_id_format == NAMEID_EMAIL
    assert outcome.session_indexes == ("session-1",)
    assert outcome.redirect_url.startswith(idp.slo_url + "?")
    answer = idp.receive_logout_response(outcome.redirect_url, SP_A).response
    assert answer.in_response_to == request_id
    assert answer.status.status_code.value == SUCCESS
    assert answer.issuer.text == SP_A.sp_entity_id
    assert parse_qs(_query(outcome.redirect_url))["RelayState"] == ["idp-logout"]


def test_the_idp_refuses_our_logout_response_signed_with_another_key(
    idp: InProcessIdp,
) -> None:
    url, _request_id = idp.logout_request_url(SP_A)
    outcome = process_logout(
        SP_A, idp.idp_config(), query_string=_query(url), expected_request_id=None
    )

    assert isinstance(outcome, IdpLogoutRequest)
    with pytest.raises(AssertionError, match="does not verify"):
        idp.receive_logout_response(outcome.redirect_url, SP_B)


def _intruder() -> InProcessIdp:
    return InProcessIdp(key_pair("intruder"), [SP_A])


def _impostor() -> InProcessIdp:
    return InProcessIdp(key_pair("idp"), [SP_A], entity_id="https://evil.example.test/idp")


def _from(make: Callable[[], InProcessIdp], **options: object) -> Callable[[InProcessIdp], str]:
    def build(_idp: InProcessIdp) -> str:
        other = make()
        try:
            return _query(other.logout_request_url(SP_A, **options)[0])  # type: ignore[arg-type]
        finally:
            other.close()

    return build


def _ours(**options: object) -> Callable[[InProcessIdp], str]:
    return lambda idp: _query(idp.logout_request_url(SP_A, **options)[0])  # type: ignore[arg-type]


def _edited(**changes: str | None) -> Callable[[InProcessIdp], str]:
    return lambda idp: _edit(idp.logout_request_url(SP_A)[0], **changes)


HOSTILE: dict[str, tuple[Callable[[InProcessIdp], str], str]] = {
    "unsigned": (_edited(Signature=None, SigAlg=None), "saml_unsigned"),
    "signature without SigAlg": (_edited(SigAlg=None), "saml_unsigned"),
    "relay state changed": (_edited(RelayState="elsewhere"), "saml_signature_invalid"),
    "signed by another key": (_from(_intruder), "saml_signature_invalid"),
    "SHA-1 signature": (_ours(sha1=True), "saml_deprecated_algorithm"),
    "another IdP's issuer": (_from(_impostor), "saml_issuer_mismatch"),
    "for another tenant's SLS": (_ours(destination=SP_B.sls_url), "saml_destination_mismatch"),
    "expired": (_ours(expires_in=timedelta(minutes=-30)), "saml_expired"),
    "a parameter repeated": (
        lambda idp: _query(idp.logout_request_url(SP_A)[0]) + "&RelayState=again",
        "saml_malformed",
    ),
    "no message": (lambda idp: "RelayState=x", "saml_malformed"),
    "a request posing as a response": (
        lambda idp: _query(idp.logout_request_url(SP_A)[0]).replace(
            "SAMLRequest=", "SAMLResponse="
        ),
        "saml_wrong_message",
    ),
    "deflate bomb": (
        lambda idp: urlencode({"SAMLRequest": deflate_bomb(), "SigAlg": "x", "Signature": "x"}),
        "saml_too_large",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_logout_messages_are_refused(idp: InProcessIdp, name: str) -> None:
    build, code = HOSTILE[name]

    with pytest.raises(SsoRejected) as caught:
        process_logout(SP_A, idp.idp_config(), query_string=build(idp), expected_request_id=None)

    assert caught.value.code == code


def test_a_logout_request_to_tenant_a_is_refused_by_tenant_b(idp: InProcessIdp) -> None:
    url, _request_id = idp.logout_request_url(SP_A)

    with pytest.raises(SsoRejected) as caught:
        process_logout(SP_B, idp.idp_config(), query_string=_query(url), expected_request_id=None)

    assert caught.value.code == "saml_destination_mismatch"


def test_logout_needs_an_idp_slo_address(idp: InProcessIdp) -> None:
    config = IdpConfig(idp.entity_id, idp.sso_url, None, (idp.key.cert_pem,))

    with pytest.raises(SsoRejected) as caught:
        logout_request(
            SP_A,
            config,
            name_id="alice@example.com",
            name_id_format=None,
            session_index=None,
            relay_state="r",
        )

    assert caught.value.code == "saml_slo_unsupported"
