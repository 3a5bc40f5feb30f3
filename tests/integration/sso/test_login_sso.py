"""Single sign-on on the sign-in page (``/login``): the connections' buttons and email-first
routing (``POST /login/sso``), on a real server, on two tenants that must not see each other's
connections. The connections are rows of each tenant's schema, in the states the tests need.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import httpx
import pytest
from markupsafe import escape
from playwright.sync_api import Browser, ConsoleMessage

from sso.models import SsoConnection
from tenants.schemas import TenantView
from tests.integration.accounts_support import PASSWORD, sign_up
from whitelabel.app import create_app
from whitelabel.runtime import Runtime
from whitelabel.testing import LiveServer, TenantFactory, host_client, wait_for_route

_CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]*)">')
_BUTTON = re.compile(r'<a class="button" href="([^"]*)" data-testid="sso-button">([^<]*)</a>')
HOSTILE = '<img src=x onerror="alert(1)">'
NOT_HERE = "No single sign-on for this domain: use your password."


@pytest.fixture(scope="module")
def runtime(whitelabel_runtime: Runtime) -> Iterator[Runtime]:
    """A runtime of this module's own (stopping an app stops its runtime's routing listener)."""
    own = Runtime.start(replace(whitelabel_runtime.settings))
    yield own
    own.db.sync_engine.dispose()


@pytest.fixture(scope="module")
def server(runtime: Runtime) -> Iterator[LiveServer]:
    live = LiveServer(create_app(runtime=runtime, access_log=False))
    live.start()
    yield live
    live.stop()


@pytest.fixture
def factory(runtime: Runtime) -> Iterator[TenantFactory]:
    made = TenantFactory(runtime, prefix="ssolg")
    yield made
    made.cleanup()


@pytest.fixture
def browser(runtime: Runtime, server: LiveServer) -> Iterator[Any]:
    """``browser(tenant)``: a new client on the tenant's host, with its own cookies."""
    clients: list[httpx.Client] = []

    def make(tenant: TenantView) -> httpx.Client:
        wait_for_route(runtime, tenant.primary_host or "")
        client = host_client(server.url, tenant.primary_host or "", timeout=20.0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _add(
    runtime: Runtime,
    tenant: TenantView,
    name: str,
    *,
    kind: str = "saml",
    enabled: bool = True,
    domains: Sequence[str] = (),
    enforce: bool = False,
) -> str:
    """Store a connection of ``tenant``; answers its id."""
    connection_id = uuid.uuid4()
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        session.add(
            SsoConnection(
                id=connection_id, type=kind, name=name, enabled=enabled,
                email_domains=list(domains), jit=True, default_role="member",
                attribute_mapping={}, allow_idp_initiated=False, enforce_sso=enforce,
                config={}, config_version=1,
            )
        )  # fmt: skip
        session.commit()
    return str(connection_id)


def _token(page: httpx.Response) -> str:
    match = _CSRF.search(page.text)
    assert match is not None, page.text
    return html.unescape(match.group(1))


def _buttons(page: httpx.Response) -> list[tuple[str, str]]:
    return [
        (html.unescape(href), html.unescape(label)) for href, label in _BUTTON.findall(page.text)
    ]


def _route(client: httpx.Client, data: dict[str, Any], page: str = "/login") -> httpx.Response:
    """Open ``page`` and post ``data`` to the email-first form."""
    opened = client.get(page)
    assert opened.status_code == 200, opened.text
    return client.post("/login/sso", data={**data, "csrf_token": _token(opened)})


def _continued(page: httpx.Response) -> str:
    """Where the page goes on to (after email-first routing): its refresh and its link agree."""
    assert page.status_code == 200, page.text
    refresh = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]*)">', page.text)
    link = re.search(r'<a href="([^"]*)" data-testid="sso-continue-link">', page.text)
    assert refresh is not None and link is not None, page.text
    assert refresh.group(1) == link.group(1)
    return html.unescape(link.group(1))


def _notice(page: httpx.Response) -> str | None:
    match = re.search(r'data-testid="sso-notice">([^<]*)<', page.text)
    return html.unescape(match.group(1)) if match else None


def _field_error(page: httpx.Response) -> str:
    match = re.search(r'data-testid="sso-email-error">([^<]*)<', page.text)
    assert match is not None, page.text
    return html.unescape(match.group(1))


# --- the page ----------------------------------------------------------------------------------


def test_without_enabled_connections_the_page_is_the_password_form(
    factory: TenantFactory, browser: Any, runtime: Runtime
) -> None:
    tenant = factory()
    _add(runtime, tenant, "Dormant", enabled=False, domains=["uni.example"])
    page = browser(tenant).get("/login")
    assert page.status_code == 200
    for absent in ('data-testid="sso', "/login/sso", "Single sign-on", "/sso/"):
        assert absent not in page.text
    assert '<form method="post" action="/login" novalidate>' in page.text
    assert page.text.count("<form") == 1


def test_the_page_offers_the_enabled_connections_of_its_tenant_only(
    factory: TenantFactory, browser: Any, runtime: Runtime
) -> None:
    a, b = factory(), factory()
    staff = _add(runtime, a, "Staff", domains=["uni.example"])
    hostile = _add(runtime, a, HOSTILE, kind="oidc")
    _add(runtime, a, "Alumni", enabled=False, domains=["alumni.example"])
    theirs = _add(runtime, b, "Their IdP", domains=["other.example"])

    page = browser(a).get("/login")
    assert sorted(_buttons(page)) == sorted(
        [
            (f"/sso/saml/{staff}/login", "Sign in with Staff"),
            (f"/sso/oidc/{hostile}/login", f"Sign in with {HOSTILE}"),
        ]
    )
    assert HOSTILE not in page.text
    assert str(escape(HOSTILE)) in page.text
    assert "Alumni" not in page.text and "Their IdP" not in page.text and theirs not in page.text
    assert 'action="/login/sso"' in page.text  # Staff owns a domain: email-first is offered
    assert 'aria-describedby="sso-email-hint"' in page.text
    assert '<form method="post" action="/login" novalidate>' in page.text  # passwords still work

    onward = browser(a).get("/login", params={"next": "/admin/users?tab=2"})
    assert (f"/sso/saml/{staff}/login?next=/admin/users%3Ftab%3D2", "Sign in with Staff") in (
        _buttons(onward)
    )
    assert '<input type="hidden" name="next" value="/admin/users?tab=2">' in onward.text
    for hostile_next in ("//evil.example", "https://evil.example/", "/\\evil.example"):
        away = browser(a).get("/login", params={"next": hostile_next})
        assert (f"/sso/saml/{staff}/login", "Sign in with Staff") in _buttons(away)
        assert "evil.example" not in away.text

    theirs_page = browser(b).get("/login")
    assert _buttons(theirs_page) == [(f"/sso/saml/{theirs}/login", "Sign in with Their IdP")]
    assert "Staff" not in theirs_page.text and staff not in theirs_page.text


def test_a_page_without_email_domains_has_buttons_but_no_email_form(
    factory: TenantFactory, browser: Any, runtime: Runtime
) -> None:
    tenant = factory()
    _add(runtime, tenant, "Staff")
    page = browser(tenant).get("/login")
    assert len(_buttons(page)) == 1
    assert "/login/sso" not in page.text


# --- email-first routing -----------------------------------------------------------------------


def test_an_email_goes_to_the_connection_owning_its_domain(
    factory: TenantFactory, browser: Any, runtime: Runtime
) -> None:
    a, b = factory(), factory()
    staff = _add(runtime, a, "Staff", domains=["uni.example", "staff.uni.example"])
    students = _add(runtime, a, "Students", kind="oidc", domains=["students.uni.example"])
    _add(runtime, a, "Alumni", enabled=False, domains=["alumni.example"])
    theirs = _add(runtime, b, "Their IdP", domains=["other.example"])
    client = browser(a)

    sent = _route(client, {"email": " Ada@Uni.Example ", "next": "/admin/users"})
    assert _continued(sent) == f"/sso/saml/{staff}/login?next=/admin/users"
    assert "Taking you to sign in with Staff." in sent.text
    assert _continued(_route(client, {"email": "bo@students.uni.example"})) == (
        f"/sso/oidc/{students}/login"
    )
    for hostile_next in ("//evil.example", "https://evil.example", "/\\evil", "/\t/evil"):
        safe = _route(client, {"email": "ada@uni.example", "next": hostile_next})
        assert _continued(safe) == f"/sso/saml/{staff}/login"
        assert "evil" not in safe.text

    # A disabled connection's domain, another tenant's domain and an unknown one: passwords.
    for email in ("bob@alumni.example", "x@other.example", "carol@nowhere.example"):
        stay = _route(client, {"email": email, "next": "/settings"})
        assert stay.status_code == 200, stay.text
        assert _notice(stay) == NOT_HERE
        assert 'http-equiv="refresh"' not in stay.text
        assert 'aria-describedby="sso-email-hint sso-email-notice"' in stay.text
        assert f'id="email" name="email" type="email" value="{email}"' in stay.text  # prefilled
        assert '<input type="hidden" name="next" value="/settings">' in stay.text
    assert _continued(_route(browser(b), {"email": "x@other.example"})) == (
        f"/sso/saml/{theirs}/login"
    )
    assert _notice(_route(browser(b), {"email": "ada@uni.example"})) == NOT_HERE


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Enter your email address."),
        ({"email": "   "}, "Enter your email address."),
        ({"email": "not-an-email"}, "Enter your email address, such as ada@example.edu."),
        ({"email": "@uni.example"}, "Enter your email address, such as ada@example.edu."),
        ({"email": "ada@"}, "Enter your email address, such as ada@example.edu."),
        ({"email": "a" * 400 + "@uni.example"}, "This is too long (at most 320 characters)."),
        ({"email": ["ada@uni.example", "eve@uni.example"]}, "Send this field once, as text."),
    ],
)
def test_bad_emails_get_a_clear_error(
    factory: TenantFactory,
    browser: Any,
    runtime: Runtime,
    data: dict[str, Any],
    message: str,
) -> None:
    tenant = factory()
    _add(runtime, tenant, "Staff", domains=["uni.example"])
    refused = _route(browser(tenant), data)
    assert refused.status_code == 400
    assert _field_error(refused) == message
    assert 'aria-invalid="true"' in refused.text
    assert 'aria-describedby="sso-email-hint sso-email-error"' in refused.text


def test_the_email_form_needs_its_csrf_token(
    factory: TenantFactory, browser: Any, runtime: Runtime
) -> None:
    tenant = factory()
    _add(runtime, tenant, "Staff", domains=["uni.example"])
    client = browser(tenant)
    client.get("/login")
    forged = client.post("/login/sso", data={"email": "ada@uni.example"})
    assert forged.status_code == 403


def test_a_password_refused_by_enforced_sso_links_to_the_connection(
    factory: TenantFactory, browser: Any, runtime: Runtime
) -> None:
    tenant = factory()
    sign_up(browser(tenant), "owner@example.org")  # the owner (keeps the break-glass path)
    sign_up(browser(tenant), "ada@uni.example")
    staff = _add(runtime, tenant, "Staff", domains=["uni.example"], enforce=True)
    client = browser(tenant)
    page = client.get("/login", params={"next": "/welcome"})
    data = {"email": "ada@uni.example", "password": PASSWORD, "next": "/welcome",
            "csrf_token": _token(page)}  # fmt: skip
    refused = client.post("/login", data=data)
    assert refused.status_code == 403, refused.text
    link = re.search(
        r'<a class="button" href="([^"]*)" data-testid="sso-required-link">', refused.text
    )
    assert link is not None
    assert html.unescape(link.group(1)) == f"/sso/saml/{staff}/login?next=/welcome"
    # Other refusals carry no such link.
    wrong = client.post("/login", data={**data, "email": "nobody@example.org"})
    assert wrong.status_code == 401
    assert "sso-required-link" not in wrong.text


# --- in a real browser -------------------------------------------------------------------------


def test_a_browser_follows_email_first_routing_under_the_pages_csp(
    chromium: Browser, factory: TenantFactory, runtime: Runtime, server: LiveServer
) -> None:
    """The pages' CSP (``form-action 'self'``) also governs a form post's redirects: the way on
    to the connection must be one a browser takes (the button, or the refresh after the post)."""
    tenant = factory()
    staff = _add(runtime, tenant, "Staff", domains=["uni.example"])
    host = tenant.primary_host or ""
    wait_for_route(runtime, host)
    origin = f"http://{host}:{server.port}"
    context = chromium.new_context()
    problems: list[str] = []

    def watch(message: ConsoleMessage) -> None:  # a CSP refusal is logged as a console error
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(message.text)

    try:
        page = context.new_page()
        page.on("console", watch)
        page.goto(f"{origin}/login?next=/welcome")
        page.get_by_label("Work or school email").fill("ada@uni.example")
        page.get_by_role("button", name="Continue with SSO").click()
        page.wait_for_url(f"{origin}/sso/saml/{staff}/login?next=/welcome")
        page.goto(f"{origin}/login")
        page.get_by_role("link", name="Sign in with Staff").click()
        page.wait_for_url(f"{origin}/sso/saml/{staff}/login")
        page.goto(f"{origin}/login")
        page.get_by_label("Work or school email").fill("bob@elsewhere.example")
        page.get_by_role("button", name="Continue with SSO").click()
        assert page.get_by_test_id("sso-notice").inner_text() == NOT_HERE
        assert page.get_by_label("Email address").input_value() == "bob@elsewhere.example"
        assert problems == []
    finally:
        context.close()
