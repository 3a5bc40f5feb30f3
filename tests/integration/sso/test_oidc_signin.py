"""OpenID Connect sign-in through the real app and a real OpenID Provider (npm oidc-provider).

Two tenants, each with its own client at one provider; every sign-in goes through the routes
``/sso/oidc/{connection}/login`` and ``/callback`` of a live server and the provider's own login
and consent pages (scripted: the "browser" is an httpx client that keeps cookies and sends the
tenant's Host header). Each refusal is checked three ways: the status, the failure page's
``data-code``, and the row kept in the connection's failure log; neither that row, the page nor
the app's log lines may hold the authorization code, the state, the browser cookie or the client
secret.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from sso.finish import BROWSER_COOKIE
from sso.models import SsoConnection, SsoFailure, SsoFlow, SsoIdentity
from tenants.schemas import TenantView
from tests.integration.accounts_support import sign_up
from tests.sso_support.connections import (
    add_oidc_connection,
    change_connection,
    oidc_redirect_uri,
)
from tests.sso_support.oidc_provider import OidcPeer, PeerClient, login, oidc_provider
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.accounts.models import User
from whitelabel.app import create_app
from whitelabel.runtime import Runtime
from whitelabel.testing import LiveServer, TenantFactory, host_client, wait_for_route

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def runtime(whitelabel_runtime: Runtime) -> Iterator[Runtime]:
    """A runtime of this module's own, with loopback identity providers allowed.

    Own runtime: stopping an app stops its runtime's routing listener, and the session's
    runtime serves the ``live_server`` of other modules.
    """
    own = Runtime.start(replace(whitelabel_runtime.settings, sso_allow_loopback=True))
    yield own
    own.db.sync_engine.dispose()


@pytest.fixture(scope="module")
def server(runtime: Runtime) -> Iterator[LiveServer]:
    """The application (its SSO plugin serves the OIDC routes) on 127.0.0.1."""
    live = LiveServer(create_app(runtime=runtime, access_log=False))
    live.start()
    yield live
    live.stop()


@dataclass(frozen=True)
class World:
    """Two tenants, their connections, the provider, and tenant A's owner and member."""

    runtime: Runtime
    server: LiveServer
    peer: OidcPeer
    a: TenantView
    b: TenantView
    a_custom_host: str
    a1: PeerClient  # tenant A, enabled, JIT
    a2: PeerClient  # tenant A, disabled (admins may test it)
    b1: PeerClient  # tenant B, enabled, JIT
    ids: dict[str, uuid.UUID]
    owner: httpx.Client  # tenant A's owner, signed in
    member: httpx.Client  # tenant A's member, signed in

    def browser(self, tenant: TenantView, host: str | None = None) -> httpx.Client:
        """A new browser on the tenant's (primary) host: its own cookies, no redirects."""
        return _browser(self.runtime, self.server, host or tenant.primary_host or "")


def _browser(runtime: Runtime, server: LiveServer, host: str) -> httpx.Client:
    wait_for_route(runtime, host)
    return host_client(server.url, host, timeout=15.0, headers=HTML)


def _client(peer_id: str, host: str, server: LiveServer, connection_id: uuid.UUID) -> PeerClient:
    return PeerClient(
        f"{peer_id}-client",
        f"secret-of-{peer_id}-{secrets.token_hex(12)}",
        oidc_redirect_uri(server.url, host, connection_id),
    )


@pytest.fixture(scope="module")
def world(
    runtime: Runtime, server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Tenants A (with a custom domain) and B, the provider with one client per connection (it
    must know each redirect URI, so everything is made once per module), A's owner and member.
    Tests use their own provider logins (user names), so they do not depend on each other."""
    factory = TenantFactory(runtime, prefix="oidc")
    custom = f"sso-{secrets.token_hex(4)}.example.test"
    a, b = factory(domains=(custom,)), factory()
    ids = {name: uuid.uuid4() for name in ("a1", "a2", "b1")}
    a1 = _client("a1", a.primary_host or "", server, ids["a1"])
    a2 = _client("a2", a.primary_host or "", server, ids["a2"])
    b1 = _client("b1", b.primary_host or "", server, ids["b1"])
    browsers: list[httpx.Client] = []
    try:
        with oidc_provider(tmp_path_factory.mktemp("oidc-signin"), [a1, a2, b1]) as peer:
            for tenant, peer_client, enabled in ((a, a1, True), (a, a2, False), (b, b1, True)):
                add_oidc_connection(
                    runtime,
                    tenant,
                    connection_id=ids[peer_client.client_id.split("-")[0]],
                    issuer=peer.issuer,
                    client=peer_client,
                    name=f"Provider {peer_client.client_id}",
                    enabled=enabled,
                )
            owner = _browser(runtime, server, a.primary_host or "")
            member = _browser(runtime, server, a.primary_host or "")
            browsers += [owner, member]
            sign_up(owner, "owner@example.org")  # the first user: the owner
            sign_up(member, "member@example.org")
            yield World(runtime, server, peer, a, b, custom, a1, a2, b1, ids, owner, member)
    finally:
        for browser in browsers:
            browser.close()
        factory.cleanup()


# --- helpers -----------------------------------------------------------------------------------


def _start(
    world: World,
    browser: httpx.Client,
    connection: str,
    **query: str,
) -> str:
    """GET the login route; answers the provider's authorization URL (checked 303)."""
    response = browser.get(f"/sso/oidc/{world.ids[connection]}/login", params=query)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(world.peer.issuer + "/"), location
    assert BROWSER_COOKIE in browser.cookies
    return location


def _authorize(
    world: World, browser: httpx.Client, connection: str, user: str, **query: str
) -> dict[str, str]:
    """Start a sign-in and log ``user`` in at the provider: the callback's query parameters."""
    client: PeerClient = getattr(world, connection)
    return login(
        _start(world, browser, connection, **query), user, redirect_uri=client.redirect_uri
    )


def _callback(
    world: World, browser: httpx.Client, connection: str, params: dict[str, str]
) -> httpx.Response:
    return browser.get(f"/sso/oidc/{world.ids[connection]}/callback", params=params)


def _sign_in(
    world: World, browser: httpx.Client, connection: str, user: str, **query: str
) -> httpx.Response:
    return _callback(
        world, browser, connection, _authorize(world, browser, connection, user, **query)
    )


def _tenant_of(world: World, connection: str) -> TenantView:
    return world.b if connection.startswith("b") else world.a


def _count(world: World, tenant: TenantView, model: Any, *where: Any) -> int:
    with world.runtime.db.tenant_sync_session(tenant.context()) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _failures(world: World, connection: str) -> list[SsoFailure]:
    tenant = _tenant_of(world, connection)
    with world.runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.scalars(
            select(SsoFailure)
            .where(SsoFailure.connection_id == world.ids[connection])
            .order_by(SsoFailure.at)
        )
        return list(rows)


class _Codes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if "data-testid" in values:
            self.found[values["data-testid"] or ""] = values.get("data-code", values.get("data-ok"))


def _page(response: httpx.Response) -> dict[str, str | None]:
    """``data-testid`` -> its ``data-code`` (or ``data-ok``) on an HTML page."""
    parser = _Codes()
    parser.feed(response.text)
    return parser.found


def _refused(
    world: World,
    response: httpx.Response,
    connection: str,
    code: str,
    before: int,
    secrets_seen: tuple[str, ...] = (),
) -> SsoFailure:
    """Assert the branded failure page with ``code`` and one new failure row holding none of
    ``secrets_seen``; answers the row."""
    assert response.status_code == 400, response.text
    assert _page(response).get("sso-failed") == code
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    rows = _failures(world, connection)
    assert len(rows) == before + 1
    row = rows[-1]
    assert (row.code, row.test) == (code, False)
    stored = f"{row.message} {json.dumps(row.detail)}"
    for value in secrets_seen:
        assert value not in stored
        assert value not in response.text
    return row


Refused = Callable[..., SsoFailure]


@pytest.fixture
def refused(world: World, caplog: pytest.LogCaptureFixture) -> Refused:
    """:func:`_refused`, also checking that the refusal was logged by its code and that no log
    line of the app holds any of the secrets."""

    def check(
        response: httpx.Response,
        connection: str,
        code: str,
        before: int,
        secrets_seen: tuple[str, ...] = (),
    ) -> SsoFailure:
        row = _refused(world, response, connection, code, before, secrets_seen)
        logged = [r for r in caplog.records if r.name.startswith("whitelabel")]
        assert any(code in r.getMessage() for r in logged if r.name == "whitelabel.sso")
        for record in logged:
            text = f"{record.getMessage()} {record.__dict__}"
            assert not [value for value in secrets_seen if value in text]
        return row

    return check


def _secrets(
    world: World, browser: httpx.Client, params: dict[str, str], connection: str
) -> tuple[str, ...]:
    client: PeerClient = getattr(world, connection)
    values = (params.get("code"), params.get("state"), browser.cookies.get(BROWSER_COOKIE))
    return (client.client_secret, *(value for value in values if value))


def _me(browser: httpx.Client) -> httpx.Response:
    return browser.get("/api/v1/me", headers={"accept": "application/json"})


# --- sign-in -----------------------------------------------------------------------------------


def test_sign_in_creates_the_user_and_a_session_in_each_tenant_separately(world: World) -> None:
    users_b = _count(world, world.b, User)
    with world.browser(world.a) as one, world.browser(world.b) as two:
        response = _sign_in(world, one, "a1", "alice", next="/welcome?tab=1")
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/welcome?tab=1"
        assert response.headers["cache-control"] == "no-store"
        deleted = [
            h for h in response.headers.get_list("set-cookie") if h.startswith(BROWSER_COOKIE)
        ]
        assert deleted and "max-age=0" in deleted[0].lower()
        me = _me(one).json()
        assert (me["email"], me["display_name"], me["role"]) == (
            "alice@example.test",
            "alice Tester",
            "member",
        )
        assert me["tenant"]["slug"] == world.a.slug
        # Nothing reached tenant B: no user, and A's session is nobody there.
        assert _count(world, world.b, User) == users_b
        assert _count(world, world.b, User, User.email == "alice@example.test") == 0
        stolen = world.browser(world.b)
        stolen.cookies.set(SESSION_COOKIE, one.cookies[SESSION_COOKIE])
        assert _me(stolen).status_code == 401
        stolen.close()

        # The same person at the same provider signs in to B through B's own client: B's user.
        assert _sign_in(world, two, "b1", "alice").status_code == 303
        theirs = _me(two).json()
        assert theirs["tenant"]["slug"] == world.b.slug
        assert theirs["id"] != me["id"]
        assert _count(world, world.a, SsoIdentity, SsoIdentity.subject == "alice") == 1
        assert _count(world, world.b, SsoIdentity, SsoIdentity.subject == "alice") == 1


def test_a_second_sign_in_reuses_the_identity(world: World) -> None:
    with world.browser(world.a) as first, world.browser(world.a) as second:
        assert _sign_in(world, first, "a1", "bob").status_code == 303
        assert _sign_in(world, second, "a1", "bob").status_code == 303
        one, two = _me(first).json(), _me(second).json()
        assert one["id"] == two["id"]
        assert first.cookies[SESSION_COOKIE] != second.cookies[SESSION_COOKIE]
    assert _count(world, world.a, SsoIdentity, SsoIdentity.subject == "bob") == 1
    assert _count(world, world.a, User, User.email == "bob@example.test") == 1


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/", "/\\evil.example"])
def test_next_never_leaves_the_tenant(world: World, target: str) -> None:
    with world.browser(world.a) as browser:
        response = _sign_in(world, browser, "a1", "carl", next=target)
        assert response.status_code == 303
        assert response.headers["location"] == "/"


def test_a_login_on_another_host_of_the_tenant_hops_to_the_redirect_uris_host(
    world: World,
) -> None:
    with world.browser(world.a, world.a_custom_host) as browser:
        response = browser.get(f"/sso/oidc/{world.ids['a1']}/login", params={"next": "/x"})
    assert response.status_code == 303
    port = world.server.url.rsplit(":", 1)[1]
    assert response.headers["location"] == (
        f"http://{world.a.primary_host}:{port}/sso/oidc/{world.ids['a1']}/login?next=%2Fx"
    )
    assert BROWSER_COOKIE not in response.headers.get("set-cookie", "")


# --- refusals ----------------------------------------------------------------------------------


def test_a_callback_without_state_is_refused(world: World, refused: Refused) -> None:
    before = len(_failures(world, "a1"))
    with world.browser(world.a) as browser:
        params = _authorize(world, browser, "a1", "dora")
        response = _callback(
            world, browser, "a1", {k: v for k, v in params.items() if k != "state"}
        )
        refused(
            response,
            "a1",
            "oidc_state_mismatch",
            before,
            _secrets(world, browser, params, "a1"),
        )


def test_a_callback_with_a_forged_state_is_refused(world: World, refused: Refused) -> None:
    before = len(_failures(world, "a1"))
    with world.browser(world.a) as browser:
        params = _authorize(world, browser, "a1", "dora")
        response = _callback(world, browser, "a1", params | {"state": secrets.token_urlsafe(32)})
        refused(
            response,
            "a1",
            "sso_flow_unknown",
            before,
            _secrets(world, browser, params, "a1"),
        )


def test_a_callback_in_another_browser_is_refused_and_leaves_the_flow_to_its_own(
    world: World, refused: Refused
) -> None:
    before = len(_failures(world, "a1"))
    with world.browser(world.a) as victim, world.browser(world.a) as attacker:
        params = _authorize(world, victim, "a1", "erin")
        _start(world, attacker, "a1")  # the attacker's browser has a flow cookie of its own
        response = _callback(world, attacker, "a1", params)
        refused(
            response,
            "a1",
            "sso_flow_other_browser",
            before,
            _secrets(world, victim, params, "a1"),
        )
        assert _me(attacker).status_code == 401
        # Someone else's attempt does not burn the flow: its own browser still signs in.
        assert _callback(world, victim, "a1", params).status_code == 303
        assert _me(victim).json()["email"] == "erin@example.test"


def test_a_flow_of_another_tenant_or_connection_is_unknown_here(
    world: World, refused: Refused
) -> None:
    before = len(_failures(world, "a1"))
    with world.browser(world.a) as browser, world.browser(world.b) as other:
        params = _authorize(world, other, "b1", "fred")  # tenant B's flow
        # B's browser, with B's flow cookie, sends B's response to tenant A's callback.
        response = other.get(
            f"/sso/oidc/{world.ids['a1']}/callback",
            params=params,
            headers={"host": browser.headers["host"]},
        )
        refused(response, "a1", "sso_flow_unknown", before, _secrets(world, other, params, "b1"))
        # Tenant A's other connection (an owner's test flow): not a flow of a1 either.
        test_params = _authorize(world, world.owner, "a2", "fred", test="1")
        response = _callback(world, world.owner, "a1", test_params)
        refused(response, "a1", "sso_flow_unknown", before + 1)
    assert _count(world, world.a, User, User.email == "fred@example.test") == 0


def test_a_replayed_callback_is_refused(world: World, refused: Refused) -> None:
    with world.browser(world.a) as browser:
        params = _authorize(world, browser, "a1", "gina")
        assert _callback(world, browser, "a1", params).status_code == 303
        session = browser.cookies[SESSION_COOKIE]
        before = len(_failures(world, "a1"))
        response = _callback(world, browser, "a1", params)
        refused(response, "a1", "sso_flow_unknown", before, (params["code"], params["state"]))
        assert browser.cookies[SESSION_COOKIE] == session


def test_a_callback_from_another_issuer_is_refused_and_uses_up_the_flow(
    world: World, refused: Refused
) -> None:
    before = len(_failures(world, "a1"))
    with world.browser(world.a) as browser:
        params = _authorize(world, browser, "a1", "hugo")
        seen = _secrets(world, browser, params, "a1")
        response = _callback(world, browser, "a1", params | {"iss": "http://127.0.0.1:1"})
        row = refused(response, "a1", "oidc_callback_iss_mismatch", before, seen)
        assert row.detail == {"expected": world.peer.issuer, "present": True}
        # The genuine response cannot be used after that: the flow is gone.
        again = _callback(world, browser, "a1", params)
        refused(again, "a1", "sso_flow_unknown", before + 1, seen)
    assert _count(world, world.a, User, User.email == "hugo@example.test") == 0


def test_a_provider_error_is_shown_by_its_code(world: World, refused: Refused) -> None:
    before = len(_failures(world, "a1"))
    with world.browser(world.a) as browser:
        params = _authorize(world, browser, "a1", "ivan")
        refusal = {"state": params["state"], "iss": params["iss"], "error": "access_denied"}
        response = _callback(world, browser, "a1", refusal)
        row = refused(response, "a1", "oidc_provider_error", before)
        assert row.detail == {"error": "access_denied"}


def test_a_disabled_connection_refuses_sign_in(world: World, refused: Refused) -> None:
    before = len(_failures(world, "a2"))
    with world.browser(world.a) as browser:
        response = browser.get(f"/sso/oidc/{world.ids['a2']}/login")
        refused(response, "a2", "sso_connection_disabled", before)
        assert BROWSER_COOKIE not in browser.cookies
    assert (
        _count(
            world,
            world.a,
            SsoFlow,
            SsoFlow.connection_id == world.ids["a2"],
            SsoFlow.test.is_(False),
        )
        == 0
    )


def test_a_connection_disabled_during_the_sign_in_refuses_the_callback(
    world: World, refused: Refused
) -> None:
    before = len(_failures(world, "a1"))
    with world.browser(world.a) as browser:
        params = _authorize(world, browser, "a1", "jane")
        change_connection(world.runtime, world.a, world.ids["a1"], enabled=False)
        try:
            response = _callback(world, browser, "a1", params)
        finally:
            change_connection(world.runtime, world.a, world.ids["a1"], enabled=True)
        refused(
            response,
            "a1",
            "sso_connection_disabled",
            before,
            _secrets(world, browser, params, "a1"),
        )
    assert _count(world, world.a, User, User.email == "jane@example.test") == 0


def test_an_unverified_email_never_signs_in_as_the_user_who_has_it(
    world: World, refused: Refused
) -> None:
    with world.browser(world.a) as victim:
        sign_up(victim, "kim+unverified@example.test")
        victim_id = _me(victim).json()["id"]
    before = len(_failures(world, "a1"))
    with world.browser(world.a) as attacker:
        params = _authorize(world, attacker, "a1", "kim+unverified")
        response = _callback(world, attacker, "a1", params)
        refused(
            response,
            "a1",
            "sso_email_unverified",
            before,
            _secrets(world, attacker, params, "a1"),
        )
        assert SESSION_COOKIE not in attacker.cookies
        assert _me(attacker).status_code == 401
    assert _count(world, world.a, SsoIdentity, SsoIdentity.subject == "kim+unverified") == 0
    assert _count(world, world.a, User, User.id == uuid.UUID(victim_id)) == 1


def test_an_admin_tests_a_disabled_connection_without_starting_a_session(world: World) -> None:
    owner = world.owner
    session = owner.cookies[SESSION_COOKIE]
    users = _count(world, world.a, User)
    failures = len(_failures(world, "a2"))
    response = _sign_in(world, owner, "a2", "lena", test="1")
    assert response.status_code == 200, response.text
    page = _page(response)
    assert page.get("sso-test-result") == "yes"
    assert "lena@example.test" in response.text
    # The claims as attributes: the person's, not the protocol's (no nonce, no hashes).
    assert "<code>given_name</code>" in response.text
    assert "<code>email_verified</code>" in response.text
    assert "<code>nonce</code>" not in response.text
    assert "<code>at_hash</code>" not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert owner.cookies[SESSION_COOKIE] == session
    assert _me(owner).json()["email"] == "owner@example.org"
    # Nothing was kept: no user, no identity, no failure.
    assert _count(world, world.a, User) == users
    assert _count(world, world.a, SsoIdentity, SsoIdentity.subject == "lena") == 0
    assert len(_failures(world, "a2")) == failures


def test_a_failed_test_shows_the_report_with_the_error(world: World) -> None:
    failures = len(_failures(world, "a2"))
    params = _authorize(world, world.owner, "a2", "mona", test="1")
    response = _callback(world, world.owner, "a2", params | {"iss": "http://127.0.0.1:1"})
    assert response.status_code == 400
    assert _page(response).get("sso-test-result") == "no"
    assert "oidc_callback_iss_mismatch" in response.text
    rows = _failures(world, "a2")
    assert len(rows) == failures + 1
    assert (rows[-1].code, rows[-1].test) == ("oidc_callback_iss_mismatch", True)


def test_only_admins_may_test_a_connection(world: World) -> None:
    flows = _count(world, world.a, SsoFlow, SsoFlow.connection_id == world.ids["a2"])
    failures = len(_failures(world, "a2"))
    url = f"/sso/oidc/{world.ids['a2']}/login"
    refused = world.member.get(url, params={"test": "1"})
    assert refused.status_code == 403
    assert "Admins only" in refused.text
    with world.browser(world.a) as anonymous:
        response = anonymous.get(url, params={"test": "1", "next": "/x"})
        assert response.status_code == 303
        assert urlsplit(response.headers["location"]).path == "/login"
        back = dict(parse_qsl(urlsplit(response.headers["location"]).query))["next"]
        assert back.startswith(url + "?")
    assert _count(world, world.a, SsoFlow, SsoFlow.connection_id == world.ids["a2"]) == flows
    assert len(_failures(world, "a2")) == failures


@pytest.mark.parametrize("which", ["unknown", "malformed", "other tenant's", "saml"])
def test_an_unknown_connection_is_a_branded_404(world: World, which: str) -> None:
    target = {
        "unknown": str(uuid.uuid4()),
        "malformed": "not-a-uuid",
        "other tenant's": str(world.ids["b1"]),
        "saml": str(_saml_connection(world)),
    }[which]
    with world.browser(world.a) as browser:
        for route in ("login", "callback"):
            response = browser.get(f"/sso/oidc/{target}/{route}", params={"state": "x"})
            assert response.status_code == 404
            assert _page(response).get("error-page") == "sso_connection_not_found"
            assert BROWSER_COOKIE not in browser.cookies


def _saml_connection(world: World) -> uuid.UUID:
    with world.runtime.db.tenant_sync_session(world.a.context()) as session:
        found = session.scalar(select(SsoConnection.id).where(SsoConnection.type == "saml"))
        if found is not None:
            return found
        connection = SsoConnection(
            id=uuid.uuid4(), type="saml", name="A SAML IdP", enabled=True, config={}
        )
        session.add(connection)
        session.commit()
        return connection.id


def test_flow_rows_keep_no_usable_secret(world: World) -> None:
    with world.browser(world.a) as browser:
        location = _start(world, browser, "a1")
    query = dict(parse_qsl(urlsplit(location).query))
    with world.runtime.db.tenant_sync_session(world.a.context()) as session:
        flow = session.scalars(select(SsoFlow).where(SsoFlow.nonce == query["nonce"])).one()
    assert flow.handle != query["state"] and len(flow.handle) == 64
    assert flow.code_verifier is not None and flow.code_verifier.startswith("wl1.")
    assert flow.browser and flow.browser not in location
