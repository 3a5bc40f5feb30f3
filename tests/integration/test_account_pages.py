"""The account pages and sign-in switches on a real server, on two tenants.

Forms are driven as a browser would: GET the page, read the CSRF token from the form, POST the
form with it (the client's cookie jar carries the CSRF and session cookies). Every test acts on
one tenant and checks that nothing reached the other.
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update

from tenants.schemas import TenantView
from tests.integration.accounts_support import PASSWORD, ClientFor, csrf_headers
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.accounts.models import Session, User
from whitelabel.accounts.pages import safe_next
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent, TenantSetting

_CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]*)">')
SETTINGS = "/api/v1/admin/auth-settings"


# --- helpers -----------------------------------------------------------------------------------


def _token(page: httpx.Response) -> str:
    """The CSRF token of the page's first form."""
    match = _CSRF.search(page.text)
    assert match is not None, page.text
    return html.unescape(match.group(1))


def _submit(client: httpx.Client, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
    """Open ``page``, then post ``data`` with the form's CSRF token to ``action`` (a list value
    sends the field once per item)."""
    opened = client.get(page)
    assert opened.status_code == 200, opened.text
    return client.post(action, data={**data, "csrf_token": _token(opened)})


def _signup(
    client: httpx.Client, email: str, name: str = "Ada", next_: str | None = None
) -> httpx.Response:
    data = {"email": email, "display_name": name, "password": PASSWORD}
    if next_ is not None:
        data["next"] = next_
    return _submit(client, "/signup", "/signup", data)


def _login(
    client: httpx.Client, email: str, password: str = PASSWORD, next_: str | None = None
) -> httpx.Response:
    data = {"email": email, "password": password}
    if next_ is not None:
        data["next"] = next_
    return _submit(client, "/login", "/login", data)


def _me(client: httpx.Client) -> httpx.Response:
    return client.get("/api/v1/me")


def _users(runtime: Runtime, tenant: TenantView) -> list[tuple[str, str, str]]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.execute(select(User.email, User.role, User.status).order_by(User.email))
        return [(email, role, status) for email, role, status in rows]


def _user_id(runtime: Runtime, tenant: TenantView, email: str) -> str:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        return str(session.scalar(select(User.id).where(User.email == email)))


def _live_sessions(runtime: Runtime, tenant: TenantView) -> int:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        return len(list(session.scalars(select(Session.id).where(Session.revoked_at.is_(None)))))


def _events(runtime: Runtime, tenant: TenantView, *actions: str) -> list[tuple[str, Any]]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.detail)
            .where(AuditEvent.action.in_(actions))
            .order_by(AuditEvent.at)
        )
        return [(action, detail) for action, detail in rows]


def _settings(runtime: Runtime, tenant: TenantView) -> dict[str, Any]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.execute(
            select(TenantSetting.key, TenantSetting.value).where(
                TenantSetting.key.startswith("auth.")
            )
        )
        return {key: value for key, value in rows}


def _set_switches(client: httpx.Client, **switches: bool) -> httpx.Response:
    return client.patch(SETTINGS, json=switches, headers=csrf_headers(client))


def _owner(client: httpx.Client, domain: str) -> None:
    """Sign the tenant's first user (its owner) up in ``client``."""
    response = _signup(client, f"owner@{domain}", "Olga Owner")
    assert response.status_code == 303, response.text


def _assert_page_headers(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # default-src 'none': no script at all


# --- pages and their headers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/login", "Sign in to {name}"),
        ("/signup", "Create your {name} account"),
        ("/logout", "Sign out of {name}"),
    ],
)
def test_pages_render_with_the_tenant_name(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
    path: str,
    heading: str,
) -> None:
    for tenant, other in (tenant_pair, tenant_pair[::-1]):
        response = tenant_client(tenant).get(path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/html")
        _assert_page_headers(response)
        text = response.text
        assert f"<title>{html.escape(tenant.name)}" in text or f"· {tenant.name}</title>" in text
        assert f"<h1>{heading.format(name=tenant.name)}</h1>" in text
        assert other.name not in text
        assert "<script" not in text
        assert "http://" not in text and "https://" not in text  # no external resource
        for field in re.findall(r'<input id="([a-z_]+)"', text):
            assert f'<label for="{field}">' in text  # every visible input is labelled
    # The platform host has none of these pages.
    console = tenant_client(whitelabel_runtime.settings.platform_host)
    assert console.get(path).status_code == 404
    assert console.post(path, data={"email": "a@example.org"}).status_code in (403, 404)


def test_landing_page_uses_the_layout_and_keeps_its_hooks(
    tenant_pair: tuple[TenantView, TenantView], tenant_client: ClientFor
) -> None:
    first, second = tenant_pair
    text = tenant_client(first).get("/").text
    assert f"<title>{first.name}</title>" in text
    assert f'data-testid="app-name">{first.name}<' in text
    assert f'data-testid="slug">{first.slug}<' in text
    assert 'data-testid="schema"' in text
    assert second.name not in text


# --- sign-up, sign-out, sign-in through the forms -------------------------------------------------


def test_form_signup_logout_and_login(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = tenant_client(first)
    signed_up = _signup(client, "ada@example.org", "Ada Lovelace")
    assert signed_up.status_code == 303, signed_up.text
    assert signed_up.headers["location"] == "/"
    assert client.cookies.get(SESSION_COOKIE)
    me = _me(client).json()
    assert (me["email"], me["role"]) == ("ada@example.org", "owner")
    assert me["tenant"]["slug"] == first.slug

    # GET /logout changes nothing; it shows a button that posts the form.
    page = client.get("/logout")
    assert page.status_code == 200
    assert "ada@example.org" in page.text
    assert _me(client).status_code == 200
    signed_out = client.post("/logout", data={"csrf_token": _token(page)})
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/login"
    assert SESSION_COOKIE not in client.cookies
    assert _me(client).status_code == 401
    assert _live_sessions(whitelabel_runtime, first) == 0

    signed_in = _login(client, "ADA@example.org", next_="/admin/users")
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == "/admin/users"
    assert _me(client).json()["email"] == "ada@example.org"
    admin = client.get("/admin/users")
    assert admin.status_code == 200
    assert "ada@example.org" in admin.text

    assert _users(whitelabel_runtime, first) == [("ada@example.org", "owner", "active")]
    assert _users(whitelabel_runtime, second) == []
    actions = [a for a, _ in _events(whitelabel_runtime, first, "user.signup", "user.logout",
                                     "user.login")]  # fmt: skip
    assert actions == ["user.signup", "user.logout", "user.login"]
    assert _events(whitelabel_runtime, second, "user.signup", "user.login") == []


def test_login_errors_rerender_the_form_with_the_email_but_never_the_password(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    client = tenant_client(first)
    assert _signup(client, "ada@example.org").status_code == 303
    client.cookies.clear()
    secret = "wrong-but-secret-password"
    cases = [
        ({"email": "ada@example.org", "password": secret}, 401, "password is wrong"),
        ({"email": "nobody@example.org", "password": secret}, 401, "password is wrong"),
        ({"email": "ada@example.org"}, 400, "Enter your password."),
        ({"email": "   ", "password": secret}, 400, "Enter your email address."),
        ({"password": secret}, 400, "Enter your email address."),
        ({"email": "x" * 5000, "password": secret}, 400, "too long"),
    ]
    for data, status, message in cases:
        response = _submit(client, "/login", "/login", data)
        assert response.status_code == status, (data, response.text)
        assert message in response.text
        assert secret not in response.text
        assert SESSION_COOKIE not in client.cookies
        _assert_page_headers(response)
        email = data.get("email", "")
        if email.strip() and len(email) < 1000:
            assert f'value="{email}"' in response.text  # the entered email is kept
    # A disabled account: 403 with its own message.
    with whitelabel_runtime.db.tenant_sync_session(first.context()) as session:
        session.execute(update(User).values(status="disabled"))
        session.commit()
    refused = _login(client, "ada@example.org")
    assert refused.status_code == 403
    assert "This account is disabled." in refused.text


def test_signup_errors_are_shown_next_to_their_field_and_nothing_is_stored(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = tenant_client(first)
    secret = "a-secret-password-1"
    ok = {"email": "ok@example.org", "display_name": "Ok", "password": secret}
    cases: list[tuple[Any, int, str, str]] = [
        ({**ok, "email": ""}, 400, "email", "Enter your email address."),
        ({k: v for k, v in ok.items() if k != "display_name"}, 400, "display_name", "Enter"),
        ({k: v for k, v in ok.items() if k != "password"}, 400, "password", "Enter"),
        ({**ok, "email": "x" * 5000}, 400, "email", "too long"),
        ({**ok, "display_name": "n" * 5000}, 400, "display_name", "too long"),
        ({**ok, "password": "p" * 5000}, 400, "password", "too long"),
        ({**ok, "display_name": "n" * 200}, 422, "display_name", "1-100 printable"),
        ({**ok, "display_name": "bell\x07"}, 422, "display_name", "printable"),
        ({**ok, "password": "short"}, 422, "password", ""),
        ({**ok, "email": "p\u0430ypal@example.org"}, 422, "email", "not a valid email"),
        ({**ok, "email": "ok@\u0435xample.org"}, 422, "email", "not a valid email"),
        ({**ok, "email": "two@@example.org"}, 422, "email", "not a valid email"),
        (
            {**ok, "email": ["a@example.org", "b@example.org"]},
            400, "email", "Send this field once",
        ),
    ]  # fmt: skip
    for data, status, field, message in cases:
        response = _submit(client, "/signup", "/signup", data)
        assert response.status_code == status, (data, response.text)
        error = re.search(rf'data-testid="{field}-error">([^<]*)<', response.text)
        assert error is not None, (data, response.text)
        assert message in html.unescape(error.group(1))
        assert f'id="{field}" name="{field}"' in response.text
        assert 'aria-invalid="true"' in response.text
        assert secret not in response.text
        assert SESSION_COOKIE not in client.cookies
    # Not a form at all: a JSON body, a file in place of a field.
    token = _token(client.get("/signup"))
    as_json = client.post(
        "/signup", json={**ok, "csrf_token": token}, headers={"x-csrf-token": token}
    )
    assert as_json.status_code in (403, 415), as_json.text  # CSRF or media type refuses it
    as_file = client.post(
        "/signup",
        data={"display_name": "Ok", "password": secret, "csrf_token": token},
        files={"email": ("email.txt", b"ok@example.org", "text/plain")},
    )
    assert as_file.status_code == 400, as_file.text
    assert "Send this field once, as text." in as_file.text
    for tenant in (first, second):
        assert _users(whitelabel_runtime, tenant) == []
        assert _live_sessions(whitelabel_runtime, tenant) == 0
        assert _events(whitelabel_runtime, tenant, "user.signup", "user.login") == []
    # The same form, right, works; the taken address is then refused next to its field.
    assert _signup(client, "ok@example.org").status_code == 303
    client.cookies.clear()
    taken = _signup(client, "OK@example.org")
    assert taken.status_code == 409
    assert "already registered" in taken.text
    assert _users(whitelabel_runtime, first) == [("ok@example.org", "owner", "active")]


def test_forms_need_their_csrf_token(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = tenant_client(first)
    form = {"email": "ada@example.org", "display_name": "Ada", "password": PASSWORD}
    token = _token(client.get("/signup"))
    foreign = tenant_client(second)
    foreign_token = _token(foreign.get("/signup"))
    for data in (form, {**form, "csrf_token": "forged"}, {**form, "csrf_token": foreign_token}):
        refused = client.post("/signup", data=data)
        assert refused.status_code == 403, refused.text
    # The other tenant's token and cookie together are still another tenant's.
    client.cookies.clear()
    crossed = client.post(
        "/signup",
        data={**form, "csrf_token": foreign_token},
        headers={"cookie": f"wl_csrf={foreign.cookies['wl_csrf']}"},
    )
    assert crossed.status_code == 403
    assert "CSRF token is not valid" in crossed.text
    assert _users(whitelabel_runtime, first) == []
    client.cookies.clear()
    token = _token(client.get("/signup"))
    assert client.post("/signup", data={**form, "csrf_token": token}).status_code == 303
    # Signed in, the form token is bound to the session: the old anonymous one is refused.
    page = client.get("/logout")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 403
    assert _me(client).status_code == 200
    assert client.post("/logout", data={"csrf_token": _token(page)}).status_code == 303
    assert _me(client).status_code == 401


def test_too_many_failed_sign_ins_get_429_on_the_page(
    tenant_pair: tuple[TenantView, TenantView], tenant_client: ClientFor
) -> None:
    first, _ = tenant_pair
    client = tenant_client(first)
    assert _signup(client, "ada@example.org").status_code == 303
    client.cookies.clear()
    statuses = [_login(client, "ada@example.org", "wrong password!").status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    limited = _login(client, "ada@example.org")  # even the right password waits now
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "Too many attempts" in limited.text
    assert 'value="ada@example.org"' in limited.text
    assert SESSION_COOKIE not in client.cookies


# --- open redirects -------------------------------------------------------------------------------

HOSTILE_NEXT = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/\u2215evil.example",
    "/" + "a" * 3000,
    "",
]


@pytest.mark.parametrize("raw", HOSTILE_NEXT)
def test_safe_next_refuses_anything_but_a_local_path(raw: str) -> None:
    assert safe_next(raw) == "/"


@pytest.mark.parametrize("raw", ["/", "/admin/users", "/admin/users?q=a&role=member", "/a/b#c"])
def test_safe_next_keeps_local_paths(raw: str) -> None:
    assert safe_next(raw) == raw


def test_open_redirects_through_next_are_refused(
    tenant_pair: tuple[TenantView, TenantView], tenant_client: ClientFor
) -> None:
    first, _ = tenant_pair
    client = tenant_client(first)
    signed_up = _signup(client, "ada@example.org", next_="//evil.example/")
    assert signed_up.headers["location"] == "/"
    for raw in HOSTILE_NEXT[:12]:
        client.cookies.clear()
        response = _login(client, "ada@example.org", next_=raw)
        assert response.status_code == 303, raw
        assert response.headers["location"] == "/", raw
        # The page never carries a refused target either.
        page = client.get("/login", params={"next": raw})
        assert "evil.example" not in page.text
    client.cookies.clear()
    kept = _login(client, "ada@example.org", next_="/admin/users?role=member")
    assert kept.headers["location"] == "/admin/users?role=member"


# --- sign-in switches -----------------------------------------------------------------------------


def test_self_signup_switch_closes_api_and_page(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    owner = tenant_client(first)
    _owner(owner, "example.org")
    assert owner.get("/api/v1/auth/options").json() == {"self_signup": True, "password_login": True}
    assert 'data-testid="signup-link"' in tenant_client(first).get("/login").text

    changed = _set_switches(owner, self_signup=False)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"self_signup": False, "password_login": True}
    assert owner.get(SETTINGS).json() == {"self_signup": False, "password_login": True}
    assert _settings(whitelabel_runtime, first) == {"auth.self_signup": False}

    visitor = tenant_client(first)
    options = visitor.get("/api/v1/auth/options")
    assert options.json() == {"self_signup": False, "password_login": True}
    api = visitor.post(
        "/api/v1/auth/signup",
        json={"email": "new@example.org", "password": PASSWORD, "display_name": "New"},
    )
    assert api.status_code == 403
    assert api.json()["code"] == "signup_disabled"
    page = visitor.get("/signup")
    assert page.status_code == 403
    assert "Sign-up is closed" in page.text
    _assert_page_headers(page)
    posted = visitor.post(
        "/signup",
        data={"email": "new@example.org", "password": PASSWORD, "display_name": "New",
              "csrf_token": _token(visitor.get("/login"))},
    )  # fmt: skip
    assert posted.status_code == 403
    assert "Sign-up is closed" in posted.text
    assert 'data-testid="signup-link"' not in visitor.get("/login").text
    assert _users(whitelabel_runtime, first) == [("owner@example.org", "owner", "active")]

    # The other tenant is not affected, and its first user still becomes its owner.
    other = tenant_client(second)
    assert other.get("/api/v1/auth/options").json()["self_signup"] is True
    assert _signup(other, "new@example.org").status_code == 303
    assert _settings(whitelabel_runtime, second) == {}

    assert _events(whitelabel_runtime, first, "auth_settings.changed") == [
        ("auth_settings.changed", {"self_signup": {"from": True, "to": False}})
    ]
    # Setting it again changes nothing and records nothing; turning it on opens sign-up again.
    assert _set_switches(owner, self_signup=False).status_code == 200
    assert len(_events(whitelabel_runtime, first, "auth_settings.changed")) == 1
    assert _set_switches(owner, self_signup=True).json()["self_signup"] is True
    assert _signup(tenant_client(first), "late@example.org").status_code == 303


def test_password_login_switch_keeps_an_owner_fallback(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    owner = tenant_client(first)
    _owner(owner, "example.org")
    assert _signup(tenant_client(first), "mia@example.org", "Mia").status_code == 303
    assert _signup(tenant_client(second), "mia@example.org", "Mia").status_code == 303
    assert _set_switches(owner, password_login=False).json() == {
        "self_signup": True,
        "password_login": False,
    }

    # Members: right password, wrong password, unknown email: one answer (nothing is revealed).
    answers = [
        tenant_client(first).post("/api/v1/auth/login", json={"email": email, "password": pw})
        for email, pw in (
            ("mia@example.org", PASSWORD),
            ("mia@example.org", "wrong password!"),
            ("nobody@example.org", PASSWORD),
            ("owner@example.org", "wrong password!"),
        )
    ]
    assert {a.status_code for a in answers} == {403}
    assert {a.json()["code"] for a in answers} == {"password_login_disabled"}
    assert len({a.content for a in answers}) == 1
    assert all("set-cookie" not in a.headers for a in answers)
    page = _login(tenant_client(first), "mia@example.org")
    assert page.status_code == 403
    assert "Password sign-in is turned off" in page.text
    assert 'data-testid="password-login-off"' in page.text

    # The owner's break-glass sign-in works, and says so in the audit log.
    fallback = _login(tenant_client(first), "owner@example.org")
    assert fallback.status_code == 303, fallback.text
    logins = _events(whitelabel_runtime, first, "user.login")
    assert logins[-1] == ("user.login", {"break_glass": True})
    failed = _events(whitelabel_runtime, first, "user.login_failed")
    assert [d for _, d in failed] == [{"reason": "password_login_disabled"}] * 5

    # The other tenant still signs in with passwords.
    other = tenant_client(second).post(
        "/api/v1/auth/login", json={"email": "mia@example.org", "password": PASSWORD}
    )
    assert other.status_code == 200
    assert tenant_client(second).get("/api/v1/auth/options").json()["password_login"] is True


def test_auth_settings_need_an_admin(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    owner = tenant_client(first)
    _owner(owner, "example.org")
    member = tenant_client(first)
    assert _signup(member, "mia@example.org", "Mia").status_code == 303
    anonymous = tenant_client(first)
    for method in ("GET", "PATCH"):
        body = {"self_signup": False} if method == "PATCH" else None
        nobody = anonymous.request(method, SETTINGS, json=body)
        assert (nobody.status_code, nobody.json()["code"]) == (401, "not_authenticated")
        refused = member.request(method, SETTINGS, json=body, headers=csrf_headers(member))
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    # The owner of the second tenant cannot touch the first, even with its own cookie.
    other_owner = tenant_client(second)
    _owner(other_owner, "example.org")
    cookie = {"cookie": f"{SESSION_COOKIE}={other_owner.cookies.get(SESSION_COOKIE)}"}
    anonymous.cookies.clear()
    crossed = anonymous.patch(SETTINGS, json={"self_signup": False}, headers=cookie)
    assert crossed.status_code in (401, 403)
    assert _settings(whitelabel_runtime, first) == {}
    # The platform host has no such route.
    console = tenant_client(whitelabel_runtime.settings.platform_host)
    assert console.get(SETTINGS).status_code == 404
    assert console.get("/api/v1/auth/options").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"self_signup": "false"}, 422, "invalid_setting"),
        ({"self_signup": 0}, 422, "invalid_setting"),
        ({"password_login": 1}, 422, "invalid_setting"),
        ({"self_signup": None}, 422, "invalid_setting"),
        ({"self_signup": [False]}, 422, "invalid_setting"),
        ({"self_signup": False, "password_login": "no"}, 422, "invalid_setting"),
        ({"selfSignup": False}, 422, "unknown_field"),
        ({"self_signup": False, "x" * 10_000: True}, 422, "unknown_field"),
        ([{"self_signup": False}], 400, "validation_failed"),
        ("self_signup", 400, "validation_failed"),
        (None, 400, "validation_failed"),
    ],
)
def test_bad_auth_settings_change_nothing(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
    body: Any,
    status: int,
    code: str,
) -> None:
    first, second = tenant_pair
    owner = tenant_client(first)
    _owner(owner, "example.org")
    response = owner.patch(SETTINGS, json=body, headers=csrf_headers(owner))
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    for tenant in (first, second):
        assert _settings(whitelabel_runtime, tenant) == {}
        assert _events(whitelabel_runtime, tenant, "auth_settings.changed") == []
    assert owner.get(SETTINGS).json() == {"self_signup": True, "password_login": True}


# --- /admin/users ---------------------------------------------------------------------------------


def test_admin_page_guard(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    anonymous = tenant_client(first).get("/admin/users")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/admin/users"
    with_query = tenant_client(first).get("/admin/users", params={"q": "a&b", "role": "admin"})
    assert with_query.headers["location"] == "/login?next=/admin/users%3Fq%3Da%2526b%26role%3Dadmin"

    owner = tenant_client(first)
    _owner(owner, "example.org")
    member = tenant_client(first)
    assert _signup(member, "mia@example.org", "Mia").status_code == 303
    refused = member.get("/admin/users")
    assert refused.status_code == 403
    assert "Admins only" in refused.text
    assert "owner@example.org" not in refused.text
    _assert_page_headers(refused)
    target = _user_id(whitelabel_runtime, first, "owner@example.org")
    posted = member.post(
        f"/admin/users/{target}",
        data={"action": "disable", "csrf_token": _token(member.get("/logout"))},
    )
    assert posted.status_code == 403
    assert _users(whitelabel_runtime, first)[1] == ("owner@example.org", "owner", "active")

    page = owner.get("/admin/users")
    assert page.status_code == 200
    _assert_page_headers(page)
    assert f"Users of {first.name}" in page.text
    assert "mia@example.org" in page.text

    # The other tenant's owner cookie is nobody here.
    other = tenant_client(second)
    _owner(other, "example.org")
    stranger = tenant_client(first)
    cookie = {"cookie": f"{SESSION_COOKIE}={other.cookies.get(SESSION_COOKIE)}"}
    crossed = stranger.get("/admin/users", headers=cookie)
    assert crossed.status_code == 303
    assert crossed.headers["location"].startswith("/login")
    assert "mia@example.org" not in other.get("/admin/users").text


def _rows(page: httpx.Response) -> dict[str, tuple[str, str]]:
    """email -> (role, status) of the table on an admin page."""
    rows = re.findall(
        r'data-email="([^"]+)">.*?data-testid="role">(\w+)<.*?data-testid="status">(\w+)<',
        page.text,
        re.S,
    )
    return {email: (role, status) for email, role, status in rows}


def _act(client: httpx.Client, user_id: str, **data: str) -> httpx.Response:
    token = _token(client.get("/admin/users"))
    return client.post(f"/admin/users/{user_id}", data={**data, "csrf_token": token})


def test_admin_actions_through_forms(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    owner = tenant_client(first)
    _owner(owner, "example.org")
    mia = tenant_client(first)
    assert _signup(mia, "mia@example.org", "Mia").status_code == 303
    tom = tenant_client(first)
    assert _signup(tom, "tom@example.org", "Tom").status_code == 303
    mia_id = _user_id(whitelabel_runtime, first, "mia@example.org")
    tom_id = _user_id(whitelabel_runtime, first, "tom@example.org")

    promoted = _act(owner, mia_id, action="role", role="admin", back="/admin/users?q=mia")
    assert promoted.status_code == 303, promoted.text
    assert promoted.headers["location"] == "/admin/users?q=mia"
    shown = owner.get(promoted.headers["location"])
    assert "mia@example.org is now admin." in shown.text
    assert _rows(shown) == {"mia@example.org": ("admin", "active")}
    assert "is now admin" not in owner.get("/admin/users").text  # the flash is shown once
    assert _me(mia).status_code == 401  # a privilege change ends the sessions
    # A form posted from a page whose session has ended since: back to sign-in, nothing done.
    stale = mia.post(
        f"/admin/users/{tom_id}", data={"action": "disable", "csrf_token": mia.cookies["wl_csrf"]}
    )
    assert stale.status_code == 303
    assert stale.headers["location"] == "/login?next=/admin/users"
    assert ("tom@example.org", "member", "active") in _users(whitelabel_runtime, first)

    disabled = _act(owner, tom_id, action="disable")
    assert disabled.headers["location"] == "/admin/users"
    assert _me(tom).status_code == 401
    assert "tom@example.org is disabled" in owner.get("/admin/users").text
    assert _act(owner, tom_id, action="enable").status_code == 303
    assert _login(tom, "tom@example.org").status_code == 303
    revoked = _act(owner, tom_id, action="revoke_sessions")
    assert revoked.status_code == 303
    assert "Ended 1 session of tom@example.org." in owner.get("/admin/users").text
    assert _me(tom).status_code == 401

    # Refused actions: the list with the error and the error's status; nothing changes.
    owner_id = _user_id(whitelabel_runtime, first, "owner@example.org")
    before = _users(whitelabel_runtime, first)
    events_before = len(_events(whitelabel_runtime, first, "user.role_changed", "user.disabled"))
    refusals = [
        (owner_id, {"action": "role", "role": "member"}, 409, "at least one active owner"),
        (owner_id, {"action": "disable"}, 409, "cannot disable your own account"),
        (tom_id, {"action": "role", "role": "emperor"}, 422, "The role is one of"),
        (tom_id, {"action": "role"}, 422, "The role is one of"),
        (tom_id, {"action": "explode"}, 422, "Choose what to do"),
        (tom_id, {}, 422, "Choose what to do"),
        (tom_id, {"action": "x" * 5000}, 422, "Choose what to do"),
        (str(uuid.uuid4()), {"action": "disable"}, 404, "no such user"),
        ("not-a-uuid", {"action": "disable"}, 404, "no such user"),
    ]
    for user_id, data, status, message in refusals:
        response = _act(owner, user_id, **data)
        assert response.status_code == status, (data, response.text)
        assert message in html.unescape(response.text)
        assert "tom@example.org" in response.text  # the list is still there
    assert _users(whitelabel_runtime, first) == before
    after = len(_events(whitelabel_runtime, first, "user.role_changed", "user.disabled"))
    assert after == events_before

    # An admin cannot act on an owner (the service's rule, through the page).
    assert _login(mia, "mia@example.org").status_code == 303
    refused = _act(mia, owner_id, action="disable")
    assert refused.status_code == 403
    assert "Only an owner can change an owner." in refused.text
    # A second tenant's user id is simply not found here.
    other = tenant_client(second)
    _owner(other, "example.org")
    foreign = _user_id(whitelabel_runtime, second, "owner@example.org")
    assert _act(owner, foreign, action="disable").status_code == 404
    assert _users(whitelabel_runtime, second) == [("owner@example.org", "owner", "active")]


def test_admin_page_search_filters_and_pages(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    owner = tenant_client(first)
    _owner(owner, "example.org")
    for name in ("amy", "bob", "cat"):
        assert _signup(tenant_client(first), f"{name}@example.org", name.title()).status_code == 303

    found = owner.get("/admin/users", params={"q": "BOB"})
    assert list(_rows(found)) == ["bob@example.org"]
    members = owner.get("/admin/users", params={"role": "member"})
    assert list(_rows(members)) == ["amy@example.org", "bob@example.org", "cat@example.org"]
    assert list(_rows(owner.get("/admin/users", params={"status": "disabled"}))) == []

    first_page = owner.get("/admin/users", params={"role": "member", "limit": "2"})
    assert list(_rows(first_page)) == ["amy@example.org", "bob@example.org"]
    link = re.search(r'<a href="([^"]+)" rel="next"', first_page.text)
    assert link is not None
    second_page = owner.get(html.unescape(link.group(1)))
    assert list(_rows(second_page)) == ["cat@example.org"]
    assert 'rel="next"' not in second_page.text

    for params, message in [
        ({"role": "emperor"}, "The role is one of"),
        ({"status": "gone"}, "The status is one of"),
        ({"after": "not a cursor"}, "cursor is not valid"),
        ({"limit": "0"}, "The limit is 1-100"),
        ({"limit": "abc"}, "The limit is 1-100"),
        ({"q": "q" * 500}, "at most 200 characters"),
    ]:
        response = owner.get("/admin/users", params=params)
        assert response.status_code == 422, params
        assert message in response.text
        assert _rows(response) == {}


def test_a_forged_flash_is_not_shown(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    owner = tenant_client(first)
    _owner(owner, "example.org")
    other = tenant_client(second)
    _owner(other, "example.org")
    assert _signup(tenant_client(second), "mia@example.org", "Mia").status_code == 303
    # A real flash of the second tenant replayed on the first, a hand-made one, a huge one.
    mia = _user_id(whitelabel_runtime, second, "mia@example.org")
    flash = _act(other, mia, action="revoke_sessions").cookies.get("wl_flash")
    assert flash
    assert 'data-testid="flash"' in other.get("/admin/users").text  # genuine: shown
    session = owner.cookies.get(SESSION_COOKIE)
    for value in (flash, "WyJvayIsICJDYWxsIDU1NS0wMTAwIl0.forged", "x" * 3000):
        cookie = f"{SESSION_COOKIE}={session}; wl_flash={value}"
        page = owner.get("/admin/users", headers={"cookie": cookie})
        assert page.status_code == 200
        assert 'data-testid="flash"' not in page.text


# --- the pages of emailed links -------------------------------------------------------------------


def _link(runtime: Runtime, tenant: TenantView, client: httpx.Client, kind: str, path: str) -> str:
    """The token of the newest ``kind`` mail's link to ``path`` (read from the mail outbox)."""
    with runtime.db.sync_engine.connect() as conn:
        body = conn.execute(
            text(
                "SELECT text_body FROM platform.mail_outbox WHERE tenant_id = :tenant"
                " AND kind = :kind ORDER BY created_at DESC, id DESC LIMIT 1"
            ),
            {"tenant": tenant.id, "kind": kind},
        ).scalar_one()
    origin = re.escape(f"http://{client.headers['host']}{path}?token=")
    (token,) = re.findall(origin + r"([A-Za-z0-9_.-]+)", body)
    return str(token)


def _mail_count(runtime: Runtime, tenant: TenantView, kind: str) -> int:
    with runtime.db.sync_engine.connect() as conn:
        count = conn.execute(
            text(
                "SELECT count(*) FROM platform.mail_outbox WHERE tenant_id = :tenant"
                " AND kind = :kind"
            ),
            {"tenant": tenant.id, "kind": kind},
        ).scalar_one()
    return int(count)


def _bad_link_page(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert "This link does not work" in response.text
    _assert_page_headers(response)


def test_password_reset_through_the_pages(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    ada = tenant_client(first)
    assert _signup(ada, "ada@example.org").status_code == 303
    visitor = tenant_client(first)
    assert 'href="/forgot-password"' in visitor.get("/login").text

    for email in ("ADA@example.org", "nobody@example.org"):  # the same answer for both
        asked = _submit(visitor, "/forgot-password", "/forgot-password", {"email": email})
        assert asked.status_code == 303, asked.text
        assert asked.headers["location"] == "/forgot-password?sent=1"
    assert 'data-testid="sent"' in visitor.get("/forgot-password?sent=1").text
    assert _mail_count(whitelabel_runtime, first, "password_reset") == 1
    for data, status, message in [
        ({"email": "p\u0430ypal@example.org"}, 422, "not a valid email"),
        ({"email": ""}, 400, "Enter your email address."),
        ({}, 400, "Enter your email address."),
        ({"email": "x" * 5000}, 400, "too long"),
    ]:
        refused = _submit(visitor, "/forgot-password", "/forgot-password", data)
        assert refused.status_code == status, refused.text
        assert message in html.unescape(refused.text)
    assert _mail_count(whitelabel_runtime, first, "password_reset") == 1

    token = _link(whitelabel_runtime, first, visitor, "password_reset", "/reset-password")
    for _ in range(2):  # opening the link uses nothing up
        opened = visitor.get("/reset-password", params={"token": token})
        assert opened.status_code == 200
        _assert_page_headers(opened)
        assert f'name="token" value="{token}"' in opened.text
    csrf = _token(opened)
    weak = visitor.post(
        "/reset-password", data={"token": token, "password": "short", "csrf_token": csrf}
    )
    assert weak.status_code == 422
    assert 'data-testid="password-error"' in weak.text
    assert f'value="{token}"' in weak.text  # the form keeps the link's token
    new_password = "a brand new password"
    done = visitor.post(
        "/reset-password", data={"token": token, "password": new_password, "csrf_token": csrf}
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/"
    assert _me(visitor).json()["email"] == "ada@example.org"
    assert _me(ada).status_code == 401  # every other session ended
    assert _login(tenant_client(first), "ada@example.org", new_password).status_code == 303

    # Used up; no token; a huge one; the other tenant's host: one "link does not work" page.
    stranger = tenant_client(first)
    again = _submit(
        stranger,
        f"/reset-password?token={token}",
        "/reset-password",
        {"token": token, "password": "yet another password"},
    )
    _bad_link_page(again)
    _bad_link_page(stranger.get("/reset-password"))
    _bad_link_page(stranger.get("/reset-password", params={"token": "t" * 2000}))
    other = tenant_client(second)
    _bad_link_page(
        _submit(
            other,
            f"/reset-password?token={token}",
            "/reset-password",
            {"token": token, "password": "yet another password"},
        )
    )
    assert _users(whitelabel_runtime, second) == []


def test_email_verification_through_the_pages(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    ada = tenant_client(first)
    assert _signup(ada, "ada@example.org").status_code == 303  # the page mails the link too
    token = _link(whitelabel_runtime, first, ada, "email_verify", "/verify-email")

    def verified() -> bool:
        with whitelabel_runtime.db.tenant_sync_session(first.context()) as session:
            return bool(session.scalar(select(User.email_verified)))

    scanner = tenant_client(first)  # a mail scanner opening the link verifies nothing
    opened = scanner.get("/verify-email", params={"token": token})
    assert opened.status_code == 200
    assert "Confirm my email address" in opened.text
    assert not verified()
    confirmed = _submit(scanner, f"/verify-email?token={token}", "/verify-email", {"token": token})
    assert confirmed.status_code == 200, confirmed.text
    assert "ada@example.org is confirmed" in confirmed.text
    assert verified()
    again = _submit(scanner, f"/verify-email?token={token}", "/verify-email", {"token": token})
    _bad_link_page(again)
    _bad_link_page(
        _submit(scanner, "/forgot-password", "/verify-email", {"token": token[:-2] + "xx"})
    )
    _bad_link_page(_submit(scanner, "/forgot-password", "/verify-email", {}))


def test_invitation_through_the_pages_even_with_sign_up_closed(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    owner = tenant_client(first)
    _owner(owner, "example.org")
    assert _set_switches(owner, self_signup=False).status_code == 200
    invited = owner.post(
        "/api/v1/admin/invitations",
        json={"email": "bob@example.org", "role": "admin"},
        headers=csrf_headers(owner),
    )
    assert invited.status_code == 201, invited.text
    bob = tenant_client(first)
    token = _link(whitelabel_runtime, first, bob, "invitation", "/invite")
    page = f"/invite?token={token}"
    opened = bob.get(page)
    assert opened.status_code == 200
    assert f"Join {first.name}" in opened.text
    secret = "bob's secret password"
    for data, status, field in [
        ({"token": token, "password": secret}, 400, "display_name"),
        ({"token": token, "display_name": "Bob"}, 400, "password"),
        ({"token": token, "display_name": "Bob", "password": "short"}, 422, "password"),
        ({"token": token, "display_name": "b" * 200, "password": secret}, 422, "display_name"),
    ]:
        refused = _submit(bob, page, "/invite", data)
        assert refused.status_code == status, (data, refused.text)
        assert f'data-testid="{field}-error"' in refused.text
        assert secret not in refused.text
    assert _users(whitelabel_runtime, first) == [("owner@example.org", "owner", "active")]

    joined = _submit(
        bob, page, "/invite", {"token": token, "display_name": "Bob", "password": secret}
    )
    assert joined.status_code == 303, joined.text
    me = _me(bob).json()
    assert (me["email"], me["role"]) == ("bob@example.org", "admin")
    assert bob.get("/admin/users").status_code == 200
    _bad_link_page(
        _submit(tenant_client(first), page, "/invite",
                {"token": token, "display_name": "Eve", "password": secret})
    )  # fmt: skip
    _bad_link_page(
        _submit(tenant_client(second), page, "/invite",
                {"token": token, "display_name": "Eve", "password": secret})
    )  # fmt: skip
    assert _users(whitelabel_runtime, second) == []
