"""The branding editor in a real browser (Debian's Chromium through Playwright), on two tenants.

A tenant admin opens ``/admin/branding``, picks a new primary colour, sees the contrast warning
appear (and go) as they type a bad text-on-primary colour, uploads a logo, saves the draft,
checks the preview, and publishes. The tenant's landing page then has the new colour (computed
style of an element painted with it) and the logo; the other tenant's page is unchanged.

With ``WHITELABEL_SCREENSHOTS=1`` the test also saves the screenshots that the docs show
(``docs/images/theming-*.png``); normal runs never rewrite those tracked files.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, ConsoleMessage, FilePayload, Page, sync_playwright

from tenants.schemas import TenantView
from tests.conftest import require_program
from tests.integration.accounts_support import PASSWORD
from tests.integration.test_browser_landing import CHROMIUM_ARGS
from themes.colors import contrast_ratio
from whitelabel.runtime import Runtime
from whitelabel.testing import LiveServer, TenantFactory, wait_for_route

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SCREENSHOTS = os.environ.get("WHITELABEL_SCREENSHOTS") == "1"
NEW_PRIMARY = "#7b1fa2"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_program("chromium", "the page tests drive Debian's Chromium through Playwright")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _logo() -> bytes:
    """A small crest: a gold disc with a purple chevron, on transparency."""
    image = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((4, 4, 156, 156), fill=(242, 193, 78, 255))
    draw.polygon([(40, 60), (80, 30), (120, 60), (120, 85), (80, 55), (40, 85)], fill=NEW_PRIMARY)
    draw.polygon([(40, 100), (80, 70), (120, 100), (120, 125), (80, 95), (40, 125)], fill="#fff")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _tenant(make_tenant: TenantFactory, runtime: Runtime, name: str, theme: str) -> TenantView:
    slug = f"{name.split()[0].lower()}-{secrets.token_hex(3)}"
    view, _ = runtime.tenants.create(slug, name, theme=theme, actor="test")
    make_tenant.created.append(slug)  # purged with the factory's own tenants
    return view


def _origin(tenant: TenantView, server: LiveServer, runtime: Runtime) -> str:
    host = tenant.primary_host
    assert host is not None
    wait_for_route(runtime, host)
    return f"http://{host}:{server.port}"


def _background(page: Page, selector: str) -> str:
    return str(page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor"))


def _rgb(hex_color: str) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def _shown_ratio(a: str, b: str) -> str:
    """The ratio as the page shows it: rounded down to 2 places, as validation reports it."""
    return f"{int(contrast_ratio(a, b) * 100) / 100:.2f}:1"


def _screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    if SCREENSHOTS:
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / name), full_page=full_page)


def test_admin_rebrands_campus_in_the_editor_and_acme_is_unchanged(
    browser: Browser,
    make_tenant: TenantFactory,
    live_server: LiveServer,
    whitelabel_runtime: Runtime,
) -> None:
    campus = _tenant(make_tenant, whitelabel_runtime, "Northfield University", "campus")
    acme = _tenant(make_tenant, whitelabel_runtime, "Acme Corp", "corporate")
    origin = _origin(campus, live_server, whitelabel_runtime)
    acme_origin = _origin(acme, live_server, whitelabel_runtime)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    problems: list[str] = []

    def watch(message: ConsoleMessage) -> None:  # a CSP refusal is logged as a console error
        url = message.location.get("url", "")
        # Browsers ask for /favicon.ico on their own when a page names no icon (before a logo).
        if message.type == "error" and not url.endswith("/favicon.ico"):
            problems.append(f"{message.text} {url}")

    try:
        page = context.new_page()
        page.on("console", watch)
        page.goto(f"{acme_origin}/")
        acme_before = _background(page, ".intro")
        assert acme_before == _rgb("#0f766e")  # the corporate theme's primary
        campus_before = page.goto(f"{origin}/")
        assert campus_before is not None and campus_before.status == 200
        assert _background(page, "header.topbar") == _rgb("#1b3a6b")  # campus's primary
        assert page.get_by_test_id("logo").count() == 0

        # The owner signs up and opens the editor.
        page.goto(f"{origin}/signup")
        page.get_by_label("Your name").fill("Olga Owner")
        page.get_by_label("Email address").fill("olga@northfield.example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(f"{origin}/")
        page.goto(f"{origin}/admin/branding")
        assert (
            page.get_by_role("heading", level=1).inner_text() == "Branding of Northfield University"
        )

        # The colour picker and its text field stay in step.
        page.locator("#pick-primary").fill(NEW_PRIMARY)
        assert page.locator("#token-primary").input_value() == NEW_PRIMARY
        ratio = page.get_by_test_id("ratio-on_primary-primary")
        assert ratio.inner_text() == _shown_ratio("#ffffff", NEW_PRIMARY)

        # A bad text-on-primary colour: the warning appears as it is typed, with the ratio the
        # server computes, and goes when the colour is fixed.
        warning = page.get_by_test_id("contrast-warning-on_primary-primary")
        assert warning.is_hidden()
        page.locator("#token-on_primary").fill("#9c4dcc")
        warning.wait_for(state="visible")
        assert ratio.inner_text() == _shown_ratio("#9c4dcc", NEW_PRIMARY)
        assert page.locator("#pick-on_primary").input_value() == "#9c4dcc"
        if SCREENSHOTS:
            page.get_by_test_id("colours").screenshot(
                path=str(IMAGES / "theming-contrast-warning.png")
            )
        for color in ("rgb(250, 250, 250)", "#eee", "gold", "hsl(0, 0%, 100%)"):
            page.locator("#token-on_primary").fill(color)
            expected = {"rgb(250, 250, 250)": "#fafafa", "#eee": "#eeeeee", "gold": "#ffd700",
                        "hsl(0, 0%, 100%)": "#ffffff"}[color]  # fmt: skip
            assert ratio.inner_text() == _shown_ratio(expected, NEW_PRIMARY), color
        text_warning = page.get_by_test_id("contrast-warning-text-background")
        page.locator("#token-text").fill("#c8c8c8")
        text_warning.wait_for(state="visible")
        page.locator("#token-text").fill("")  # empty: back to the theme's own colour
        text_warning.wait_for(state="hidden")
        page.locator("#token-on_primary").fill("#ffffff")
        warning.wait_for(state="hidden")

        # Logo, a tagline and the hero text, then Save draft.
        page.get_by_label("Tagline").fill("Where Northfield meets")
        page.get_by_label("Landing page welcome").fill(
            "Find study partners, clubs and mentors **on campus**."
        )
        crest: FilePayload = {"name": "crest.png", "mimeType": "image/png", "buffer": _logo()}
        page.locator("#field-logo").set_input_files(files=[crest])
        page.get_by_role("button", name="Save draft").click()
        page.wait_for_url(f"{origin}/admin/branding")
        assert page.get_by_test_id("flash").inner_text().startswith("Draft saved.")
        assert page.get_by_test_id("current-logo").is_visible()

        # The preview shows the draft; the public page does not yet.
        preview = page.frame_locator('[data-testid="preview-landing"]')
        preview.get_by_test_id("preview-banner").wait_for()
        topbar = preview.locator("header.topbar")
        assert topbar.evaluate("e => getComputedStyle(e).backgroundColor") == _rgb(NEW_PRIMARY)
        assert preview.get_by_test_id("logo").evaluate("img => img.naturalWidth") > 0
        login_preview = page.frame_locator('[data-testid="preview-login"]')
        login_preview.get_by_role("heading", name="Sign in to Northfield University").wait_for()
        _screenshot(page, "theming-editor.png", full_page=True)
        public = context.new_page()
        public.goto(f"{origin}/")
        assert _background(public, "header.topbar") == _rgb("#1b3a6b")
        assert public.get_by_test_id("preview-banner").count() == 0

        # Publish: the landing page has the new colour and the logo at once.
        page.get_by_role("button", name="Publish").click()
        page.wait_for_url(f"{origin}/admin/branding")
        assert page.get_by_test_id("flash").inner_text().startswith("Published version 1")
        assert page.get_by_test_id("version-row").count() == 1
        public.goto(f"{origin}/")
        assert _background(public, "header.topbar") == _rgb(NEW_PRIMARY)
        assert _background(public, ".hero-actions .button") == _rgb(NEW_PRIMARY)
        logo = public.get_by_test_id("logo")
        assert logo.is_visible() and logo.evaluate("img => img.naturalWidth") > 0
        assert public.get_by_test_id("tagline").inner_text() == "Where Northfield meets"
        _screenshot(public, "theming-campus-landing.png")

        # The other tenant: same page as before, in its own theme, with no logo.
        public.goto(f"{acme_origin}/")
        assert _background(public, ".intro") == acme_before
        assert public.get_by_test_id("logo").count() == 0
        assert "Northfield" not in public.locator("body").inner_text()
        _screenshot(public, "theming-acme-landing.png")
        assert problems == []
    finally:
        context.close()
