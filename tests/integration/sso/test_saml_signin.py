"""SAML sign-in and Single Logout through the routes, on the live server, against real IdPs.

Two tenants, each with its own connection and its own IdP: pysaml2 in-process (the test carries
the messages between our redirects and the IdP, and posts the IdP's response to our ACS with the
tenant's Host), and the npm saml-idp (one process per tenant, its login scripted). Sign-in
creates the user (JIT), the session works, a second sign-in reuses the identity, nothing reaches
the other tenant; an admin's test shows the report and starts no session; Single Logout works
both ways.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from lxml import etree  # type: ignore[import-untyped]
from sqlalchemy import select

from sso.models import SsoConnection, SsoFlow, SsoIdentity
from sso.saml import parse_idp_metadata
from tenants.schemas import TenantView
from tests.integration.accounts_support import ClientFor, sign_up
from tests.sso_support.connections import (
    SamlSite,
    add_oidc_connection,
    add_saml_connection,
    add_saml_site,
    change_connection,
    failures_of,
    saml_sp,
)
from tests.sso_support.oidc_provider import PeerClient
from tests.sso_support.saml_idp import NAMEID_EMAIL, key_pair
from tests.sso_support.saml_idp_server import saml_idp_server
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.accounts.models import Session, User
from whitelabel.runtime import Runtime
from whitelabel.testing.kit import LiveServer, TenantFactory, wait_for_route

ALICE = "alice@example.com"
JACKSON = "saml.jackson@example.com"  # the npm saml-idp's default profile
_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
_DS = "http://www.w3.org/2000/09/xmldsig#"


@pytest.fixture
def sites(
    whitelabel_runtime: Runtime, live_server: LiveServer, tenant_pair: tuple[TenantView, ...]
) -> Iterator[tuple[SamlSite, SamlSite]]:
    """A connection with its own IdP in each of two tenants."""
    made = tuple(
        add_saml_site(whitelabel_runtime, live_server.url, tenant, label)
        for tenant, label in zip(tenant_pair, ("a", "b"), strict=True)
    )
    yield made[0], made[1]
    for site in made:
        site.idp.close()


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Name -> value of the cookies a response sets (an empty value: deleted)."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def start(client: httpx.Client, site: SamlSite, query: str = "") -> str:
    """GET our login; answers the IdP redirect URL."""
    response = client.get(site.path("login") + query)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def acs(
    client: httpx.Client, site: SamlSite, saml_response: str, relay: str | None = None
) -> httpx.Response:
    data = {"SAMLResponse": saml_response, **({"RelayState": relay} if relay is not None else {})}
    return client.post(site.path("acs"), data=data)


def sign_in(
    client: httpx.Client, site: SamlSite, *, name_id: str = ALICE, query: str = ""
) -> httpx.Response:
    """A whole SP-initiated sign-in through the site's pysaml2 IdP; answers the ACS response."""
    received = site.idp.receive_authn_request(start(client, site, query))
    return acs(
        client, site, site.idp.issue(site.sp, in_response_to=received.request_id, name_id=name_id)
    )


def local(url: str) -> str:
    """The path and query of an absolute URL on our server."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def users(runtime: Runtime, tenant: TenantView) -> list[str]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        return sorted(session.scalars(select(User.email)))


def identities(runtime: Runtime, tenant: TenantView) -> list[SsoIdentity]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        return list(session.scalars(select(SsoIdentity)))


def page_code(response: httpx.Response) -> str | None:
    marker = 'data-testid="sso-failed" data-code="'
    if marker not in response.text:
        return None
    return response.text.split(marker, 1)[1].split('"', 1)[0]


# -- metadata ---------------------------------------------------------------------------------


def test_metadata_is_served_before_the_idp_is_known_with_both_keys_of_a_rollover(
    whitelabel_runtime: Runtime,
    live_server: LiveServer,
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
) -> None:
    tenant = tenant_pair[0]
    cid = uuid.uuid4()
    current, following = key_pair("sp-meta-current"), key_pair("sp-meta-next")
    sp = saml_sp(live_server.url, tenant.primary_host or "", cid, current, next_key=following)
    add_saml_connection(
        whitelabel_runtime, tenant, connection_id=cid, sp=sp, idp=None, next_key=following
    )
    client = tenant_client(tenant)

    response = client.get(f"/sso/saml/{cid}/metadata")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/samlmetadata+xml")
    assert response.headers["cache-control"] == "no-store"
    root = etree.fromstring(response.content)
    assert root.get("entityID") == sp.sp_entity_id
    published = {
        "".join((node.text or "").split()) for node in root.iter(f"{{{_DS}}}X509Certificate")
    }
    bodies = {"".join(pair.cert_pem.strip().splitlines()[1:-1]) for pair in (current, following)}
    assert published == bodies
    acs_node = root.find(f".//{{{_MD}}}AssertionConsumerService")
    assert acs_node is not None and acs_node.get("Location") == sp.acs_url
    assert b"PRIVATE KEY" not in response.content
    # A sign-in cannot start yet: the IdP is not configured.
    refused = client.get(f"/sso/saml/{cid}/login")
    assert (refused.status_code, page_code(refused)) == (400, "saml_idp_not_configured")


def test_metadata_of_another_tenant_or_an_oidc_connection_is_not_found(
    whitelabel_runtime: Runtime,
    sites: tuple[SamlSite, SamlSite],
    tenant_client: ClientFor,
) -> None:
    site_a, site_b = sites
    oidc = uuid.uuid4()
    add_oidc_connection(
        whitelabel_runtime,
        site_a.tenant,
        connection_id=oidc,
        issuer="http://127.0.0.1:1",
        client=PeerClient("c", "s" * 32, "http://x.localhost/cb"),
    )
    client_a, client_b = tenant_client(site_a.tenant), tenant_client(site_b.tenant)

    assert client_a.get(site_a.path("metadata")).status_code == 200
    for client, path in (
        (client_b, site_a.path("metadata")),  # A's connection on B's host
        (client_b, site_a.path("login")),
        (client_a, f"/sso/saml/{oidc}/metadata"),
        (client_a, "/sso/saml/not-a-uuid/metadata"),
        (client_a, f"/sso/saml/{uuid.uuid4()}/metadata"),
    ):
        assert client.get(path).status_code == 404, path
    assert client_b.post(site_a.path("acs"), data={"SAMLResponse": "x"}).status_code == 404


# -- sign-in ----------------------------------------------------------------------------------


def test_two_tenants_sign_in_through_their_own_pysaml2_idp(
    whitelabel_runtime: Runtime, sites: tuple[SamlSite, SamlSite], tenant_client: ClientFor
) -> None:
    for site, other in (sites, sites[::-1]):
        client = tenant_client(site.tenant)
        redirect = start(client, site, "?next=/welcome%3Fx%3D1")
        assert redirect.startswith(site.idp.sso_url + "?")
        received = site.idp.receive_authn_request(redirect)
        assert received.issuer == site.sp.sp_entity_id
        assert received.relay_state and "welcome" not in received.relay_state  # opaque
        response = acs(client, site, site.idp.issue(site.sp, in_response_to=received.request_id))

        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/welcome?x=1"
        assert SESSION_COOKIE in set_cookies(response)
        me = client.get("/api/v1/me").json()
        assert (me["email"], me["role"], me["tenant"]["slug"]) == (
            ALICE,
            "member",
            site.tenant.slug,
        )
        [identity] = identities(whitelabel_runtime, site.tenant)
        assert (identity.subject, identity.name_id_format) == (ALICE, NAMEID_EMAIL)
        assert identity.session_index
        # Nothing of it in the other tenant yet (B signs in on the second round, A stays as is).
        if site is sites[0]:
            assert users(whitelabel_runtime, other.tenant) == []

        again = tenant_client(site.tenant)
        assert sign_in(again, site).status_code == 303
        assert again.get("/api/v1/me").json()["id"] == me["id"]
        [same] = identities(whitelabel_runtime, site.tenant)
        assert (same.id, same.user_id) == (identity.id, identity.user_id)
        assert same.session_index != identity.session_index
        assert users(whitelabel_runtime, site.tenant) == [ALICE]
        assert failures_of(whitelabel_runtime, site.tenant, site.connection_id) == []


@pytest.mark.needs("node")
def test_two_tenants_sign_in_through_their_own_npm_saml_idp(
    whitelabel_runtime: Runtime,
    live_server: LiveServer,
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
) -> None:
    for index, tenant in enumerate(tenant_pair):
        cid = uuid.uuid4()
        sp = saml_sp(live_server.url, tenant.primary_host or "", cid, key_pair(f"sp-npm-{index}"))
        with saml_idp_server(
            key_pair(f"npm-idp-{index}"),
            issuer=f"urn:whitelabel:test:idp-{index}",
            acs_url=sp.acs_url,
            audience=sp.sp_entity_id,
        ) as server:
            idp = parse_idp_metadata(server.metadata()).idp_config()
            add_saml_connection(whitelabel_runtime, tenant, connection_id=cid, sp=sp, idp=idp)
            client = tenant_client(tenant)
            first = client.get(f"/sso/saml/{cid}/login?next=/start")
            assert first.status_code == 303
            response = client.post(
                f"/sso/saml/{cid}/acs",
                data={"SAMLResponse": server.login(first.headers["location"])},
            )
            assert (response.status_code, response.headers.get("location")) == (303, "/start")
            me = client.get("/api/v1/me").json()
            assert (me["email"], me["tenant"]["slug"]) == (JACKSON, tenant.slug)

            again = tenant_client(tenant)
            second = again.get(f"/sso/saml/{cid}/login")
            response = again.post(
                f"/sso/saml/{cid}/acs",
                data={"SAMLResponse": server.login(second.headers["location"])},
            )
            assert response.status_code == 303
            assert again.get("/api/v1/me").json()["id"] == me["id"]
            assert len(identities(whitelabel_runtime, tenant)) == 1
            # An IdP-initiated sign-in is refused: the connection does not allow it.
            refused = client.post(f"/sso/saml/{cid}/acs", data={"SAMLResponse": server.login(None)})
            assert (refused.status_code, page_code(refused)) == (400, "saml_unsolicited")
        if index == 0:
            assert users(whitelabel_runtime, tenant_pair[1]) == []
    assert [users(whitelabel_runtime, t) for t in tenant_pair] == [[JACKSON], [JACKSON]]


def test_a_login_on_another_host_of_the_tenant_moves_to_the_acs_host_first(
    whitelabel_runtime: Runtime,
    live_server: LiveServer,
    make_tenant: TenantFactory,
    tenant_client: ClientFor,
) -> None:
    tenant = make_tenant(domains=(f"saml-{secrets.token_hex(4)}.example.org",))
    stranger = make_tenant()
    site = add_saml_site(whitelabel_runtime, live_server.url, tenant, "hop")
    try:
        [second] = [d.hostname for d in tenant.domains if d.hostname != tenant.primary_host]
        wait_for_route(whitelabel_runtime, second)
        port = live_server.url.rsplit(":", 1)[1]

        hop = tenant_client(second).get(site.path("login") + "?next=/here")

        assert hop.status_code == 303
        assert hop.headers["location"] == (
            f"http://{tenant.primary_host}:{port}{site.path('login')}?next=%2Fhere"
        )
        with whitelabel_runtime.db.tenant_sync_session(tenant.context()) as session:
            assert session.scalars(select(SsoFlow)).all() == []
        # An ACS URL on another tenant's host is a misconfiguration, not a hop.
        config = {**site_config(whitelabel_runtime, site), "acs_url": (
            f"http://{stranger.primary_host}:{port}{site.path('acs')}"
        )}  # fmt: skip
        change_connection(whitelabel_runtime, tenant, site.connection_id, config=config)
        refused = tenant_client(second).get(site.path("login"))
        assert (refused.status_code, page_code(refused)) == (400, "saml_connection_misconfigured")
    finally:
        site.idp.close()


def site_config(runtime: Runtime, site: SamlSite) -> dict[str, object]:
    with runtime.db.tenant_sync_session(site.tenant.context()) as session:
        connection = session.get(SsoConnection, site.connection_id)
        assert connection is not None
        return dict(connection.config)


# -- test mode --------------------------------------------------------------------------------


def test_an_admin_tests_a_disabled_connection_without_starting_a_session(
    whitelabel_runtime: Runtime, sites: tuple[SamlSite, SamlSite], tenant_client: ClientFor
) -> None:
    site = sites[0]
    change_connection(whitelabel_runtime, site.tenant, site.connection_id, enabled=False)
    admin = tenant_client(site.tenant)
    sign_up(admin, "owner@example.com")
    received = site.idp.receive_authn_request(start(admin, site, "?test=1"))
    # The IdP's form posts cross-site: the admin's Lax session cookie does not come along.
    browser = tenant_client(site.tenant)

    report = acs(browser, site, site.idp.issue(site.sp, in_response_to=received.request_id))

    assert report.status_code == 200, report.text
    assert 'data-testid="sso-test-result" data-ok="yes"' in report.text
    assert ALICE in report.text and "urn:oid:2.5.4.42" in report.text  # what arrived
    assert SESSION_COOKIE not in set_cookies(report)
    assert users(whitelabel_runtime, site.tenant) == ["owner@example.com"]
    assert identities(whitelabel_runtime, site.tenant) == []
    # The connection itself stays off for everyone else.
    refused = tenant_client(site.tenant).get(site.path("login"))
    assert (refused.status_code, page_code(refused)) == (400, "sso_connection_disabled")


def test_only_admins_may_test_a_connection(
    sites: tuple[SamlSite, SamlSite], tenant_client: ClientFor
) -> None:
    site = sites[0]
    sign_up(tenant_client(site.tenant), "owner@example.com")
    member = tenant_client(site.tenant)
    sign_up(member, "member@example.com")
    visitor = tenant_client(site.tenant)

    assert member.get(site.path("login") + "?test=1").status_code == 403
    anonymous = visitor.get(site.path("login") + "?test=1")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")


# -- disabled, IdP-initiated ------------------------------------------------------------------


def test_a_disabled_connection_refuses_sign_in_even_with_a_flow_in_progress(
    whitelabel_runtime: Runtime, sites: tuple[SamlSite, SamlSite], tenant_client: ClientFor
) -> None:
    site = sites[0]
    client = tenant_client(site.tenant)
    received = site.idp.receive_authn_request(start(client, site))
    change_connection(whitelabel_runtime, site.tenant, site.connection_id, enabled=False)

    late = acs(client, site, site.idp.issue(site.sp, in_response_to=received.request_id))
    fresh = client.get(site.path("login"))

    for response in (late, fresh):
        assert (response.status_code, page_code(response)) == (400, "sso_connection_disabled")
        assert SESSION_COOKIE not in set_cookies(response)
    assert [f.code for f in failures_of(whitelabel_runtime, site.tenant, site.connection_id)] == [
        "sso_connection_disabled",
        "sso_connection_disabled",
    ]
    assert users(whitelabel_runtime, site.tenant) == []


@pytest.mark.parametrize(
    ("relay", "landing"),
    [("/welcome?from=idp", "/welcome?from=idp"), ("//evil.example", "/"), (None, "/")],
)
def test_idp_initiated_sign_in_only_where_the_connection_allows_it(
    whitelabel_runtime: Runtime,
    sites: tuple[SamlSite, SamlSite],
    tenant_client: ClientFor,
    relay: str | None,
    landing: str,
) -> None:
    allowing, refusing = sites
    change_connection(
        whitelabel_runtime, allowing.tenant, allowing.connection_id, allow_idp_initiated=True
    )
    client_a, client_b = tenant_client(allowing.tenant), tenant_client(refusing.tenant)

    accepted = acs(client_a, allowing, allowing.idp.issue(allowing.sp, in_response_to=None), relay)
    refused = acs(client_b, refusing, refusing.idp.issue(refusing.sp, in_response_to=None), relay)

    assert (accepted.status_code, accepted.headers["location"]) == (303, landing)
    assert client_a.get("/api/v1/me").json()["email"] == ALICE
    assert (refused.status_code, page_code(refused)) == (400, "saml_unsolicited")
    assert SESSION_COOKIE not in set_cookies(refused)
    assert users(whitelabel_runtime, refusing.tenant) == []


# -- Single Logout ----------------------------------------------------------------------------


def live_sessions(runtime: Runtime, tenant: TenantView, email: str) -> int:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        return len(
            session.scalars(
                select(Session.id)
                .join(User, User.id == Session.user_id)
                .where(User.email == email, Session.revoked_at.is_(None))
            ).all()
        )


def test_sp_initiated_single_logout(
    whitelabel_runtime: Runtime, sites: tuple[SamlSite, SamlSite], tenant_client: ClientFor
) -> None:
    site, other = sites
    client = tenant_client(site.tenant)
    assert sign_in(client, site).status_code == 303
    [identity] = identities(whitelabel_runtime, site.tenant)
    assert sign_in(tenant_client(other.tenant), other).status_code == 303

    # A link followed from another site does not sign anyone out.
    crossed = client.get(site.path("logout"), headers={"sec-fetch-site": "cross-site"})
    assert (crossed.status_code, crossed.headers["location"]) == (303, "/logout")
    assert client.get("/api/v1/me").status_code == 200

    response = client.get(site.path("logout"))

    assert response.status_code == 303
    assert response.headers["location"].startswith(site.idp.slo_url + "?")
    assert set_cookies(response)[SESSION_COOKIE] == ""
    assert client.get("/api/v1/me").status_code == 401
    received = site.idp.receive_logout_request(response.headers["location"])  # signature checked
    message = received.message.message
    assert (message.name_id.text, message.name_id.format) == (ALICE, NAMEID_EMAIL)
    assert [index.text for index in message.session_index] == [identity.session_index]
    answer = local(site.idp.logout_response_url(site.sp, received))
    finished = client.get(answer)
    assert (finished.status_code, finished.headers["location"]) == (303, "/")
    # The IdP's answer works once, and only for the logout it answers.
    replayed = client.get(answer)
    assert (replayed.status_code, page_code(replayed)) == (400, "sso_flow_unknown")
    # The other tenant's session is untouched.
    assert live_sessions(whitelabel_runtime, other.tenant, ALICE) == 1


def test_sp_initiated_logout_without_an_idp_slo_address_signs_out_here_only(
    whitelabel_runtime: Runtime,
    live_server: LiveServer,
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
) -> None:
    site = add_saml_site(
        whitelabel_runtime, live_server.url, tenant_pair[0], "noslo", idp_slo=False
    )
    try:
        client = tenant_client(site.tenant)
        assert sign_in(client, site).status_code == 303

        response = client.get(site.path("logout"))

        assert (response.status_code, response.headers["location"]) == (303, "/")
        assert client.get("/api/v1/me").status_code == 401
        with whitelabel_runtime.db.tenant_sync_session(site.tenant.context()) as session:
            assert session.scalars(select(SsoFlow).where(SsoFlow.handle.like("slo:%"))).all() == []
    finally:
        site.idp.close()


def test_idp_initiated_single_logout_ends_every_session_of_that_person(
    whitelabel_runtime: Runtime, sites: tuple[SamlSite, SamlSite], tenant_client: ClientFor
) -> None:
    site, other = sites
    laptop, phone, bob = (tenant_client(site.tenant) for _ in range(3))
    assert sign_in(laptop, site).status_code == 303
    assert sign_in(phone, site).status_code == 303
    assert sign_in(bob, site, name_id="bob@example.com").status_code == 303
    assert sign_in(tenant_client(other.tenant), other).status_code == 303
    [alice] = [i for i in identities(whitelabel_runtime, site.tenant) if i.subject == ALICE]
    url, request_id = site.idp.logout_request_url(
        site.sp, name_id=ALICE, session_index=alice.session_index
    )

    response = laptop.get(local(url))

    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(site.idp.slo_url + "?")
    assert parse_qs(urlsplit(location).query)["RelayState"] == ["idp-logout"]
    answer = site.idp.receive_logout_response(location, site.sp)  # signature checked
    assert answer.response.in_response_to == request_id
    assert set_cookies(response)[SESSION_COOKIE] == ""
    assert [c.get("/api/v1/me").status_code for c in (laptop, phone, bob)] == [401, 401, 200]
    assert live_sessions(whitelabel_runtime, other.tenant, ALICE) == 1
    # Another IdP's request (tenant B's IdP) is refused by A's connection.
    forged, _ = other.idp.logout_request_url(site.sp, name_id="bob@example.com")
    refused = bob.get(local(forged))
    assert (refused.status_code, page_code(refused)) == (400, "saml_signature_invalid")
    assert bob.get("/api/v1/me").status_code == 200
