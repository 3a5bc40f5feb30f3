"""Two tenants' landing pages in one real browser (Debian's Chromium, driven by Playwright).

Chromium resolves ``*.localhost`` to the loopback address itself, so the browser sends each tenant's
own Host header exactly as it would in production; one browser context holds both tenants' cookies.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tenants.schemas import TenantView
from tests.conftest import require_program
from whitelabel.runtime import Runtime
from whitelabel.testing import LiveServer, wait_for_route

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_program("chromium", "the page tests drive Debian's Chromium through Playwright")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def test_each_tenant_page_shows_its_own_name_and_schema(
    browser: Browser,
    tenant_pair: tuple[TenantView, TenantView],
    live_server: LiveServer,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    context = browser.new_context()
    try:
        page = context.new_page()
        for tenant, other in ((first, second), (second, first), (first, second)):
            host = tenant.primary_host
            assert host is not None
            wait_for_route(whitelabel_runtime, host)
            response = page.goto(f"http://{host}:{live_server.port}/")
            assert response is not None
            assert response.status == 200
            assert page.title() == tenant.name
            assert page.get_by_test_id("app-name").inner_text() == tenant.name
            assert page.get_by_test_id("slug").inner_text() == tenant.slug
            assert page.get_by_test_id("schema").inner_text() == tenant.schema_name
            text = page.locator("body").inner_text()
            assert other.name not in text
            assert other.slug not in text
            assert other.schema_name not in text

        # The unknown-host page, in the browser too: nothing of either tenant.
        nowhere = f"nope-{secrets.token_hex(6)}.localhost"
        response = page.goto(f"http://{nowhere}:{live_server.port}/")
        assert response is not None
        assert response.status == 404
        text = page.locator("body").inner_text()
        for tenant in (first, second):
            assert tenant.name not in text
            assert tenant.schema_name not in text
    finally:
        context.close()
