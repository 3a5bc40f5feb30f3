"""Accounts on a real server: sign-up, sign-in, sessions and the audit log, on two tenants.

Every test acts on one tenant and looks at both schemas directly, so a row that reached the other
tenant (or a cookie that worked there) fails the test.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tenants.schemas import TenantView
from tests.integration.accounts_support import (
    PASSWORD,
    ClientFor,
    csrf_cookie,
    csrf_headers,
    session_token,
)
from whitelabel.accounts.controllers import SESSION_COOKIE
from whitelabel.accounts.models import Session, User
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent


def _signup(client: httpx.Client, email: str, password: str = PASSWORD, name: str = "Ada") -> Any:
    body = {"email": email, "password": password, "display_name": name}
    return client.post("/api/v1/auth/signup", json=body, headers=csrf_headers(client))


def _login(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    body = {"email": email, "password": password}
    return client.post("/api/v1/auth/login", json=body, headers=csrf_headers(client))


def _me(client: httpx.Client, token: str) -> httpx.Response:
    """``GET /api/v1/me`` with exactly this cookie (not the client's jar)."""
    client.cookies.clear()
    return client.get("/api/v1/me", headers={"cookie": f"{SESSION_COOKIE}={token}"})


def _users(runtime: Runtime, tenant: TenantView) -> list[tuple[str, str, str]]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.execute(select(User.email, User.role, User.status).order_by(User.created_at))
        return [(email, role, status) for email, role, status in rows]


def _session_ids(runtime: Runtime, tenant: TenantView) -> list[str]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        return list(session.scalars(select(Session.id)))


def _actions(runtime: Runtime, tenant: TenantView, prefix: str = "user.") -> list[str]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.at)
        )
        return list(rows)


def test_signup_me_logout_login_on_two_tenants(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    for tenant in tenant_pair:
        client = tenant_client(tenant)
        email = f"ada@{tenant.slug}.example.org"
        signed_up = _signup(client, email)
        assert signed_up.status_code == 201, signed_up.text
        first_token = session_token(signed_up)
        cookie = signed_up.headers["set-cookie"].lower()
        for attribute in ("httponly", "samesite=lax", "path=/", "max-age=2592000"):
            assert attribute in cookie
        assert "domain" not in cookie  # host-only
        assert "secure" not in cookie  # plain http here; https requests get Secure
        me = _me(client, first_token)
        assert me.status_code == 200
        body = me.json()
        assert body == {
            "id": body["id"],
            "email": email,
            "display_name": "Ada",
            "role": "owner",  # the first user of the tenant
            "tenant": {"slug": tenant.slug, "name": tenant.name},
        }
        assert signed_up.json() == body

        logged_out = client.post(
            "/api/v1/auth/logout",
            headers={
                "cookie": f"{SESSION_COOKIE}={first_token}",
                "x-csrf-token": csrf_cookie(signed_up),
            },
        )
        assert logged_out.status_code == 204
        assert _me(client, first_token).json()["code"] == "not_authenticated"

        logged_in = _login(client, email.upper())
        assert logged_in.status_code == 200
        assert logged_in.json() == body
        second_token = session_token(logged_in)
        assert second_token != first_token  # a new session on every login
        assert _me(client, second_token).json() == body
        assert _me(client, first_token).status_code == 401

        assert _signup(client, f"bob@{tenant.slug}.example.org").json()["role"] == "member"

        # Only hashes of the tokens are stored, in this tenant's schema.
        stored = _session_ids(whitelabel_runtime, tenant)
        assert hashlib.sha256(second_token.encode()).hexdigest() in stored
        assert first_token not in stored and second_token not in stored

    for tenant in tenant_pair:
        assert [email for email, _, _ in _users(whitelabel_runtime, tenant)] == [
            f"ada@{tenant.slug}.example.org",
            f"bob@{tenant.slug}.example.org",
        ]
        assert _actions(whitelabel_runtime, tenant) == [
            "user.signup",
            "user.logout",
            "user.login",
            "user.signup",
        ]


def test_same_email_in_two_tenants_is_two_users_and_cookies_do_not_travel(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    one, two = tenant_client(first), tenant_client(second)
    a = _signup(one, "same@example.org", password="first tenant password")
    b = _signup(two, "Same@Example.org", password="second tenant password")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert a.json()["role"] == b.json()["role"] == "owner"

    token_a = session_token(a)
    stolen = _me(tenant_client(second), token_a)
    assert stolen.status_code == 401
    assert stolen.json()["code"] == "not_authenticated"
    assert _me(one, token_a).json()["tenant"]["slug"] == first.slug

    # A's password does not open B's account with the same email.
    assert _login(two, "same@example.org", "first tenant password").status_code == 401
    assert _login(two, "same@example.org", "second tenant password").status_code == 200
    for tenant in tenant_pair:
        assert _users(whitelabel_runtime, tenant) == [("same@example.org", "owner", "active")]


def test_wrong_password_and_unknown_email_answer_the_same(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = tenant_client(first)
    assert _signup(client, "known@example.org").status_code == 201
    answers = [
        _login(client, "known@example.org", "wrong password!"),
        _login(client, "unknown@example.org", "wrong password!"),
        _login(client, "not an email", "wrong password!"),
    ]
    assert {a.status_code for a in answers} == {401}
    assert {a.json()["code"] for a in answers} == {"invalid_credentials"}
    assert len({a.content for a in answers}) == 1
    assert all("set-cookie" not in a.headers for a in answers)
    # The failures are audited (committed despite the error), in the first tenant only.
    assert _actions(whitelabel_runtime, first).count("user.login_failed") == 3
    assert _actions(whitelabel_runtime, second) == []
    assert _login(tenant_client(second), "known@example.org").status_code == 401


_LONG = "x" * 10_000
_OK = {"email": "ok@example.org", "password": PASSWORD, "display_name": "Ok"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"password": PASSWORD, "display_name": "Ok"}, 400, "validation_failed"),
        ({"email": "ok@example.org", "display_name": "Ok"}, 400, "validation_failed"),
        ({"email": "ok@example.org", "password": PASSWORD}, 400, "validation_failed"),
        ({**_OK, "email": 42}, 400, "validation_failed"),
        ({**_OK, "password": ["a list"]}, 400, "validation_failed"),
        ({**_OK, "display_name": None}, 400, "validation_failed"),
        ([_OK], 400, "validation_failed"),
        ({**_OK, "email": _LONG + "@example.org"}, 422, "invalid_email"),
        ({**_OK, "password": _LONG}, 422, "weak_password"),
        ({**_OK, "display_name": _LONG}, 422, "invalid_display_name"),
        ({**_OK, "display_name": "   "}, 422, "invalid_display_name"),
        ({**_OK, "display_name": "bell\x07"}, 422, "invalid_display_name"),
        ({**_OK, "email": "no-at-sign.example.org"}, 422, "invalid_email"),
        ({**_OK, "email": "two@@example.org"}, 422, "invalid_email"),
        ({**_OK, "email": "a@localhost"}, 422, "invalid_email"),
        ({**_OK, "email": "a b@example.org"}, 422, "invalid_email"),
        ({**_OK, "email": "a@exa_mple.org"}, 422, "invalid_email"),
        ({**_OK, "email": ""}, 422, "invalid_email"),
        ({**_OK, "email": "p\u0430ypal@example.org"}, 422, "invalid_email"),  # Cyrillic a
        ({**_OK, "email": "ok@\u0435xample.org"}, 422, "invalid_email"),  # Cyrillic e
        ({**_OK, "password": "short"}, 422, "weak_password"),
        ({**_OK, "password": "aaaaaaaaaaaa"}, 422, "weak_password"),
        ({**_OK, "password": "OK@example.org"}, 422, "weak_password"),
    ],
)
def test_bad_signup_is_refused_and_nothing_is_stored(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
    body: Any,
    status: int,
    code: str,
) -> None:
    first, _ = tenant_pair
    response = tenant_client(first).post("/api/v1/auth/signup", json=body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert "set-cookie" not in response.headers
    for tenant in tenant_pair:
        assert _users(whitelabel_runtime, tenant) == []
        assert _session_ids(whitelabel_runtime, tenant) == []
        assert _actions(whitelabel_runtime, tenant) == []


def test_emails_are_normalised_and_unique_per_tenant(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = tenant_client(first)
    # Full-width letters fold to ASCII under NFKC; case does not matter.
    created = _signup(client, " \uff21\uff24\uff21@Example.ORG ")
    assert created.status_code == 201
    assert created.json()["email"] == "ada@example.org"
    taken = _signup(client, "ADA@example.org")
    assert taken.status_code == 409
    assert taken.json()["code"] == "email_taken"
    assert _users(whitelabel_runtime, first) == [("ada@example.org", "owner", "active")]
    assert _users(whitelabel_runtime, second) == []


def test_a_disabled_user_cannot_sign_in_and_loses_sessions(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = tenant_client(first)
    token = session_token(_signup(client, "gone@example.org"))
    other = tenant_client(second)
    other_token = session_token(_signup(other, "gone@example.org"))
    assert _me(client, token).status_code == 200

    with whitelabel_runtime.db.tenant_sync_session(first.context()) as session:
        session.execute(update(User).values(status="disabled"))
        session.commit()

    assert _me(client, token).json()["code"] == "not_authenticated"
    refused = _login(client, "gone@example.org")
    assert refused.status_code == 403
    assert refused.json()["code"] == "account_disabled"
    assert "set-cookie" not in refused.headers
    # A wrong password still gets the answer an unknown email gets.
    wrong = _login(client, "gone@example.org", "wrong password!")
    assert wrong.json() == _login(client, "nobody@example.org", "wrong password!").json()
    # The same email in the other tenant is untouched.
    assert _me(other, other_token).status_code == 200
    assert _users(whitelabel_runtime, second) == [("gone@example.org", "owner", "active")]
