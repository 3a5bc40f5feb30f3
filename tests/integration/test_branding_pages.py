"""The branding editor's pages (``/admin/branding``) on a real server, on two tenants.

Forms are driven as a browser would: GET the page, read the CSRF token from the form, POST the
form (multipart, as the page's ``enctype`` says) with it; the client's cookie jar carries the
session. Every refused post is checked to have stored nothing (no draft change, no asset, no
audit event), and every change on one tenant to have left the other alone.
"""

from __future__ import annotations

import html
import io
import re
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from tenants.schemas import TenantView
from tests.integration.accounts_support import PASSWORD, ClientFor
from themes.brand import COPY_BLOCKS, TOKEN_NAMES
from themes.models import ThemeAsset, ThemeVersion
from themes.pages._static import static_file
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent

PAGE = "/admin/branding"
_CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]*)">')
_VALUE = r'name="{name}"[^>]*value="([^"]*)"'


# --- helpers -----------------------------------------------------------------------------------


def _token(page: httpx.Response) -> str:
    match = _CSRF.search(page.text)
    assert match is not None, page.text
    return html.unescape(match.group(1))


def _signup(client: httpx.Client, email: str) -> None:
    page = client.get("/signup")
    data = {"email": email, "display_name": "Someone", "password": PASSWORD}
    response = client.post("/signup", data={**data, "csrf_token": _token(page)})
    assert response.status_code == 303, response.text


def _owner(tenant_client: ClientFor, tenant: TenantView) -> httpx.Client:
    """A client signed in as the tenant's first user (its owner)."""
    client = tenant_client(tenant)
    _signup(client, f"owner@{tenant.slug}.example.org")
    return client


def _form_fields(page: str) -> dict[str, str]:
    """The editor form's text fields as the page fills them (what a browser would send)."""
    fields: dict[str, str] = {}
    for name in ("app_name", "tagline", "email_sender_name", "default_locale", "radius",
                 "support_url", "terms_url", "privacy_url",
                 *(f"tokens.{t}" for t in TOKEN_NAMES)):  # fmt: skip
        match = re.search(_VALUE.format(name=re.escape(name)), page)
        assert match is not None, name
        fields[name] = html.unescape(match.group(1))
    for block in COPY_BLOCKS:
        match = re.search(rf'name="copy\.{block}"[^>]*>([^<]*)</textarea>', page)
        assert match is not None, block
        fields[f"copy.{block}"] = html.unescape(match.group(1))
    selected = re.search(r'<option value="([^"]+)" selected>', page)
    assert selected is not None
    fields["font"] = selected.group(1)
    return fields


def _post(
    client: httpx.Client,
    changes: dict[str, str],
    *,
    action: str = "save",
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> httpx.Response:
    """Open the editor and post its form with ``changes``, as a browser would (multipart)."""
    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    data = {**_form_fields(page.text), **changes, "action": action, "csrf_token": _token(page)}
    parts: dict[str, Any] = {
        "logo": ("", b"", "application/octet-stream"),
        "favicon": ("", b"", "application/octet-stream"),
        **(files or {}),
    }
    return client.post(PAGE, data=data, files=parts)


def _png(color: tuple[int, int, int], size: tuple[int, int] = (120, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def _state(runtime: Runtime, tenant: TenantView) -> tuple[list[Any], int, list[str]]:
    """Everything a brand change could store: versions (draft brand included), assets, and the
    theme audit events."""
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        versions = [
            (v.status, v.version, v.brand)
            for v in session.scalars(select(ThemeVersion).order_by(ThemeVersion.version))
        ]
        assets = session.scalar(select(func.count()).select_from(ThemeAsset)) or 0
        events = list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.startswith("theme."))
                .order_by(AuditEvent.at)
            )
        )
        return versions, assets, events


def _draft(runtime: Runtime, tenant: TenantView) -> dict[str, Any] | None:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        row = session.scalar(select(ThemeVersion).where(ThemeVersion.status == "draft"))
        return dict(row.brand) if row is not None else None


def _without_visits(page: str) -> str:
    return re.sub(r'data-testid="visits">\d+<', "", page)


def _errors(response: httpx.Response, field: str) -> list[str]:
    found = re.findall(rf'data-testid="error-{re.escape(field)}"[^>]*>([^<]*)</p>', response.text)
    return [html.unescape(text) for text in found]


# --- guards, headers, static files -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", PAGE),
        ("POST", PAGE),
        ("POST", PAGE + "/versions/1/restore"),
        ("GET", PAGE + "/preview/landing"),
        ("GET", PAGE + "/preview/login"),
        ("GET", PAGE + "/preview/signup"),
        ("GET", PAGE + "/preview/unknown"),
        ("GET", PAGE + "/static/editor.js"),
    ],
)
def test_anonymous_go_to_sign_in_and_members_are_refused(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
    method: str,
    path: str,
) -> None:
    first, second = tenant_pair
    owner = _owner(tenant_client, first)
    assert owner.get(PAGE).status_code == 200
    before = _state(whitelabel_runtime, first)

    anonymous = tenant_client(first)
    page = anonymous.get("/login")  # a page gives the anonymous CSRF cookie and token
    data = {"csrf_token": _token(page), "action": "save", "app_name": "Taken Over"}
    response = anonymous.request(method, path, data=data if method == "POST" else None)
    assert response.status_code == 303
    target = PAGE if method == "POST" else path
    assert response.headers["location"] == f"/login?next={target}"

    member = tenant_client(first)
    _signup(member, "member@example.org")
    token = _token(member.get("/login"))
    data["csrf_token"] = token
    refused = member.request(method, path, data=data if method == "POST" else None)
    assert refused.status_code == 403
    assert "Admins only" in refused.text
    assert "Taken Over" not in refused.text
    assert _state(whitelabel_runtime, first) == before
    assert _draft(whitelabel_runtime, second) is None


def test_editor_page_has_every_field_its_headers_and_only_its_own_script(
    tenant_pair: tuple[TenantView, TenantView], tenant_client: ClientFor
) -> None:
    first, second = tenant_pair
    page = _owner(tenant_client, first).get(PAGE)
    assert page.status_code == 200
    headers = page.headers
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "'unsafe-eval'" not in csp
    text = page.text
    for token in TOKEN_NAMES:
        assert f'<input type="color" id="pick-{token}" data-token="{token}"' in text
        assert f'name="tokens.{token}"' in text
    for block in COPY_BLOCKS:
        assert f'name="copy.{block}"' in text
    for name in ("app_name", "tagline", "font", "radius", "support_url", "logo", "favicon"):
        assert f'name="{name}"' in text
    assert 'enctype="multipart/form-data"' in text
    assert 'value="save">Save draft<' in text and 'value="publish"' in text
    scripts = re.findall(r"<script([^>]*)>", text)
    assert len(scripts) == 1 and 'src="/admin/branding/static/editor.js?v=' in scripts[0]
    assert 'src="/admin/branding/preview/landing"' in text
    assert 'src="/admin/branding/preview/login"' in text
    assert 'data-testid="no-history"' in text
    # Campus defaults: the contrast of both required pairs is shown, and passes.
    assert re.search(r'data-testid="ratio-text-background">\d+\.\d\d:1<', text)
    assert re.search(r'data-testid="ratio-on_primary-primary">\d+\.\d\d:1<', text)
    assert second.name not in text


def test_editor_static_files(
    tenant_pair: tuple[TenantView, TenantView], tenant_client: ClientFor
) -> None:
    client = _owner(tenant_client, tenant_pair[0])
    script = client.get("/admin/branding/static/editor.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-content-type-options"] == "nosniff"
    assert script.headers["cache-control"] == "private, no-cache"
    assert b"contrastRatio" in script.content
    versioned = client.get(f"/admin/branding/static/editor.css?v={static_file('editor.css').hash}")
    assert versioned.headers["cache-control"] == "private, max-age=31536000, immutable"
    again = client.get(
        "/admin/branding/static/editor.js", headers={"if-none-match": script.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    for name in ("editor.py", "..%2F..%2Fbrand.py", "%2e%2e", "editor.js.map", "../_form.py"):
        assert client.get(f"/admin/branding/static/{name}").status_code == 404


# --- saving, publishing, restoring -------------------------------------------------------------


def test_save_preview_publish_and_restore(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = _owner(tenant_client, first)
    other = _owner(tenant_client, second)
    other_landing = other.get("/").text

    saved = _post(
        client,
        {
            "app_name": "Campus Connect",
            "tagline": "Meet your cohort",
            "tokens.primary": "rgb(123, 31, 162)",
            "font": "geometric",
            "radius": "12",
            "support_url": "https://help.example.org/",
            "copy.hero": "Hello **students**",
        },
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == PAGE
    page = client.get(PAGE)
    assert 'data-testid="flash">Draft saved.' in page.text
    assert 'value="Campus Connect"' in page.text
    assert 'value="#7b1fa2"' in page.text  # the colour as validation normalised it
    draft = _draft(whitelabel_runtime, first)
    assert draft is not None
    assert draft["app_name"] == "Campus Connect"
    assert draft["tokens"] == {"primary": "#7b1fa2"}  # only the changed colour is an override
    assert draft["radius"] == 12 and draft["font"] == "geometric"
    assert "theme.draft_updated" in _state(whitelabel_runtime, first)[2]

    # The draft shows in the previews, never on the public pages.
    preview = client.get(PAGE + "/preview/landing")
    assert preview.status_code == 200
    assert preview.headers["cache-control"] == "no-store"
    assert preview.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in preview.headers["content-security-policy"]
    assert "script-src" not in preview.headers["content-security-policy"]
    assert 'data-testid="preview-banner"' in preview.text
    assert "Campus Connect" in preview.text and "<strong>students</strong>" in preview.text
    assert "/api/v1/admin/theme/preview.css" in preview.text
    login_preview = client.get(PAGE + "/preview/login")
    assert login_preview.status_code == 200 and "Sign in to Campus Connect" in login_preview.text
    assert client.get(PAGE + "/preview/admin").status_code == 404
    assert "Campus Connect" not in tenant_client(first).get("/").text

    published = _post(client, {}, action="publish")
    assert published.status_code == 303, published.text
    page = client.get(PAGE)
    assert 'data-testid="flash">Published version 1' in page.text
    assert 'data-testid="version-row" data-version="1"' in page.text
    assert f"owner@{first.slug}.example.org" in page.text  # who published, by email
    landing = tenant_client(first).get("/").text
    assert "Campus Connect" in landing and "Meet your cohort" in landing
    assert 'href="https://help.example.org/"' in landing
    assert _draft(whitelabel_runtime, first) is None

    # A second version, then version 1 restored as version 3.
    assert _post(client, {"app_name": "Second Name"}, action="publish").status_code == 303
    assert "Second Name" in tenant_client(first).get("/").text
    page = client.get(PAGE)
    restored = client.post(PAGE + "/versions/1/restore", data={"csrf_token": _token(page)})
    assert restored.status_code == 303
    page = client.get(PAGE)
    assert "Version 1 is live again, as version 3." in page.text
    assert "Campus Connect" in tenant_client(first).get("/").text
    events = _state(whitelabel_runtime, first)[2]
    assert events.count("theme.published") == 2 and events.count("theme.restored") == 1

    # Nothing of it reached the other tenant (its page differs only by its visit counter).
    assert _without_visits(other.get("/").text) == _without_visits(other_landing)
    assert "Campus Connect" not in other.get("/").text
    assert _state(whitelabel_runtime, second) == ([], 0, [])


def test_logo_upload_and_removal(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = _owner(tenant_client, first)
    # A real PNG with HTML after its end (a polyglot): accepted, but stored re-encoded.
    logo = _png((200, 30, 30)) + b"<html><script>alert(1)</script></html>"
    response = _post(client, {}, files={"logo": ("logo.png", logo, "image/png")})
    assert response.status_code == 303, response.text
    page = client.get(PAGE).text
    assert 'data-testid="current-logo"' in page
    assert 'data-testid="current-favicon"' in page  # generated from the logo
    assert 'name="remove_logo"' in page and 'name="remove_favicon"' not in page
    draft = _draft(whitelabel_runtime, first)
    assert draft is not None and draft["logo"] and draft["favicon"]
    logo_url = re.search(r'<img src="([^"]+)" alt="Current logo"', page)
    assert logo_url is not None
    served = client.get(logo_url.group(1))
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert b"<script" not in served.content and served.content.startswith(b"\x89PNG")
    assert "/theme/assets/" in client.get(PAGE + "/preview/landing").text

    removed = _post(client, {"remove_logo": "1"})
    assert removed.status_code == 303
    draft = _draft(whitelabel_runtime, first)
    assert draft is not None and draft["logo"] is None and draft["favicon"] is None
    assert _state(whitelabel_runtime, second) == ([], 0, [])


# --- refused posts: clear errors next to their fields, nothing stored --------------------------


BAD_FIELDS: list[tuple[dict[str, str], str, str]] = [
    ({"tokens.primary": "red;}body{background:url(https://evil.example/x)"}, "tokens.primary",
     "colour"),
    ({"tokens.primary": "url(javascript:alert(1))"}, "tokens.primary", "colour"),
    ({"tokens.text": "expression(alert(1))"}, "tokens.text", "colour"),
    ({"tokens.background": "#12345"}, "tokens.background", "colour"),
    ({"tokens.on_primary": "rgba(0,0,0,0.5)"}, "tokens.on_primary", ""),
    ({"app_name": ""}, "app_name", "empty"),
    ({"app_name": "x" * 61}, "app_name", "60"),
    ({"app_name": "Bad\u202eName"}, "app_name", "control"),
    ({"email_sender_name": 'Eve" <eve@evil.example>'}, "email_sender_name", ""),
    ({"support_url": "javascript:alert(1)"}, "support_url", "https://"),
    ({"terms_url": "https://user:pw@example.org/"}, "terms_url", "user name"),
    ({"privacy_url": "ftp://example.org/privacy"}, "privacy_url", "https://"),
    ({"font": "Comic Sans"}, "font", "one of"),
    ({"font": "system; } body { color: red"}, "font", "one of"),
    ({"radius": "33"}, "radius", "between"),
    ({"radius": "-1"}, "radius", "between"),
    ({"radius": "12px"}, "radius", "whole number"),
    ({"default_locale": "en_US; drop"}, "default_locale", "language tag"),
    ({"copy.hero": "x" * 5001}, "copy.hero", "5000"),
    ({"copy.footer": "bell \x07"}, "copy.footer", "control"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "field", "says"), BAD_FIELDS)
def test_refused_field_is_shown_next_to_it_and_nothing_is_stored(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
    changes: dict[str, str],
    field: str,
    says: str,
) -> None:
    first, second = tenant_pair
    client = _owner(tenant_client, first)
    before = _state(whitelabel_runtime, first)
    response = _post(client, {**changes, "tagline": "Changed too"}, action="publish")
    assert response.status_code == 422, response.text
    messages = _errors(response, field)
    assert messages, response.text
    assert says.lower() in " ".join(messages).lower()
    assert 'aria-invalid="true"' in response.text
    assert 'value="Changed too"' in response.text  # the form comes back as typed
    assert _state(whitelabel_runtime, first) == before
    assert _state(whitelabel_runtime, second) == ([], 0, [])


def test_low_contrast_is_refused_with_its_ratio(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    client = _owner(tenant_client, first)
    before = _state(whitelabel_runtime, first)
    # #777777 on white is 4.47:1, just under AA; campus text is dark on a light background.
    response = _post(client, {"tokens.text": "#777777", "tokens.background": "#ffffff"})
    assert response.status_code == 422
    (message,) = _errors(response, "tokens.text")
    assert "4.47:1" in message and "4.5:1" in message
    assert 'data-ratio="4.47"' in response.text
    # The contrast list shows the failing pair with its warning visible.
    row = re.search(
        r'<li data-role="pair" data-fg="text" data-bg="background"[^>]*>', response.text
    )
    assert row is not None and 'class="fail"' in row.group(0)
    assert _state(whitelabel_runtime, first) == before
    # 4.5:1 exactly passes: #767676 on white is 4.54:1.
    ok = _post(client, {"tokens.text": "#767676", "tokens.background": "#ffffff"})
    assert ok.status_code == 303, ok.text


BAD_UPLOADS: list[tuple[str, bytes, str]] = [
    ("logo.png", b"GIF89a" + b"\x00" * 100, "GIF"),  # a GIF named .png: sniffed by content
    ("logo.png", b"<?php echo 1; ?>\x89PNG", ""),  # a polyglot
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', ""),
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', ""),
    ("logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, ""),  # a damaged PNG
    ("big.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024 + 1), "at most"),
]


@pytest.mark.parametrize(("name", "data", "says"), BAD_UPLOADS)
def test_refused_upload_is_shown_next_to_its_field_and_nothing_is_stored(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
    name: str,
    data: bytes,
    says: str,
) -> None:
    first, _ = tenant_pair
    client = _owner(tenant_client, first)
    before = _state(whitelabel_runtime, first)
    response = _post(
        client,
        {"app_name": "Would Change"},
        files={"logo": (name, data, "image/png")},
    )
    assert response.status_code == 422, response.text
    messages = _errors(response, "logo")
    assert messages and says.lower() in " ".join(messages).lower()
    assert _state(whitelabel_runtime, first) == before


def test_a_bomb_is_refused_before_it_is_decoded(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    client = _owner(tenant_client, first)
    before = _state(whitelabel_runtime, first)
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")  # 400 MP, a few KB on disk
    response = _post(client, {}, files={"favicon": ("icon.png", bomb.getvalue(), "image/png")})
    assert response.status_code == 422
    assert _errors(response, "favicon")
    assert _state(whitelabel_runtime, first) == before


@pytest.mark.parametrize(
    ("build", "status"),
    [
        (lambda data: {**data, "action": "delete"}, 400),
        (lambda data: {**data, "tokens.primary": ["#111111", "#222222"]}, 400),
        (lambda data: {**data, "tagline": "x" * 2001}, 400),
    ],
)
def test_malformed_forms_are_refused(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
    build: Any,
    status: int,
) -> None:
    first, _ = tenant_pair
    client = _owner(tenant_client, first)
    before = _state(whitelabel_runtime, first)
    page = client.get(PAGE)
    data = build({**_form_fields(page.text), "action": "save", "csrf_token": _token(page)})
    response = client.post(PAGE, data=data, files={"logo": ("", b"", "text/plain")})
    assert response.status_code == status, response.text
    assert 'role="alert"' in response.text
    assert _state(whitelabel_runtime, first) == before


def test_text_in_an_upload_field_and_posts_that_are_not_forms(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    client = _owner(tenant_client, first)
    before = _state(whitelabel_runtime, first)
    page = client.get(PAGE)
    token = _token(page)
    fields = {**_form_fields(page.text), "action": "save", "csrf_token": token}
    as_text = client.post(PAGE, data={**fields, "logo": "not a file"})
    assert as_text.status_code == 400
    assert _errors(as_text, "logo")
    as_json = client.post(PAGE, json={"app_name": "X"}, headers={"x-csrf-token": token})
    assert as_json.status_code == 415
    no_token = client.post(PAGE, data={**fields, "csrf_token": ""}, files={"x": ("", b"")})
    assert no_token.status_code == 403
    assert _state(whitelabel_runtime, first) == before


def test_publish_without_changes_and_restore_of_a_missing_version(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    client = _owner(tenant_client, first)
    before = _state(whitelabel_runtime, first)
    nothing = _post(client, {}, action="publish")
    assert nothing.status_code == 409
    assert "no draft to publish" in nothing.text
    saved_nothing = _post(client, {})
    assert saved_nothing.status_code == 303
    assert 'data-testid="flash">Nothing changed.' in client.get(PAGE).text
    token = _token(client.get(PAGE))
    for version in ("1", "0", "-1", "99999999999999999999", "2147483648", "1e3", "%C2%B9"):
        response = client.post(f"{PAGE}/versions/{version}/restore", data={"csrf_token": token})
        assert response.status_code == 404, (version, response.text)
        assert "There is no published version" in response.text
    assert _state(whitelabel_runtime, first) == before
