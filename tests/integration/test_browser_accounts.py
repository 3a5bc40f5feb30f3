"""Sign-up, sign-out, sign-in and the admin page in a real browser (Debian's Chromium through
Playwright), on two tenant hosts in one browser context.

Chromium resolves ``*.localhost`` to the loopback address itself, so each tenant's pages get
their own Host header and their own host-only cookies, as in production. The forms are filled
and submitted like a person would (the CSRF token travels in the form's hidden field).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tenants.schemas import TenantView
from tests.conftest import require_program
from tests.integration.accounts_support import PASSWORD
from tests.integration.test_browser_landing import CHROMIUM_ARGS
from whitelabel.runtime import Runtime
from whitelabel.testing import LiveServer, wait_for_route


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_program("chromium", "the page tests drive Debian's Chromium through Playwright")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    yield context
    context.close()


def _origin(tenant: TenantView, server: LiveServer, runtime: Runtime) -> str:
    host = tenant.primary_host
    assert host is not None
    wait_for_route(runtime, host)
    return f"http://{host}:{server.port}"


def _sign_up(page: Page, origin: str, name: str, email: str) -> None:
    page.goto(f"{origin}/signup")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{origin}/")


def _sign_out(page: Page, origin: str) -> None:
    page.goto(f"{origin}/logout")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{origin}/login")


def _sign_in(page: Page, origin: str, email: str, next_path: str = "") -> None:
    page.goto(f"{origin}/login{next_path and '?next=' + next_path}")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{origin}{next_path or '/'}")


def _signed_in_as(page: Page, origin: str) -> str:
    """Who the tenant's API says is signed in (the browser sends that host's cookie)."""
    page.goto(f"{origin}/api/v1/me")
    return page.locator("body").inner_text()


def test_sign_up_out_in_and_admin_page_on_two_tenants(
    browser: Browser,
    context: BrowserContext,
    tenant_pair: tuple[TenantView, TenantView],
    live_server: LiveServer,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    origins = {t.slug: _origin(t, live_server, whitelabel_runtime) for t in tenant_pair}
    page = context.new_page()

    # On both hosts: the first user signs up (and becomes the owner), signs out, signs in again
    # through /login?next=/admin/users, and lands on the admin page.
    for tenant, other in ((first, second), (second, first)):
        origin = origins[tenant.slug]
        page.goto(f"{origin}/login")
        assert page.title() == f"Sign in · {tenant.name}"
        assert page.get_by_test_id("brand").inner_text() == tenant.name
        _sign_up(page, origin, "Olga Owner", f"olga@{tenant.slug}.example.org")
        _sign_out(page, origin)
        assert '"not_authenticated"' in _signed_in_as(page, origin)
        page.goto(f"{origin}/admin/users")
        page.wait_for_url(f"{origin}/login?next=/admin/users")
        page.get_by_label("Email address").fill(f"olga@{tenant.slug}.example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{origin}/admin/users")
        heading = page.get_by_role("heading", level=1).inner_text()
        assert heading == f"Users of {tenant.name}"
        rows = page.get_by_test_id("user-row")
        assert rows.count() == 1
        assert rows.first.get_by_test_id("role").inner_text() == "owner"
        assert other.name not in page.locator("body").inner_text()

    # A second person signs up on the first host as a member and is refused the admin page,
    # while the second host's owner session in the same browser is untouched.
    first_origin, second_origin = origins[first.slug], origins[second.slug]
    _sign_out(page, first_origin)
    _sign_up(page, first_origin, "Mia Member", "mia@example.org")
    refused = page.goto(f"{first_origin}/admin/users")
    assert refused is not None
    assert refused.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "Admins only"
    assert "olga@" not in page.locator("body").inner_text()
    assert '"role":"member"' in _signed_in_as(page, first_origin)

    second_admin = page.goto(f"{second_origin}/admin/users")
    assert second_admin is not None
    assert second_admin.status == 200
    assert page.get_by_test_id("user-row").count() == 1
    assert "mia@example.org" not in page.locator("body").inner_text()
    assert f"olga@{second.slug}.example.org" in _signed_in_as(page, second_origin)

    # Signing out on the second host leaves the first host's member signed in.
    _sign_out(page, second_origin)
    assert '"not_authenticated"' in _signed_in_as(page, second_origin)
    assert "mia@example.org" in _signed_in_as(page, first_origin)

    # The owner signs in again on the first host and promotes the member through the page.
    _sign_out(page, first_origin)
    _sign_in(page, first_origin, f"olga@{first.slug}.example.org", "/admin/users")
    row = page.locator('[data-testid="user-row"][data-email="mia@example.org"]')
    row.get_by_label("New role for mia@example.org").select_option("admin")
    row.get_by_role("button", name="Change role of mia@example.org").click()
    page.wait_for_url(f"{first_origin}/admin/users")
    assert page.get_by_test_id("flash").inner_text() == "mia@example.org is now admin."
    assert row.get_by_test_id("role").inner_text() == "admin"
    page.reload()
    assert page.get_by_test_id("flash").count() == 0  # shown once
