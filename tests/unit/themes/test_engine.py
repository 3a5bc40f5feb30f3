"""The theme engine without a server: per-theme environments, theme choice, escaping, copy
blocks, error pages and themed emails, rendered from snapshots built by hand."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest
import webcolors
from jinja2 import UndefinedError
from litestar.exceptions import ImproperlyConfiguredException, TemplateNotFoundException

from themes.brand import STATE_THEME, Brand, ThemeSnapshot
from themes.engine import ThemedTemplateEngine, shared_engine
from themes.error_pages import render_error_page, render_suspended_page
from themes.mail import one_line, render_email
from themes.registry import get_theme, theme_names
from themes.service import default_snapshot
from whitelabel.context import TenantContext, TenantStatus, schema_name_for

THEMES = ("campus", "corporate")
HOSTILE = '<script>alert("x")</script> & co'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co"


def tenant(theme: str = "campus", name: str = "Northfield University") -> TenantContext:
    tid = uuid.uuid4()
    return TenantContext(
        id=tid,
        slug="north",
        name=name,
        schema=schema_name_for(tid),
        status=TenantStatus.ACTIVE,
        primary_host="north.localhost",
        theme=theme,
    )


def snapshot(theme: str = "campus", **brand: Any) -> ThemeSnapshot:
    base = get_theme(theme)
    values: dict[str, Any] = {"app_name": "Northfield", "font": base.font, "radius": base.radius}
    values.update(brand)
    chosen = Brand(**values)
    return ThemeSnapshot(
        base=base.name,
        version=3,
        brand=chosen,
        tokens=MappingProxyType({**base.tokens, **chosen.tokens}),
        stylesheet_url=f"/theme/{theme}0123456789.css",
        logo_url=brand.get("logo") and f"/theme/assets/{brand['logo']}.png",
    )


def request_with(theme: ThemeSnapshot | None, owner: TenantContext | None) -> Any:
    """What a template sees as ``request``: only its scope is read."""
    state: dict[str, Any] = {}
    if theme is not None:
        state[STATE_THEME] = theme
    if owner is not None:
        state["tenant"] = owner
    return SimpleNamespace(scope={"state": state, "path": "/", "headers": []})


def facts() -> Any:
    return SimpleNamespace(schema="tenant_x", visits=1, audit_events=0)


def render(name: str, theme: ThemeSnapshot, **context: Any) -> str:
    owner = context.pop("tenant", tenant(theme.base))
    request = request_with(theme, owner)
    return shared_engine().get_template(name).render(request=request, **context)


# -- environments ------------------------------------------------------------------------------


def test_one_cached_environment_per_theme_and_aliases_share_it() -> None:
    engine = ThemedTemplateEngine()
    campus, corporate = engine.environment("campus"), engine.environment("corporate")
    assert campus is not corporate
    assert engine.environment("campus") is campus
    assert engine.environment("default") is campus
    assert engine.environment("no-such-theme") is campus  # an old snapshot still renders
    assert campus.autoescape is not False
    assert campus.auto_reload is False
    for name, env in (("campus", campus), ("corporate", corporate)):
        own = Path(env.get_template("base.html").filename or "")
        shared = Path(env.get_template("accounts/login.html").filename or "")
        assert own.is_relative_to(get_theme(name).templates_dir)
        assert "themes" not in shared.parts  # inherited from the shared templates


def test_built_in_themes_are_the_two_shipped() -> None:
    assert set(THEMES) <= set(theme_names())
    for name in THEMES:
        theme = get_theme(name)
        assert (theme.templates_dir / "base.html").is_file()
        assert (theme.templates_dir / "landing.html").is_file()
        assert theme.css.strip()


def test_unknown_template_is_litestars_not_found() -> None:
    with pytest.raises(TemplateNotFoundException):
        shared_engine().get_template("accounts/nope.html")
    assert shared_engine().get_template("landing.html") is shared_engine().get_template(
        "landing.html"
    )


def test_engine_refuses_an_engine_instance() -> None:
    with pytest.raises(ImproperlyConfiguredException):
        ThemedTemplateEngine(engine_instance=object())


def test_undefined_names_raise() -> None:
    with pytest.raises(UndefinedError):
        shared_engine().render_string("{{ nothing_here }}", {"theme": snapshot()})


def test_rendering_needs_a_tenant_or_a_theme() -> None:
    with pytest.raises(ImproperlyConfiguredException):
        shared_engine().get_template("landing.html").render(request=request_with(None, None))


def test_registered_callables_reach_every_theme() -> None:
    engine = ThemedTemplateEngine()
    engine.environment("campus")

    def shout(context: Any, word: str) -> str:
        return f"{word.upper()} in {context['theme'].base}"

    engine.register_template_callable("shout", shout)
    for name in THEMES:
        rendered = engine.render_string("{{ shout('hi') }}", {"theme": snapshot(name)})
        assert rendered == f"HI in {name}"


# -- the request's theme picks the templates -------------------------------------------------


@pytest.mark.parametrize("name", THEMES)
def test_landing_renders_in_the_requests_theme(name: str) -> None:
    theme = snapshot(name, app_name="Northfield", tagline="Learn together")
    page = render("landing.html", theme, facts=facts())
    assert f'<body data-theme="{name}"' in page
    assert f'<link rel="stylesheet" href="{theme.stylesheet_url}">' in page
    assert page.count('data-testid="app-name"') == 1
    assert 'data-testid="app-name">Northfield<' in page
    assert 'data-testid="tagline">Learn together<' in page
    assert "<title>Northfield</title>" in page
    assert "<style" not in page and "<script" not in page
    other = "corporate" if name == "campus" else "campus"
    assert f'data-theme="{other}"' not in page


def test_the_two_themes_differ_in_structure() -> None:
    campus = render("landing.html", snapshot("campus"), facts=facts())
    corporate = render("landing.html", snapshot("corporate"), facts=facts())
    assert 'class="topbar"' in campus and 'class="hero"' in campus
    assert 'class="shell"' in corporate and 'class="card-grid"' in corporate
    assert 'class="topbar"' not in corporate and 'class="shell"' not in campus


def test_without_a_request_snapshot_the_tenants_base_theme_renders() -> None:
    owner = tenant("corporate", name="Acme Ltd")
    request = request_with(None, owner)
    page = shared_engine().get_template("landing.html").render(request=request, facts=facts())
    assert '<body data-theme="corporate"' in page
    assert f'href="{default_snapshot(owner).stylesheet_url}"' in page
    assert 'data-testid="app-name">Acme Ltd<' in page


def test_an_explicit_theme_wins_over_the_request() -> None:
    request = request_with(snapshot("campus"), tenant())
    page = (
        shared_engine()
        .get_template("landing.html")
        .render(request=request, theme=snapshot("corporate"), facts=facts())
    )
    assert '<body data-theme="corporate"' in page


@pytest.mark.parametrize("name", THEMES)
@pytest.mark.parametrize(
    ("template", "context"),
    [
        (
            "accounts/login.html",
            {"options": SimpleNamespace(password_login=True, self_signup=True)},
        ),
        ("accounts/signup.html", {}),
        ("accounts/logout.html", {}),
        ("accounts/forgot_password.html", {}),
        ("accounts/reset_password.html", {"token": "t"}),
        ("accounts/verify_email.html", {"token": "t"}),
        ("accounts/invite.html", {"token": "t"}),
        ("accounts/message.html", {"heading": "Done", "message": "All set."}),
        ("errors/404.html", {"status": 404, "code": "not_found", "message": "Nothing here."}),
        ("errors/500.html", {"status": 500, "code": "internal_error", "message": "Oops."}),
        ("errors/503.html", {"status": 503, "code": "tenant_suspended", "message": "Paused."}),
        ("errors/error.html", {"status": 403, "code": "forbidden", "message": "No."}),
    ],
)
def test_every_page_renders_in_both_themes(name: str, template: str, context: Any) -> None:
    theme = snapshot(name)
    defaults = {"csrf": "tok", "next": "/", "email": "", "display_name": ""}
    page = render(template, theme, **{**defaults, **context})
    assert f'<body data-theme="{name}"' in page
    assert f'href="{theme.stylesheet_url}"' in page
    assert page.count('data-testid="app-name">Northfield<') == 1
    assert page.count('data-testid="brand"') == 1


@pytest.mark.parametrize("name", THEMES)
def test_admin_users_page_renders_in_its_frame(name: str) -> None:
    viewer = SimpleNamespace(display_name="Ada", role="owner", email="ada@example.org")
    page = render(
        "accounts/admin_users.html",
        snapshot(name),
        csrf="tok",
        viewer=viewer,
        users=[],
        filters={"q": "", "role": "", "status": ""},
        roles=("member", "admin", "owner"),
        statuses=("active", "disabled"),
        back="/admin/users",
    )
    assert 'aria-label="Administration"' in page
    assert 'href="/admin/branding"' in page
    assert 'data-testid="no-users"' in page
    assert 'data-testid="signed-in-as">Signed in as Ada<' in page


# -- brand values are text; copy blocks are (sanitised) HTML ----------------------------------


@pytest.mark.parametrize("name", THEMES)
def test_app_name_and_tagline_are_escaped(name: str) -> None:
    theme = snapshot(name, app_name=HOSTILE, tagline=HOSTILE, email_sender_name=HOSTILE)
    page = render("landing.html", theme, facts=facts())
    assert "<script" not in page
    assert f'data-testid="app-name">{ESCAPED}<' in page
    assert f'data-testid="tagline">{ESCAPED}<' in page
    assert f"<title>{ESCAPED}</title>" in page


@pytest.mark.parametrize("name", THEMES)
def test_copy_blocks_render_as_html(name: str) -> None:
    copy = {
        "hero": "<p>Hello <strong>students</strong></p>",
        "footer": "<p>Footer <em>text</em></p>",
        "sign_in_help": '<p>Ask the <a href="https://help.example">desk</a></p>',
    }
    theme = replace(snapshot(name), copy_html=MappingProxyType(copy))
    landing = render("landing.html", theme, facts=facts())
    assert '<div class="copy hero-copy" data-testid="copy-hero"><p>Hello <strong>' in landing
    assert '<div class="copy" data-testid="copy-footer"><p>Footer <em>text</em></p>' in landing
    assert "Welcome to" not in landing  # the hero copy replaces the default welcome
    login = render(
        "accounts/login.html",
        theme,
        csrf="t",
        options=SimpleNamespace(password_login=True, self_signup=True),
        next="/",
        email="",
    )
    assert 'data-testid="copy-sign_in_help"><p>Ask the <a href="https://help.example">' in login


@pytest.mark.parametrize("name", THEMES)
def test_footer_links_logo_favicon_and_preview_banner(name: str) -> None:
    theme = replace(
        snapshot(
            name,
            support_url="https://help.example/?a=1&b=2",
            terms_url="https://example.org/terms",
            privacy_url="https://example.org/privacy",
            logo="ab" * 32,
        ),
        favicon_url="/theme/assets/" + "cd" * 32 + ".png",
        preview=True,
    )
    page = render("landing.html", theme, facts=facts())
    assert 'href="https://help.example/?a=1&amp;b=2" rel="noopener noreferrer"' in page
    assert 'href="https://example.org/terms"' in page
    assert 'href="https://example.org/privacy"' in page
    assert f'<img class="logo" src="{theme.logo_url}" alt="" data-testid="logo">' in page
    assert f'<link rel="icon" href="{theme.favicon_url}">' in page
    assert 'data-testid="preview-banner"' in page
    plain = render("landing.html", snapshot(name), facts=facts())
    for absent in ('data-testid="logo"', 'rel="icon"', "preview-banner", "footer-links"):
        assert absent not in plain


# -- error pages -------------------------------------------------------------------------------


def _scope(owner: TenantContext | None, accept: bytes, theme: ThemeSnapshot | None = None) -> Any:
    state: dict[str, Any] = {} if owner is None else {"tenant": owner}
    if theme is not None:
        state[STATE_THEME] = theme
    return {"state": state, "path": "/x", "headers": [(b"accept", accept)]}


BROWSER = b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("name", THEMES)
def test_error_page_is_branded_for_a_browser_on_a_tenant_host(name: str) -> None:
    theme = snapshot(name, app_name="Northfield")
    scope = _scope(tenant(name), BROWSER, theme)
    page = render_error_page(scope, status=404, code="not_found", message="No <such> page")
    assert page is not None
    assert f'<body data-theme="{name}"' in page
    assert 'data-status="404"' in page and "Page not found" in page
    assert "No &lt;such&gt; page" in page
    assert 'data-testid="app-name">Northfield<' in page
    other = render_error_page(scope, status=429, code="rate_limited", message="Slow down")
    assert other is not None and 'data-status="429"' in other


@pytest.mark.parametrize(
    ("owner", "accept"),
    [(None, BROWSER), (tenant(), b"*/*"), (tenant(), b"application/json")],
    ids=["no-tenant", "any", "json"],
)
def test_error_page_is_plain_off_tenant_hosts_and_for_non_browsers(
    owner: TenantContext | None, accept: bytes
) -> None:
    scope = _scope(owner, accept)
    assert render_error_page(scope, status=404, code="not_found", message="x") is None


@pytest.mark.parametrize("name", THEMES)
def test_suspended_page_inlines_its_css_and_shows_no_logo(name: str) -> None:
    owner = tenant(name, name="Paused <U>")
    page = render_suspended_page(_scope(owner, BROWSER), owner)
    assert page is not None
    assert f'<body data-theme="{name}"' in page
    assert "<style>:root{--wl-primary:" in page
    assert 'rel="stylesheet"' not in page  # the suspended host answers 503 to its CSS too
    assert 'data-testid="logo"' not in page
    assert "Paused &lt;U&gt; is temporarily unavailable." in page
    assert render_suspended_page(_scope(owner, b"*/*"), owner) is None


# -- emails ------------------------------------------------------------------------------------

LINK = "https://north.localhost:8443/invite?token=abc"


@pytest.mark.parametrize("name", THEMES)
@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("invitation", {"role": "admin", "inviter": "Ada", "days": 7}),
        ("password_reset", {"display_name": "Ada", "hours": 1}),
        ("email_verify", {"display_name": "Ada", "email": "ada@example.org", "hours": 24}),
    ],
)
def test_emails_carry_the_brand_in_both_parts(name: str, kind: str, values: Any) -> None:
    theme = snapshot(
        name,
        app_name="Northfield",
        tokens={"primary": "#123456"},
        logo="ef" * 32,
        email_sender_name="Northfield Admissions",
        support_url="https://help.example",
    )
    mail = render_email(theme, tenant(name), kind, {"link": LINK, **values})
    assert "Northfield" in mail.subject and "\n" not in mail.subject
    for part in (mail.text, mail.html):
        assert "Northfield" in part
        assert LINK in part
        assert "https://help.example" in part
    assert "-- Northfield Admissions" in mail.text
    assert "<" not in mail.text
    assert f'data-theme="{name}"' in mail.html
    assert "background: #123456" in mail.html  # the brand's primary colour, inline
    assert f"color: {theme.tokens['on_primary']}" in mail.html
    logo = f'src="https://north.localhost:8443/theme/assets/{"ef" * 32}.png"'
    assert logo in mail.html  # absolute: a mail has no page to be relative to
    assert "<style" not in mail.html and "stylesheet" not in mail.html


def test_the_two_themes_mail_differently() -> None:
    values = {"link": LINK, "role": "member", "inviter": None, "days": 7}
    campus = render_email(snapshot("campus"), tenant("campus"), "invitation", values)
    corporate = render_email(snapshot("corporate"), tenant("corporate"), "invitation", values)
    assert campus.html != corporate.html
    assert get_theme("campus").tokens["accent"] in campus.html  # the gold rule
    assert "border-left: 6px solid" in corporate.html


def test_email_text_is_not_escaped_and_html_is() -> None:
    theme = snapshot(app_name=HOSTILE)
    values = {"link": LINK, "hours": 1, "display_name": "<i>Ada</i>"}
    mail = render_email(theme, tenant(), "password_reset", values)
    assert HOSTILE in mail.text and "Hello <i>Ada</i>," in mail.text
    assert ESCAPED in mail.html and "&lt;i&gt;Ada&lt;/i&gt;" in mail.html
    assert "<script" not in mail.html and "<i>" not in mail.html


def test_sender_name_falls_back_to_the_app_name_on_one_line() -> None:
    from themes.mail import sender_name_of

    assert sender_name_of(snapshot(app_name="Northfield"), tenant()) == "Northfield"
    assert sender_name_of(snapshot(app_name="", email_sender_name=""), tenant()) == (
        "Northfield University"
    )
    assert one_line("Evil\r\nBcc: x@example.org\t") == "Evil  Bcc: x@example.org"


def test_a_relative_logo_without_a_base_is_left_out() -> None:
    theme = snapshot(logo="ef" * 32)
    values = {"link": "/relative", "role": "member", "inviter": None, "days": 7}
    mail = render_email(theme, tenant(), "invitation", values)
    assert "<img" not in mail.html


# -- theme CSS uses only the tokens ------------------------------------------------------------

_COLOR_LITERAL = re.compile(r"#[0-9a-fA-F]{3,8}\b|\b(?:rgba?|hsla?|hwb|lab|lch|oklab|oklch)\(")
_NAMED = {n for n in webcolors.names("css3")} - {"transparent"}
_FONT_PROPS = re.compile(r"font-family\s*:\s*([^;}]+)")


@pytest.mark.parametrize("name", THEMES)
def test_theme_css_takes_colours_font_and_radius_only_from_tokens(name: str) -> None:
    css = get_theme(name).css
    body = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    assert not _COLOR_LITERAL.search(body)
    words = set(re.findall(r"(?<![\w-])[a-z]+(?![\w-])", body))
    assert not (words & _NAMED), words & _NAMED
    assert {v.strip() for v in _FONT_PROPS.findall(body)} <= {"var(--wl-font)", "inherit"}
    radii = re.findall(r"border-radius\s*:\s*([^;}]+)", body)
    assert radii and all("var(--wl-radius)" in r and "px" not in r for r in radii), radii
    assert "var(--wl-primary)" in body and "@import" not in body and "url(" not in body
