"""Every page, error page and email of two tenants on two built-in themes, through a real server.

One tenant is on ``campus``, the other on ``corporate``: each page must carry its own tenant's
theme marker, stylesheet and app name and nothing of the other. A published brand (through the
admin API) changes the name, tagline and copy blocks on one tenant only; brand text is escaped,
copy blocks arrive as sanitised HTML. The unknown-host 404 stays neutral even for a browser.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import text

from tenants.schemas import TenantView
from tests.integration.accounts_support import PASSWORD, ClientFor, csrf_headers
from themes.registry import get_theme
from themes.service import base_stylesheet, stylesheet_url
from whitelabel.context import TenantStatus
from whitelabel.runtime import Runtime
from whitelabel.testing import TenantFactory

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
SCRIPT_NAME = '<script>alert("pwned")</script> U'


@dataclass(frozen=True)
class Themed:
    tenant: TenantView
    theme: str


@pytest.fixture
def themed_pair(make_tenant: TenantFactory, whitelabel_runtime: Runtime) -> tuple[Themed, Themed]:
    """Two tenants, one per built-in theme (purged by the factory afterwards)."""
    made = []
    for theme in ("campus", "corporate"):
        slug = f"{make_tenant.prefix}{secrets.token_hex(5)}"
        view, _ = whitelabel_runtime.tenants.create(
            slug, f"Tenant {slug}", theme=theme, actor="test"
        )
        make_tenant.created.append(slug)
        made.append(Themed(view, theme))
    return made[0], made[1]


def _signup_owner(client: httpx.Client, email: str = "owner@example.org") -> None:
    """Sign up the tenant's first user (its owner); the client keeps the session."""
    body = {"email": email, "password": PASSWORD, "display_name": "Olive Owner"}
    response = client.post("/api/v1/auth/signup", json=body, headers=csrf_headers(client))
    assert response.status_code == 201, response.text


def _assert_themed(page: str, own: Themed, other: Themed, app_name: str | None = None) -> None:
    name = app_name if app_name is not None else own.tenant.name
    sheet = stylesheet_url(base_stylesheet(own.theme).hash)
    assert f'<body data-theme="{own.theme}"' in page
    assert f'<link rel="stylesheet" href="{sheet}">' in page
    assert page.count(f'data-testid="app-name">{escape(name)}<') == 1
    assert f'data-theme="{other.theme}"' not in page
    assert other.tenant.name not in page
    assert "<script" not in page


PAGES = (
    "/",
    "/login",
    "/signup",
    "/logout",
    "/forgot-password",
    "/reset-password?token=x",
    "/verify-email?token=x",
    "/invite?token=x",
)


def test_every_page_renders_in_its_tenants_theme(
    themed_pair: tuple[Themed, Themed], tenant_client: ClientFor
) -> None:
    for own, other in (themed_pair, themed_pair[::-1]):
        client = tenant_client(own.tenant)
        for path in PAGES:
            response = client.get(path, headers=BROWSER)
            assert response.status_code in (200, 400), (path, response.text)
            assert response.headers["content-type"].startswith("text/html")
            _assert_themed(response.text, own, other)
        _signup_owner(client)
        admin = client.get("/admin/users", headers=BROWSER)
        assert admin.status_code == 200, admin.text
        _assert_themed(admin.text, own, other)
        assert 'aria-label="Administration"' in admin.text
        # The stylesheet the pages link is served, with the theme's tokens and layout CSS.
        sheet = client.get(stylesheet_url(base_stylesheet(own.theme).hash))
        assert sheet.status_code == 200
        assert sheet.headers["content-type"].startswith("text/css")
        theme = get_theme(own.theme)
        assert f"--wl-primary:{theme.tokens['primary']}" in sheet.text
        assert theme.css in sheet.text


def test_account_pages_allow_the_stylesheet_and_nothing_inline(
    themed_pair: tuple[Themed, Themed], tenant_client: ClientFor
) -> None:
    for own, _ in (themed_pair, themed_pair[::-1]):
        response = tenant_client(own.tenant).get("/login", headers=BROWSER)
        csp = response.headers["content-security-policy"]
        assert "style-src 'self'" in csp and "unsafe-inline" not in csp
        assert "<style" not in response.text and " style=" not in response.text


def test_tenant_404_is_branded_for_browsers_only(
    themed_pair: tuple[Themed, Themed], tenant_client: ClientFor
) -> None:
    for own, other in (themed_pair, themed_pair[::-1]):
        client = tenant_client(own.tenant)
        for path in ("/no/such/page", "/login/nope"):
            page = client.get(path, headers=BROWSER)
            assert page.status_code == 404
            _assert_themed(page.text, own, other)
            assert 'data-status="404"' in page.text and "Page not found" in page.text
            plain = client.get(path, headers={"accept": "*/*"})
            assert plain.status_code == 404
            assert "data-theme" not in plain.text
        api = client.get("/api/v1/no-such-thing", headers=BROWSER)
        assert api.status_code == 404
        assert api.headers["content-type"] == "application/json"
        assert api.json()["code"] == "not_found"


def test_unknown_host_404_shows_no_brand_even_to_a_browser(
    themed_pair: tuple[Themed, Themed], tenant_client: ClientFor
) -> None:
    nowhere = tenant_client(f"nope-{secrets.token_hex(6)}.localhost")
    reference = nowhere.get("/", headers={"accept": "*/*"})
    for path in ("/", "/login", "/no/such/page"):
        page = nowhere.get(path, headers=BROWSER)
        assert page.status_code == 404
        assert page.content == reference.content
        assert "data-theme" not in page.text and "stylesheet" not in page.text
        for themed in themed_pair:
            assert themed.tenant.name not in page.text


def _wait_status(runtime: Runtime, host: str, status: TenantStatus) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = runtime.resolver.resolve(host)
        if found is not None and found.status is status:
            return
        time.sleep(0.005)
    raise TimeoutError(f"{host} is not {status}")


def test_suspended_tenant_503_is_branded(
    themed_pair: tuple[Themed, Themed], tenant_client: ClientFor, whitelabel_runtime: Runtime
) -> None:
    own, other = themed_pair
    host = own.tenant.primary_host or ""
    client = tenant_client(own.tenant)
    whitelabel_runtime.tenants.suspend(own.tenant.slug)
    try:
        _wait_status(whitelabel_runtime, host, TenantStatus.SUSPENDED)
        for path in ("/", "/login", "/no/such/page"):
            page = client.get(path, headers=BROWSER)
            assert page.status_code == 503
            assert page.headers["retry-after"] == "3600"
            assert page.headers["cache-control"] == "no-store"
            assert f'<body data-theme="{own.theme}"' in page.text
            assert "<style>:root{--wl-primary:" in page.text  # its CSS URL answers 503 too
            assert f"{own.tenant.name} is temporarily unavailable." in page.text
            assert own.tenant.schema_name not in page.text
            assert other.tenant.name not in page.text
        api = client.get("/api/v1/me", headers=BROWSER)
        assert api.status_code == 503
        assert api.json()["code"] == "tenant_suspended"
        bystander = tenant_client(other.tenant).get("/", headers=BROWSER)
        assert bystander.status_code == 200
        _assert_themed(bystander.text, other, own)
    finally:
        whitelabel_runtime.tenants.resume(own.tenant.slug)
        _wait_status(whitelabel_runtime, host, TenantStatus.ACTIVE)


def _publish(client: httpx.Client, runtime: Runtime, host: str, brand: Mapping[str, Any]) -> None:
    updated = client.put("/api/v1/admin/theme", json=brand, headers=csrf_headers(client))
    assert updated.status_code == 200, updated.text
    published = client.post("/api/v1/admin/theme/publish", json={}, headers=csrf_headers(client))
    assert published.status_code == 201, published.text
    version = published.json()["version"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = runtime.resolver.resolve(host)
        if found is not None and found.theme_version == version:
            return
        time.sleep(0.005)
    raise TimeoutError("the published version did not reach the routing table")


def test_a_published_brand_shows_escaped_text_and_sanitised_copy_on_one_tenant_only(
    themed_pair: tuple[Themed, Themed], tenant_client: ClientFor, whitelabel_runtime: Runtime
) -> None:
    own, other = themed_pair
    client = tenant_client(own.tenant)
    _signup_owner(client)
    brand = {
        "app_name": SCRIPT_NAME,
        "tagline": "Learn <b>together</b>",
        "support_url": "https://help.example/desk",
        "copy": {
            "hero": "Welcome, **scholars**! <script>alert(1)</script>",
            "footer": "Made on campus",
            "sign_in_help": "Ask the [help desk](https://help.example/desk)",
        },
    }
    _publish(client, whitelabel_runtime, own.tenant.primary_host or "", brand)
    landing = client.get("/", headers=BROWSER).text
    escaped = str(escape(SCRIPT_NAME))
    assert f'data-testid="app-name">{escaped}<' in landing
    assert f"<title>{escaped}</title>" in landing
    assert 'data-testid="tagline">Learn &lt;b&gt;together&lt;/b&gt;<' in landing
    assert "<strong>scholars</strong>" in landing
    assert "<script" not in landing and "alert(1)</script>" not in landing
    assert 'data-testid="copy-footer"><p>Made on campus</p>' in landing
    assert 'href="https://help.example/desk"' in landing
    assert f'<body data-theme="{own.theme}"' in landing
    login = client.get("/login", headers=BROWSER).text
    help_link = r'data-testid="copy-sign_in_help">.*<a href="https://help.example/desk"'
    assert re.search(help_link, login)
    # The other tenant renders its own defaults.
    untouched = tenant_client(other.tenant).get("/", headers=BROWSER).text
    _assert_themed(untouched, other, own)
    assert "scholars" not in untouched and "Made on campus" not in untouched


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str
    from_name: str


def _mails(runtime: Runtime, tenant: TenantView, kind: str) -> list[Mail]:
    with runtime.db.sync_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT subject, text_body, html_body, from_name FROM platform.mail_outbox"
                " WHERE tenant_id = :tenant AND kind = :kind ORDER BY created_at, id"
            ),
            {"tenant": tenant.id, "kind": kind},
        )
        return [Mail(*row) for row in rows]


def test_emails_of_both_themes_have_text_and_html_with_the_brand(
    themed_pair: tuple[Themed, Themed], tenant_client: ClientFor, whitelabel_runtime: Runtime
) -> None:
    for own, other in (themed_pair, themed_pair[::-1]):
        client = tenant_client(own.tenant)
        _signup_owner(client)  # mails a verification link
        invited = client.post(
            "/api/v1/admin/invitations",
            json={"email": "new@example.org", "role": "member"},
            headers=csrf_headers(client),
        )
        assert invited.status_code == 201, invited.text
        reset = client.post(
            "/api/v1/auth/password-reset",
            json={"email": "owner@example.org"},
            headers=csrf_headers(client),
        )
        assert reset.status_code == 202, reset.text
        tokens = get_theme(own.theme).tokens
        for kind in ("email_verify", "invitation", "password_reset"):
            (mail,) = _mails(whitelabel_runtime, own.tenant, kind)
            assert own.tenant.name in mail.subject
            assert own.tenant.name in mail.text and own.tenant.name in mail.html
            assert mail.from_name == own.tenant.name
            assert f'data-theme="{own.theme}"' in mail.html
            assert f"background: {tokens['primary']}" in mail.html
            assert f"color: {tokens['on_primary']}" in mail.html
            assert f"http://{own.tenant.primary_host}" in mail.text
            assert other.tenant.name not in mail.html
            assert "<" not in mail.text
