"""The theme API on a real server, on two tenants: published brands, versioned stylesheets and
assets, draft/publish/history/restore, role guards, hostile input and a second server process.

Each tenant's first user signs up through the API and is its owner (an admin); requests carry
the CSRF header a page would. After every refusal the test checks that nothing was stored: no
version row, no asset, no audit event.
"""

from __future__ import annotations

import asyncio
import io
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import event, func, select

from tenants.schemas import TenantView
from tests.integration.accounts_support import ClientFor, csrf_headers, sign_up
from themes.brand import TOKEN_NAMES, ThemeSnapshot
from themes.models import ThemeAsset, ThemeVersion
from themes.registry import get_theme
from themes.service import load_snapshot
from whitelabel.app import create_app
from whitelabel.demo import DEMO_BRANDS, DEMO_LOGOS, seed_brands
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent
from whitelabel.testing.kit import LiveServer, host_client, wait_for_route

THEME = "/api/v1/theme"
ADMIN = "/api/v1/admin/theme"
IMMUTABLE = "public, max-age=31536000, immutable"
#: How soon a publish must reach another process (the issue's bound; polled, not timed).
SIGNAL_DEADLINE = 1.0


@dataclass
class Site:
    tenant: TenantView
    owner: httpx.Client
    anonymous: httpx.Client


def _site(tenant_client: ClientFor, tenant: TenantView) -> Site:
    owner = tenant_client(tenant)
    sign_up(owner, "owner@example.org")  # the first user is the owner
    return Site(tenant, owner, tenant_client(tenant))


@pytest.fixture
def sites(
    tenant_pair: tuple[TenantView, TenantView], tenant_client: ClientFor
) -> tuple[Site, Site]:
    first, second = tenant_pair
    return _site(tenant_client, first), _site(tenant_client, second)


def _put(client: httpx.Client, body: Any) -> httpx.Response:
    return client.put(ADMIN, json=body, headers=csrf_headers(client))


def _publish(client: httpx.Client) -> dict[str, Any]:
    response = client.post(f"{ADMIN}/publish", headers=csrf_headers(client))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def _brand(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """Save ``body`` into the draft and publish it; the published version's entry."""
    response = _put(client, body)
    assert response.status_code == 200, response.text
    return _publish(client)


def _theme(client: httpx.Client) -> dict[str, Any]:
    response = client.get(THEME)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _upload(client: httpx.Client, purpose: str, data: bytes, name: str) -> httpx.Response:
    return client.put(
        f"{ADMIN}/{purpose}",
        files={"file": (name, data, "image/png")},
        headers=csrf_headers(client),
    )


def _png(size: tuple[int, int] = (64, 32), color: tuple[int, int, int] = (200, 30, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def _counts(runtime: Runtime, tenant: TenantView) -> tuple[int, int, int]:
    """(version rows, assets, theme audit events) in the tenant's schema."""
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        versions = session.scalar(select(func.count()).select_from(ThemeVersion)) or 0
        assets = session.scalar(select(func.count()).select_from(ThemeAsset)) or 0
        events = (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action.like("theme.%"))
            )
            or 0
        )
    return versions, assets, events


def _actions(runtime: Runtime, tenant: TenantView) -> list[str]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("theme.%"))
            .order_by(AuditEvent.at, AuditEvent.id)
        )
        return list(rows)


# -- two tenants, two brands ------------------------------------------------------------------


def test_two_tenants_get_their_own_brand_and_a_publish_never_touches_the_other(
    sites: tuple[Site, Site], whitelabel_runtime: Runtime
) -> None:
    first, second = sites
    before = _theme(first.anonymous)
    assert before["version"] == 0 and before["logo_url"] is None
    assert before["app_name"] == first.tenant.name
    assert before["tokens"] == dict(get_theme("campus").tokens)

    assert _upload(first.owner, "logo", _png(), "logo.png").status_code == 200
    _brand(first.owner, {"app_name": "Alpha Hub", "tokens": {"primary": "#6a1b9a"}})
    _brand(second.owner, {"app_name": "Beta Circle", "tokens": {"primary": "#0b5394"}})

    alpha, beta = _theme(first.anonymous), _theme(second.anonymous)
    assert (alpha["app_name"], alpha["version"]) == ("Alpha Hub", 1)
    assert (beta["app_name"], beta["version"]) == ("Beta Circle", 1)
    assert alpha["tokens"]["primary"] == "#6a1b9a" and beta["tokens"]["primary"] == "#0b5394"
    assert alpha["stylesheet_url"] != beta["stylesheet_url"]
    assert alpha["logo_url"] is not None and beta["logo_url"] is None

    alpha_css = first.anonymous.get(alpha["stylesheet_url"])
    beta_css = second.anonymous.get(beta["stylesheet_url"])
    assert alpha_css.status_code == beta_css.status_code == 200
    assert "--wl-primary:#6a1b9a" in alpha_css.text and "#0b5394" not in alpha_css.text
    assert "--wl-primary:#0b5394" in beta_css.text and "#6a1b9a" not in beta_css.text
    logo = first.anonymous.get(alpha["logo_url"])
    assert logo.status_code == 200 and logo.headers["content-type"] == "image/png"

    # Neither tenant's stylesheet or logo is served on the other's host.
    assert second.anonymous.get(alpha["stylesheet_url"]).status_code == 404
    assert second.anonymous.get(alpha["logo_url"]).status_code == 404
    assert first.anonymous.get(beta["stylesheet_url"]).status_code == 404

    # Another publish on the first tenant leaves the second exactly as it was.
    _brand(first.owner, {"app_name": "Alpha Hub Two", "tokens": {"primary": "#4a148c"}})
    assert _theme(first.anonymous)["app_name"] == "Alpha Hub Two"
    assert _theme(second.anonymous) == beta
    assert _counts(whitelabel_runtime, second.tenant) == (1, 0, 2)
    assert _actions(whitelabel_runtime, second.tenant) == ["theme.draft_updated", "theme.published"]


def test_the_unknown_host_404_shows_no_brand(
    sites: tuple[Site, Site], live_server: LiveServer
) -> None:
    first, second = sites
    _brand(first.owner, {"app_name": "Alpha Hub"})
    _brand(second.owner, {"app_name": "Beta Circle"})
    stylesheet = _theme(first.anonymous)["stylesheet_url"]
    with host_client(live_server.url, f"nope-{secrets.token_hex(5)}.localhost") as stranger:
        for path in (THEME, stylesheet, "/", "/login"):
            response = stranger.get(path, headers={"accept": "text/html"})
            assert response.status_code == 404, path
            for leak in ("Alpha Hub", "Beta Circle", "/theme/", "--wl-"):
                assert leak not in response.text, (path, leak)


# -- versioned, immutable URLs ----------------------------------------------------------------


def test_stylesheets_are_versioned_immutable_and_conditional(sites: tuple[Site, Site]) -> None:
    first, _ = sites
    base_url = _theme(first.anonymous)["stylesheet_url"]
    base = first.anonymous.get(base_url)
    assert base.status_code == 200 and base.headers["cache-control"] == IMMUTABLE
    assert base_url.startswith("/theme/") and base_url.endswith(".css")

    one = _brand(first.owner, {"tokens": {"accent": "#ff6f00"}})
    url_one = _theme(first.anonymous)["stylesheet_url"]
    assert url_one == one["stylesheet_url"] != base_url
    first_get = first.anonymous.get(url_one)
    assert first_get.status_code == 200
    assert first_get.headers["cache-control"] == IMMUTABLE
    assert first_get.headers["content-type"].startswith("text/css")
    etag = first_get.headers["etag"]
    assert etag == f'"{url_one.removeprefix("/theme/").removesuffix(".css")}"'
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = first.anonymous.get(url_one, headers={"if-none-match": sent})
        assert again.status_code == 304, sent
        assert again.content == b"" and again.headers["etag"] == etag
    assert first.anonymous.get(url_one, headers={"if-none-match": '"x"'}).status_code == 200

    _brand(first.owner, {"tokens": {"accent": "#00897b"}})
    url_two = _theme(first.anonymous)["stylesheet_url"]
    assert url_two != url_one
    old = first.anonymous.get(url_one)  # pages opened before the publish keep their look
    assert old.status_code == 200 and old.text == first_get.text
    assert "#ff6f00" in old.text and "#00897b" in first.anonymous.get(url_two).text
    assert first.anonymous.get(base_url).status_code == 200

    for bad in ("/theme/0123456789abcdef.css", "/theme/nothing.css", "/theme/../etc.css"):
        assert first.anonymous.get(bad).status_code == 404, bad


def test_assets_are_immutable_and_sniff_proof(sites: tuple[Site, Site]) -> None:
    first, _ = sites
    uploaded = _upload(first.owner, "logo", _png(), "logo.png")
    assert uploaded.status_code == 200, uploaded.text
    draft = uploaded.json()
    logo_url = draft["logo_url"]
    assert logo_url.startswith("/theme/assets/") and logo_url.endswith(".png")
    assert draft["favicon_url"] is not None  # generated from the logo
    assert sorted(draft["icon_urls"]) == ["180", "32", "512"]
    response = first.anonymous.get(logo_url)
    assert response.status_code == 200
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["x-content-type-options"] == "nosniff"
    etag = response.headers["etag"]
    assert first.anonymous.get(logo_url, headers={"if-none-match": etag}).status_code == 304
    wrong_ext = logo_url.removesuffix(".png") + ".svg"
    assert first.anonymous.get(wrong_ext).status_code == 404
    assert first.anonymous.get("/theme/assets/" + "0" * 64 + ".png").status_code == 404

    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40">'
        b'<circle cx="20" cy="20" r="18" fill="#123456"/></svg>'
    )
    favicon = _upload(first.owner, "favicon", svg, "icon.svg")
    assert favicon.status_code == 200, favicon.text
    served = first.anonymous.get(favicon.json()["favicon_url"])
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("image/svg+xml")
    assert served.headers["content-security-policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    )
    assert favicon.json()["icon_urls"] == {}  # an uploaded favicon replaces the generated ones


# -- another process --------------------------------------------------------------------------


@pytest.fixture
def second_server(whitelabel_runtime: Runtime) -> Iterator[tuple[Runtime, LiveServer]]:
    """Another app process on the same database: its own runtime, routing table and cache."""
    runtime = Runtime.start(whitelabel_runtime.settings)
    server = LiveServer(create_app(runtime=runtime, access_log=False)).start()
    yield runtime, server
    server.stop()
    runtime.db.sync_engine.dispose()


def test_favicon_ico_follows_the_published_icon(sites: tuple[Site, Site]) -> None:
    first, second = sites
    none = first.anonymous.get("/favicon.ico")
    assert (none.status_code, none.content) == (204, b"")
    assert none.headers["cache-control"] == "public, max-age=300"

    assert _upload(first.owner, "logo", _png(), "logo.png").status_code == 200
    assert first.anonymous.get("/favicon.ico").status_code == 204  # a draft is not published
    _brand(first.owner, {"app_name": "Icon Hub"})
    found = first.anonymous.get("/favicon.ico")
    assert found.status_code == 302
    assert found.headers["location"] == _theme(first.anonymous)["icon_urls"]["32"]
    icon = first.anonymous.get(found.headers["location"])
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/png"
    assert second.anonymous.get("/favicon.ico").status_code == 204  # the other tenant has none


def test_a_publish_reaches_another_process_within_a_second(
    sites: tuple[Site, Site], second_server: tuple[Runtime, LiveServer]
) -> None:
    first, second = sites
    runtime, server = second_server
    for site in sites:
        wait_for_route(runtime, site.tenant.primary_host or "")
    with (
        host_client(server.url, first.tenant.primary_host or "") as there,
        host_client(server.url, second.tenant.primary_host or "") as bystander,
    ):
        assert there.get(THEME).json()["version"] == 0  # cached there at version 0
        untouched = bystander.get(THEME).json()
        _put(first.owner, {"app_name": "Seen Everywhere"})
        assert there.get(THEME).json()["app_name"] == first.tenant.name  # a draft: not yet
        published = _publish(first.owner)

        deadline = time.monotonic() + SIGNAL_DEADLINE
        seen = there.get(THEME).json()
        while seen["version"] != published["version"] and time.monotonic() < deadline:
            time.sleep(0.02)
            seen = there.get(THEME).json()
        assert seen["version"] == published["version"], "not seen within a second"
        assert seen["app_name"] == "Seen Everywhere"
        assert seen["stylesheet_url"] == published["stylesheet_url"]
        assert there.get(seen["stylesheet_url"]).status_code == 200
        assert bystander.get(THEME).json() == untouched


# -- draft, history, restore ------------------------------------------------------------------


def test_the_draft_is_invisible_until_published(
    sites: tuple[Site, Site], whitelabel_runtime: Runtime
) -> None:
    first, _ = sites
    published = _theme(first.anonymous)
    assert first.owner.get(ADMIN).json()["status"] == "published"

    saved = _put(first.owner, {"app_name": "Work In Progress", "tokens": {"primary": "#2e7d32"}})
    assert saved.status_code == 200, saved.text
    draft = first.owner.get(ADMIN).json()
    assert draft["status"] == "draft" and draft["app_name"] == "Work In Progress"
    assert draft["tokens"]["primary"] == "#2e7d32"
    assert draft["token_overrides"] == {"primary": "#2e7d32"}
    assert _theme(first.anonymous) == published
    assert _theme(first.owner) == published  # not even the admin's own public view

    preview = first.owner.get(draft["preview_stylesheet_url"])
    assert preview.status_code == 200 and "--wl-primary:#2e7d32" in preview.text
    assert preview.headers["cache-control"] == "no-store"
    assert first.anonymous.get(draft["preview_stylesheet_url"]).status_code == 401

    _publish(first.owner)
    assert _theme(first.anonymous)["app_name"] == "Work In Progress"
    assert first.owner.get(ADMIN).json()["status"] == "published"
    nothing = first.owner.post(f"{ADMIN}/publish", headers=csrf_headers(first.owner))
    assert nothing.status_code == 409 and nothing.json()["code"] == "no_draft"
    assert _actions(whitelabel_runtime, first.tenant) == [
        "theme.draft_updated",
        "theme.published",
    ]


def test_history_is_kept_and_any_version_can_be_restored(
    sites: tuple[Site, Site], whitelabel_runtime: Runtime
) -> None:
    first, second = sites
    one = _brand(first.owner, {"app_name": "One", "tokens": {"primary": "#1565c0"}})
    two = _brand(first.owner, {"app_name": "Two", "tokens": {"primary": "#ad1457"}})
    history = first.owner.get(f"{ADMIN}/versions").json()
    assert [(v["version"], v["app_name"], v["current"]) for v in history] == [
        (2, "Two", True),
        (1, "One", False),
    ]

    _put(first.owner, {"app_name": "Abandoned draft"})
    restored = first.owner.post(f"{ADMIN}/versions/1/restore", headers=csrf_headers(first.owner))
    assert restored.status_code == 201, restored.text
    assert restored.json()["version"] == 3
    assert restored.json()["stylesheet_url"] == one["stylesheet_url"]  # the same CSS, re-used
    current = _theme(first.anonymous)
    assert (current["version"], current["app_name"]) == (3, "One")
    assert current["tokens"]["primary"] == "#1565c0"
    assert first.owner.get(ADMIN).json()["status"] == "published"  # the draft was discarded

    history = first.owner.get(f"{ADMIN}/versions").json()
    assert [(v["version"], v["app_name"], v["current"]) for v in history] == [
        (3, "One", True),
        (2, "Two", False),
        (1, "One", False),
    ]
    assert history[1]["stylesheet_url"] == two["stylesheet_url"]  # history is not rewritten
    assert first.anonymous.get(two["stylesheet_url"]).status_code == 200

    for bad in ("99", "0", "-1", "abc", "1.5", "99999999999999999999"):
        response = first.owner.post(
            f"{ADMIN}/versions/{bad}/restore", headers=csrf_headers(first.owner)
        )
        assert response.status_code == 404, bad
        assert response.json()["code"] == "version_not_found"
    assert _theme(first.anonymous)["version"] == 3
    # The other tenant's own history does not know these versions.
    foreign = second.owner.post(f"{ADMIN}/versions/1/restore", headers=csrf_headers(second.owner))
    assert foreign.status_code == 404
    assert _counts(whitelabel_runtime, second.tenant) == (0, 0, 0)
    assert _actions(whitelabel_runtime, first.tenant) == [
        "theme.draft_updated",
        "theme.published",
        "theme.draft_updated",
        "theme.published",
        "theme.draft_updated",
        "theme.restored",
    ]


# -- guards -----------------------------------------------------------------------------------

ADMIN_CALLS = [
    ("GET", ADMIN),
    ("PUT", ADMIN),
    ("POST", f"{ADMIN}/publish"),
    ("GET", f"{ADMIN}/versions"),
    ("POST", f"{ADMIN}/versions/1/restore"),
    ("PUT", f"{ADMIN}/logo"),
    ("DELETE", f"{ADMIN}/logo"),
    ("PUT", f"{ADMIN}/favicon"),
    ("DELETE", f"{ADMIN}/favicon"),
    ("GET", f"{ADMIN}/preview.css"),
]


def test_admin_routes_refuse_members_and_anonymous_callers(
    sites: tuple[Site, Site], tenant_client: ClientFor, whitelabel_runtime: Runtime
) -> None:
    first, _ = sites
    _brand(first.owner, {"app_name": "Guarded"})
    member = tenant_client(first.tenant)
    sign_up(member, "member@example.org")
    before = _counts(whitelabel_runtime, first.tenant)
    for method, path in ADMIN_CALLS:
        # A JSON body, as an API client sends (an anonymous JSON request needs no CSRF token).
        body = {"app_name": "Hijacked"} if method == "PUT" else None if method == "GET" else {}
        anonymous = first.anonymous.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert anonymous.json()["code"] == "not_authenticated"
        refused = member.request(method, path, json=body, headers=csrf_headers(member))
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["code"] == "forbidden"
    assert _counts(whitelabel_runtime, first.tenant) == before
    assert _theme(first.anonymous)["app_name"] == "Guarded"


# -- hostile input ----------------------------------------------------------------------------

INJECTIONS = [
    "red;}body{x:y",
    "red;} body { background: url(https://evil.example/x) }",
    "url(javascript:alert(1))",
    "url(https://evil.example/a.png)",
    "expression(alert(1))",
    "\\72 ed",
    "r\\65 d",
    "\\000072ed",
    "#fff;}",
    "#ffffff\n}body{",
    "#ffffff/**/",
    "</style><script>alert(1)</script>",
    "var(--wl-text)",
    "\uff52\uff45\uff44",  # fullwidth "red"
    "#ffffff\u0000",
]

HOSTILE_BODIES: list[tuple[str, Any, set[str]]] = [
    *[
        (f"{token} {value!r}", {"tokens": {token: value}}, {f"tokens.{token}"})
        for token in TOKEN_NAMES
        for value in INJECTIONS
    ],
    (
        "every token at once",
        {"tokens": dict.fromkeys(TOKEN_NAMES, "red;}x{")},
        {f"tokens.{token}" for token in TOKEN_NAMES},
    ),
    ("app name a number", {"app_name": 5}, {"app_name"}),
    ("app name an object", {"app_name": {"x": 1}}, {"app_name"}),
    ("app name empty", {"app_name": "   "}, {"app_name"}),
    ("app name huge", {"app_name": "x" * 100_000}, {"app_name"}),
    ("tagline huge", {"tagline": "y" * 50_000}, {"tagline"}),
    ("app name control characters", {"app_name": "a\u202eb"}, {"app_name"}),
    ("tokens a string", {"tokens": "red"}, {"tokens"}),
    ("token a number", {"tokens": {"primary": 255}}, {"tokens.primary"}),
    ("unknown token", {"tokens": {"evil": "#ffffff"}}, {"tokens.evil"}),
    ("radius a string", {"radius": "8"}, {"radius"}),
    ("radius a boolean", {"radius": True}, {"radius"}),
    ("radius huge", {"radius": 10**12}, {"radius"}),
    ("radius negative", {"radius": -1}, {"radius"}),
    ("font not allowed", {"font": "Comic Sans; } body {"}, {"font"}),
    ("font external", {"font": "https://fonts.example/x.css"}, {"font"}),
    ("support url javascript", {"support_url": "javascript:alert(1)"}, {"support_url"}),
    ("terms url data", {"terms_url": "data:text/html,<script>"}, {"terms_url"}),
    ("privacy url huge", {"privacy_url": "https://a.example/" + "p" * 5000}, {"privacy_url"}),
    ("copy huge", {"copy": {"hero": "z" * 20_000}}, {"copy.hero"}),
    ("copy unknown block", {"copy": {"header": "hi"}}, {"copy.header"}),
    ("locale bad", {"default_locale": "en_US; drop"}, {"default_locale"}),
    ("unknown field", {"evil": 1}, {"evil"}),
    ("logo by hash", {"logo": "0" * 64}, {"logo"}),
    ("low contrast text", {"tokens": {"text": "#fafafa"}}, {"tokens.text"}),
    ("low contrast button", {"tokens": {"on_primary": "#1b3a6b"}}, {"tokens.on_primary"}),
    ("a list", [], {""}),
    ("a string", "red", {""}),
]


@pytest.fixture(scope="module")
def hostile_site(
    whitelabel_runtime: Runtime, live_server: LiveServer
) -> Iterator[tuple[Site, Runtime]]:
    """One tenant (and its owner) for the long table of hostile bodies; purged afterwards."""
    from whitelabel.testing.kit import TenantFactory

    factory = TenantFactory(whitelabel_runtime)
    tenant = factory()
    wait_for_route(whitelabel_runtime, tenant.primary_host or "")
    owner = host_client(live_server.url, tenant.primary_host or "")
    anonymous = host_client(live_server.url, tenant.primary_host or "")
    sign_up(owner, "owner@example.org")
    try:
        yield Site(tenant, owner, anonymous), whitelabel_runtime
    finally:
        owner.close()
        anonymous.close()
        factory.cleanup()


@pytest.mark.parametrize(
    ("body", "fields"),
    [(b, f) for _, b, f in HOSTILE_BODIES],
    ids=[i for i, _, _ in HOSTILE_BODIES],
)
def test_hostile_brand_edits_are_refused_field_by_field(
    body: Any, fields: set[str], hostile_site: tuple[Site, Runtime]
) -> None:
    site, runtime = hostile_site
    before = _theme(site.anonymous)
    response = _put(site.owner, body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "invalid_brand"
    assert {item["field"] for item in error["detail"]["errors"]} == fields
    for item in error["detail"]["errors"]:
        assert item["code"] and item["message"]
        if item["code"] == "low_contrast":
            assert item["required"] == 4.5 and item["ratio"] < 4.5
    assert _counts(runtime, site.tenant) == (0, 0, 0)
    assert site.owner.get(ADMIN).json()["status"] == "published"
    assert _theme(site.anonymous) == before


def test_bodies_that_are_not_json_or_too_big_are_refused(
    hostile_site: tuple[Site, Runtime],
) -> None:
    site, runtime = hostile_site
    headers = {**csrf_headers(site.owner), "content-type": "application/json"}
    for content in (b"{tokens: red}", b"", b'{"app_name": "x"'):
        not_json = site.owner.put(ADMIN, content=content, headers=headers)
        assert not_json.status_code == 400, (content, not_json.text)
        assert not_json.json()["code"] in ("bad_request", "validation_failed")
    null = site.owner.put(ADMIN, content=b"null", headers=headers)
    assert null.status_code == 422 and null.json()["code"] == "invalid_brand"
    too_big = site.owner.put(
        ADMIN, content=b'{"tagline": "' + b"x" * 300_000 + b'"}', headers=headers
    )
    assert too_big.status_code == 413, too_big.text
    assert _counts(runtime, site.tenant) == (0, 0, 0)


def test_uploads_are_checked_by_content(
    sites: tuple[Site, Site], whitelabel_runtime: Runtime
) -> None:
    site, runtime = sites[0], whitelabel_runtime
    refused: list[tuple[str, bytes, str, int, str]] = [
        (
            "html named .png",
            b"<html><script>alert(1)</script></html>",
            "logo.png",
            422,
            "unsupported_image",
        ),
        ("gif", b"GIF89a" + b"\x00" * 64, "logo.png", 422, "unsupported_image"),
        ("truncated png", _png()[:40], "logo.png", 422, "invalid_image"),
        ("empty", b"", "logo.png", 422, "invalid_image"),
        ("oversized", _png() + b"\x00" * (2 * 1024 * 1024), "logo.png", 422, "image_too_large"),
        (
            "svg with script",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "logo.svg",
            422,
            "unsafe_svg",
        ),
    ]
    for label, data, name, status, code in refused:
        response = _upload(site.owner, "logo", data, name)
        assert response.status_code == status, (label, response.text)
        assert response.json()["code"] == code, label
    huge = _upload(site.owner, "logo", b"\x89PNG" + b"\x00" * (5 * 1024 * 1024), "logo.png")
    assert huge.status_code == 413
    not_multipart = site.owner.put(
        f"{ADMIN}/logo",
        content=_png(),
        headers={**csrf_headers(site.owner), "content-type": "image/png"},
    )
    assert not_multipart.status_code == 415
    assert not_multipart.json()["code"] == "unsupported_media_type"
    no_file = site.owner.put(
        f"{ADMIN}/logo",
        data={"file": "just text"},
        files={"other": ("x.png", _png())},
        headers=csrf_headers(site.owner),
    )
    assert no_file.status_code == 422 and no_file.json()["code"] == "missing_file"
    assert _counts(runtime, site.tenant) == (0, 0, 0)

    # A polyglot (a real PNG with a script appended) is re-encoded: the script is gone.
    polyglot = _png() + b"<script>alert(1)</script>"
    accepted = _upload(site.owner, "logo", polyglot, "logo.png")
    assert accepted.status_code == 200, accepted.text
    served = site.owner.get(accepted.json()["logo_url"])
    assert served.status_code == 200 and b"<script" not in served.content
    assert served.content.startswith(b"\x89PNG") and served.content != polyglot
    assert _theme(site.anonymous)["logo_url"] is None  # in the draft only
    versions, assets, events = _counts(runtime, site.tenant)
    assert (versions, events) == (1, 1) and assets == 4  # the logo and its three icon sizes

    removed = site.owner.delete(f"{ADMIN}/logo", headers=csrf_headers(site.owner))
    assert removed.status_code == 200
    assert removed.json()["logo_url"] is None and removed.json()["favicon_url"] is None


# -- demo brands ------------------------------------------------------------------------------


def test_demo_brands_are_published_once_and_differ(
    tenant_pair: tuple[TenantView, TenantView],
    whitelabel_runtime: Runtime,
    tenant_client: ClientFor,
) -> None:
    first, second = tenant_pair
    brands = {first.slug: DEMO_BRANDS["campus"], second.slug: DEMO_BRANDS["acme"]}
    logos = {first.slug: DEMO_LOGOS["campus"], second.slug: DEMO_LOGOS["acme"]}
    # a runtime of its own: seeding disposes its async pool (the live server uses the shared one)
    runtime = Runtime.start(whitelabel_runtime.settings)
    try:
        slugs = (first.slug, second.slug)
        assert asyncio.run(seed_brands(runtime, slugs, brands=brands, logos=logos)) == 2
        assert asyncio.run(seed_brands(runtime, slugs, brands=brands, logos=logos)) == 0
    finally:
        runtime.db.sync_engine.dispose()
    for tenant in tenant_pair:
        wait_for_theme_version(whitelabel_runtime, tenant, 1)
    campus, acme = _theme(tenant_client(first)), _theme(tenant_client(second))
    assert (campus["version"], acme["version"]) == (1, 1)
    assert campus["app_name"] == "Northfield Connect" and acme["app_name"] == "Acme Network"
    assert campus["tokens"]["primary"] != acme["tokens"]["primary"]
    assert campus["stylesheet_url"] != acme["stylesheet_url"]
    assert "<strong>" in campus["copy_html"]["hero"]
    for tenant, data in ((first, campus), (second, acme)):
        logo = tenant_client(tenant).get(data["logo_url"])
        assert logo.status_code == 200 and logo.headers["content-type"].startswith("image/svg")
    assert _actions(whitelabel_runtime, first) == [
        "theme.draft_updated",
        "theme.asset_uploaded",
        "theme.published",
    ]


def wait_for_theme_version(
    runtime: Runtime, tenant: TenantView, version: int, timeout: float = 3.0
) -> None:
    """Wait until this process's routing table has the tenant at ``version``."""
    host = tenant.primary_host or ""
    deadline = time.monotonic() + timeout
    while (found := runtime.resolver.resolve(host)) is None or found.theme_version != version:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{host} did not reach theme version {version}")
        time.sleep(0.005)


# -- the snapshot cache ------------------------------------------------------------------------


def test_concurrent_misses_share_one_load_and_hits_need_no_query(
    sites: tuple[Site, Site], whitelabel_runtime: Runtime
) -> None:
    first, _ = sites
    _brand(first.owner, {"app_name": "Loaded Once"})  # nobody has asked for version 1 yet
    tenant = replace(first.tenant.context(), theme_version=1)
    runtime = Runtime.start(whitelabel_runtime.settings)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(runtime.db.async_engine.sync_engine, "before_cursor_execute", count)

    async def load_many() -> list[ThemeSnapshot]:
        try:
            return await asyncio.gather(*(load_snapshot(runtime, tenant) for _ in range(20)))
        finally:
            await runtime.db.async_engine.dispose()

    try:
        loaded = asyncio.run(load_many())
        assert len(statements) == 1, statements  # one query for twenty callers
        assert all(snapshot is loaded[0] for snapshot in loaded)
        assert loaded[0].brand.app_name == "Loaded Once" and loaded[0].version == 1
        assert asyncio.run(load_many())[0] is loaded[0]
        assert len(statements) == 1  # a hit sends nothing
    finally:
        runtime.db.sync_engine.dispose()
