"""Hostile SAML responses posted to the ACS over HTTP, on the live server.

Each is refused with the branded 400 page and its code (``data-code``), recorded in the
connection's failure log with that code and without the message or any name it carried, and
sets no session cookie. Cross-boundary cases come first (another tenant's or another
connection's response or request, replays, unsolicited responses); then a representative set of
the protocol attacks of ``tests/sso_support/saml_attacks.py``, each built from a response the
tenant's own IdP signed for a request our login issued.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie

import httpx
import pytest
from sqlalchemy import select

from sso.models import SsoFlow
from sso.saml.controllers import MAX_ACS_BODY
from tenants.schemas import TenantView
from tests.integration.accounts_support import ClientFor
from tests.sso_support.connections import (
    SamlSite,
    add_saml_connection,
    add_saml_site,
    change_connection,
    failures_of,
    saml_sp,
)
from tests.sso_support.saml_attacks import ATTACKS, EVIL_NAME_ID, AttackKit
from tests.sso_support.saml_idp import encode, key_pair
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.runtime import Runtime
from whitelabel.testing.kit import LiveServer


@dataclass(frozen=True)
class World:
    """Tenant A with connections X and Y (Y trusts X's IdP too), tenant B with its own."""

    x: SamlSite
    y: SamlSite
    b: SamlSite


@pytest.fixture
def world(
    whitelabel_runtime: Runtime, live_server: LiveServer, tenant_pair: tuple[TenantView, ...]
) -> Iterator[World]:
    tenant_a, tenant_b = tenant_pair
    y_id = uuid.uuid4()
    y_sp = saml_sp(live_server.url, tenant_a.primary_host or "", y_id, key_pair("sp-a-y"))
    x = add_saml_site(whitelabel_runtime, live_server.url, tenant_a, "a", also_serves=[y_sp])
    b = add_saml_site(whitelabel_runtime, live_server.url, tenant_b, "b")
    add_saml_connection(
        whitelabel_runtime, tenant_a, connection_id=y_id, sp=y_sp, idp=x.idp.idp_config()
    )
    yield World(x=x, y=SamlSite(tenant_a, y_id, y_sp, x.idp), b=b)
    x.idp.close()
    b.idp.close()


def set_cookies(response: httpx.Response) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def request_id(client: httpx.Client, site: SamlSite) -> str:
    """Start a sign-in at ``site``; answers the AuthnRequest ID the IdP received."""
    response = client.get(site.path("login"))
    assert response.status_code == 303, response.text
    return site.idp.receive_authn_request(response.headers["location"]).request_id


def post(client: httpx.Client, site: SamlSite, saml_response: str) -> httpx.Response:
    return client.post(site.path("acs"), data={"SAMLResponse": saml_response})


def refused(
    runtime: Runtime, site: SamlSite, response: httpx.Response, code: str, *, sent: str = ""
) -> None:
    """The response is the failure page with ``code``, the connection's last failure has that
    code and nothing of the message, and no session cookie was set."""
    assert response.status_code == 400, response.text
    marker = 'data-testid="sso-failed" data-code="'
    assert marker in response.text
    assert response.text.split(marker, 1)[1].split('"', 1)[0] == code
    assert SESSION_COOKIE not in set_cookies(response)
    last = failures_of(runtime, site.tenant, site.connection_id)[-1]
    assert last.code == code
    kept = f"{last.message} {last.detail}"
    for leak in ("@example.com", "PRIVATE KEY", "CERTIFICATE", "<saml", sent[:40] or "\x00"):
        assert leak not in kept, leak


def flow_used(runtime: Runtime, tenant: TenantView, handle: str) -> bool:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        flow = session.scalar(select(SsoFlow).where(SsoFlow.handle == handle))
        assert flow is not None
        return flow.used_at is not None


# -- across tenants and connections -----------------------------------------------------------


def test_tenant_a_response_posted_to_tenant_b_is_refused(
    whitelabel_runtime: Runtime, world: World, tenant_client: ClientFor
) -> None:
    client_a, client_b = tenant_client(world.x.tenant), tenant_client(world.b.tenant)
    answer = world.x.idp.issue(world.x.sp, in_response_to=request_id(client_a, world.x))

    at_b = post(client_b, world.b, answer)
    a_path_on_b = post(client_b, world.x, answer)

    refused(whitelabel_runtime, world.b, at_b, "sso_flow_unknown", sent=answer)
    assert a_path_on_b.status_code == 404  # A's connection does not exist on B's host
    assert SESSION_COOKIE not in set_cookies(a_path_on_b)
    # Nothing was spent at A: the same response still signs in there.
    assert post(client_a, world.x, answer).status_code == 303
    # B accepting IdP-initiated sign-ins still refuses A's IdP.
    change_connection(
        whitelabel_runtime, world.b.tenant, world.b.connection_id, allow_idp_initiated=True
    )
    unsolicited = world.x.idp.issue(world.x.sp, in_response_to=None)
    refused(
        whitelabel_runtime,
        world.b,
        post(client_b, world.b, unsolicited),
        "saml_issuer_mismatch",
        sent=unsolicited,
    )


def test_a_response_for_connection_x_is_refused_by_connection_y(
    whitelabel_runtime: Runtime, world: World, tenant_client: ClientFor
) -> None:
    client = tenant_client(world.x.tenant)
    answer = world.x.idp.issue(world.x.sp, in_response_to=request_id(client, world.x))

    refused(whitelabel_runtime, world.y, post(client, world.y, answer), "sso_flow_unknown")
    assert post(client, world.x, answer).status_code == 303
    # Y trusts the same IdP and takes IdP-initiated sign-ins: X's response is still not for Y.
    change_connection(
        whitelabel_runtime, world.y.tenant, world.y.connection_id, allow_idp_initiated=True
    )
    unsolicited = world.x.idp.issue(world.x.sp, in_response_to=None)
    refused(
        whitelabel_runtime,
        world.y,
        post(tenant_client(world.y.tenant), world.y, unsolicited),
        "saml_destination_mismatch",
    )


@pytest.mark.parametrize("owner", ["another tenant", "another connection"])
def test_in_response_to_a_request_of_another_tenant_or_connection_is_refused(
    whitelabel_runtime: Runtime, world: World, tenant_client: ClientFor, owner: str
) -> None:
    issuer = world.b if owner == "another tenant" else world.y
    foreign = request_id(tenant_client(issuer.tenant), issuer)
    answer = world.x.idp.issue(world.x.sp, in_response_to=foreign)

    response = post(tenant_client(world.x.tenant), world.x, answer)

    refused(whitelabel_runtime, world.x, response, "sso_flow_unknown", sent=answer)
    assert not flow_used(whitelabel_runtime, issuer.tenant, foreign)


def test_a_replayed_response_is_refused(
    whitelabel_runtime: Runtime, world: World, tenant_client: ClientFor
) -> None:
    client = tenant_client(world.x.tenant)
    answer = world.x.idp.issue(world.x.sp, in_response_to=request_id(client, world.x))
    assert post(client, world.x, answer).status_code == 303
    refused(whitelabel_runtime, world.x, post(client, world.x, answer), "sso_flow_unknown")

    change_connection(
        whitelabel_runtime, world.x.tenant, world.x.connection_id, allow_idp_initiated=True
    )
    unsolicited = world.x.idp.issue(world.x.sp, in_response_to=None)
    assert post(client, world.x, unsolicited).status_code == 303
    replay = post(tenant_client(world.x.tenant), world.x, unsolicited)
    refused(whitelabel_runtime, world.x, replay, "saml_replayed", sent=unsolicited)


def test_an_unsolicited_response_is_refused_where_not_allowed(
    whitelabel_runtime: Runtime, world: World, tenant_client: ClientFor
) -> None:
    unsolicited = world.x.idp.issue(world.x.sp, in_response_to=None)
    response = post(tenant_client(world.x.tenant), world.x, unsolicited)
    refused(whitelabel_runtime, world.x, response, "saml_unsolicited", sent=unsolicited)


# -- the transport ------------------------------------------------------------------------------


def test_malformed_posts_are_refused(
    whitelabel_runtime: Runtime, world: World, tenant_client: ClientFor
) -> None:
    client = tenant_client(world.x.tenant)
    acs = world.x.path("acs")
    answer = world.x.idp.issue(world.x.sp, in_response_to=None)
    form = {"content-type": "application/x-www-form-urlencoded"}
    cases: list[tuple[Callable[[], httpx.Response], str]] = [
        (lambda: client.post(acs, json={"SAMLResponse": answer}), "saml_malformed"),
        (lambda: client.post(acs, content=b"SAMLResponse=eA%3D%3D&SAMLResponse=eA%3D%3D",
                             headers=form), "saml_malformed"),
        (lambda: client.post(acs, data={"RelayState": "/"}), "saml_malformed"),
        (lambda: post(client, world.x, "%%% not base64 %%%"), "saml_malformed"),
        (lambda: post(client, world.x, encode(b"<not-saml/>")), "saml_wrong_message"),
    ]  # fmt: skip
    for send, code in cases:
        refused(whitelabel_runtime, world.x, send(), code)


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    world: World, tenant_client: ClientFor
) -> None:
    response = post(tenant_client(world.x.tenant), world.x, "A" * (MAX_ACS_BODY + 1))
    assert response.status_code == 413
    assert SESSION_COOKIE not in set_cookies(response)


# -- protocol attacks -------------------------------------------------------------------------

#: Attack name -> the code the ACS answers (the protocol layer's, unless the flow lookup that
#: comes first refuses it: a response answering a request never issued has no flow).
HTTP_CODES = {
    "unsigned": "saml_unsigned",
    "signature stripped": "saml_unsigned",
    "signed by another key": "saml_signature_invalid",
    "response signed by another key": "saml_signature_invalid",
    "modified after signing": "saml_signature_invalid",
    **{f"XSW{n}": "saml_signature_wrapping" for n in range(1, 9)},
    "NameID comment injection": "saml_comment_refused",
    "wrong audience": "saml_audience_mismatch",
    "wrong recipient": "saml_recipient_mismatch",
    "wrong destination": "saml_destination_mismatch",
    "wrong issuer": "saml_issuer_mismatch",
    "expired": "saml_expired",
    "not yet valid": "saml_not_yet_valid",
    "in response to another request": "sso_flow_unknown",
    "DTD with external entity (XXE)": "saml_dtd_refused",
    "billion laughs": "saml_dtd_refused",
    "XSLT transform": "saml_transform_refused",
    "XPath transform": "saml_transform_refused",
    "oversized": "saml_too_large",
    "SHA-1 signature": "saml_deprecated_algorithm",
}


def test_the_table_agrees_with_the_protocol_layer() -> None:
    changed = {name for name, code in HTTP_CODES.items() if ATTACKS[name].code != code}
    assert changed == {"in response to another request"}


@pytest.mark.parametrize("name", sorted(HTTP_CODES))
def test_protocol_attacks_are_refused_over_http(
    whitelabel_runtime: Runtime, world: World, tenant_client: ClientFor, name: str
) -> None:
    client = tenant_client(world.x.tenant)
    kit = AttackKit(
        idp=world.x.idp,
        sp=world.x.sp,
        request_id=request_id(client, world.x),
        other_key=key_pair("attacker"),
    )
    hostile = ATTACKS[name].build(kit)

    response = post(client, world.x, hostile.saml_response)

    refused(whitelabel_runtime, world.x, response, HTTP_CODES[name], sent=hostile.saml_response)
    assert EVIL_NAME_ID not in response.text
    assert client.get("/api/v1/me").status_code == 401
