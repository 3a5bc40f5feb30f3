"""Single sign-on in a real browser (Debian's Chromium through Playwright), against real IdPs.

One browser context, two tenants: a member signs in to the first through SAML (the npm
``saml-idp``: its own sign-in page, then its auto-posting form to our ACS) and to the second
through OpenID Connect (the npm ``oidc-provider``: its login and consent pages, then the
redirect to our callback). Each tenant's API then names the person its own IdP vouched for.
(An admin creating a connection and running "Test connection" in the browser is in
``test_sso_pages.py``.)

With ``WHITELABEL_SCREENSHOTS=1`` the test also saves the screenshots the SSO guide shows
(``docs/images/sso-*.png``).
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from sso.saml import parse_idp_metadata
from tenants.schemas import TenantView
from tests.sso_support.connections import add_oidc_connection, add_saml_connection, saml_sp
from tests.sso_support.oidc_provider import PeerClient, oidc_provider
from tests.sso_support.saml_idp import key_pair
from tests.sso_support.saml_idp_server import saml_idp_server
from whitelabel.runtime import Runtime
from whitelabel.testing import LiveServer, TenantFactory, wait_for_route

SAML_EMAIL = "saml.jackson@example.com"  # saml-idp's default profile
SCREENSHOTS = os.environ.get("WHITELABEL_SCREENSHOTS") == "1"
IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"


def _screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(IMAGES / name), full_page=True)


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    context = chromium.new_context()
    yield context
    context.close()


def _origin(tenant: TenantView, server: LiveServer, runtime: Runtime) -> str:
    host = tenant.primary_host
    assert host is not None
    wait_for_route(runtime, host)
    return f"http://{host}:{server.port}"


def _me(page: Page, origin: str) -> dict[str, object]:
    response = page.goto(f"{origin}/api/v1/me")
    assert response is not None
    if response.status != 200:
        return {"status": response.status}
    body: dict[str, object] = json.loads(page.locator("body").inner_text())
    return body


def test_saml_on_one_tenant_and_oidc_on_the_other_in_one_browser(
    context: BrowserContext,
    live_server: LiveServer,
    whitelabel_runtime: Runtime,
    make_tenant: TenantFactory,
    tmp_path: Path,
) -> None:
    campus, acme = make_tenant(), make_tenant()
    campus_origin = _origin(campus, live_server, whitelabel_runtime)
    acme_origin = _origin(acme, live_server, whitelabel_runtime)

    saml_id = uuid.uuid4()
    sp = saml_sp(live_server.url, campus.primary_host or "", saml_id, key_pair("browser-sp"))
    idp_key = key_pair("browser-idp")
    oidc_id = uuid.uuid4()
    client = PeerClient(
        client_id=f"acme-{secrets.token_hex(4)}",
        client_secret=secrets.token_urlsafe(24),
        redirect_uri=f"{acme_origin}/sso/oidc/{oidc_id}/callback",
    )
    with (
        saml_idp_server(
            idp_key, issuer="urn:test:browser-idp", acs_url=sp.acs_url, audience=sp.sp_entity_id
        ) as saml_idp,
        oidc_provider(tmp_path, [client]) as provider,
    ):
        idp = parse_idp_metadata(saml_idp.metadata()).idp_config()
        add_saml_connection(
            whitelabel_runtime, campus, connection_id=saml_id, sp=sp, idp=idp,
            name="Campus SAML", email_domains=["example.com"],
        )  # fmt: skip
        add_oidc_connection(
            whitelabel_runtime, acme, connection_id=oidc_id, issuer=provider.issuer,
            client=client, name="Acme OIDC",
        )  # fmt: skip
        page = context.new_page()

        # SAML on campus: our sign-in page, the IdP's page, its form posted back to our ACS.
        page.goto(f"{campus_origin}/login")
        _screenshot(page, "sso-login.png")
        page.get_by_role("link", name="Sign in with Campus SAML").click()
        page.wait_for_url(f"{saml_idp.base_url}/**")
        page.get_by_role("button", name="Sign In").click()
        page.wait_for_url(f"{campus_origin}/")
        assert _me(page, campus_origin)["email"] == SAML_EMAIL

        # OIDC on acme, in the same browser: the provider's login and consent pages.
        page.goto(f"{acme_origin}/login")
        page.get_by_role("link", name="Sign in with Acme OIDC").click()
        page.wait_for_url(f"{provider.issuer}/**")
        page.locator("input[name=login]").fill("grace")
        page.locator("input[name=password]").fill("any password")
        page.locator("button[type=submit]").click()
        page.locator("button[type=submit]").click()  # consent
        page.wait_for_url(f"{acme_origin}/")
        assert _me(page, acme_origin)["email"] == "grace@example.test"

        # Each host keeps its own person; the campus session is still the SAML one.
        assert _me(page, campus_origin)["email"] == SAML_EMAIL
        assert _me(page, acme_origin)["tenant"] == {"slug": acme.slug, "name": acme.name}
