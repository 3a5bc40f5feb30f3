"""Enforced SSO refuses password sign-in for the connection's email domains (API and form),
with one answer whatever the password and whether the account exists; owners keep the
break-glass path; the other tenant, other domains and connections that are off are unaffected."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from tenants.schemas import TenantView
from tests.integration.accounts_support import PASSWORD, ClientFor, csrf_headers, sign_up
from tests.integration.sso.admin_support import audit_rows, idp_metadata
from whitelabel.runtime import Runtime

API = "/api/v1/admin/sso/connections"
_CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]*)">')


def _login(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def _form_login(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    page = client.get("/login")
    match = _CSRF.search(page.text)
    assert match is not None, page.text
    form = {"email": email, "password": password, "csrf_token": html.unescape(match.group(1))}
    return client.post("/login", data=form)


def _connection(owner: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {
        "type": "saml",
        "name": "University IdP",
        "idp_metadata_xml": idp_metadata(),
        "email_domains": ["uni.example"],
        "enabled": True,
        "enforce_sso": True,
        **fields,
    }
    response = owner.post(API, json=body, headers=csrf_headers(owner))
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


def test_enforced_sso_refuses_password_sign_in_for_its_domains(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    owner = tenant_client(first)
    sign_up(owner, "owner@uni.example")
    sign_up(tenant_client(first), "ada@uni.example")
    sign_up(tenant_client(first), "bob@elsewhere.example")
    sign_up(tenant_client(second), "ada@uni.example")  # the other tenant's own user
    connection = _connection(owner)
    sso_url = f"/sso/saml/{connection['id']}/login"

    # Right password, wrong password, unknown account, owner's wrong password: one answer.
    answers = [
        _login(tenant_client(first), email, password)
        for email, password in (
            ("ada@uni.example", PASSWORD),
            ("ADA@uni.example", "wrong password!"),
            ("nobody@uni.example", PASSWORD),
            ("owner@uni.example", "wrong password!"),
        )
    ]
    for answer in answers:
        assert answer.status_code == 403, answer.text
        assert answer.json() == {
            "code": "sso_required",
            "message": "Sign in with University IdP.",
            "detail": {"sso_url": sso_url},
        }
        assert "set-cookie" not in answer.headers
    assert len({a.content for a in answers}) == 1

    page = _form_login(tenant_client(first), "ada@uni.example")
    assert page.status_code == 403
    assert "Sign in with University IdP." in page.text
    assert "wl_session" not in page.headers.get("set-cookie", "")

    # Owners keep the break-glass path; other domains and the other tenant are unaffected.
    assert _login(tenant_client(first), "owner@uni.example").status_code == 200
    assert _form_login(tenant_client(first), "owner@uni.example").status_code == 303
    assert _login(tenant_client(first), "bob@elsewhere.example").status_code == 200
    assert _login(tenant_client(second), "ada@uni.example").status_code == 200

    events = audit_rows(whitelabel_runtime, first)
    failed = [d for a, _, d in events if a == "user.login_failed"]
    assert failed == [{"reason": "sso_required"}] * 5
    logins = [d for a, _, d in events if a == "user.login"]
    assert logins[-3:] == [
        {"break_glass": True, "reason": "sso_required"},
        {"break_glass": True, "reason": "sso_required"},
        {},
    ]
    assert [a for a, _, _ in audit_rows(whitelabel_runtime, second)] == ["user.login"]


def test_only_an_enabled_enforcing_connection_refuses(
    tenant_pair: tuple[TenantView, TenantView], tenant_client: ClientFor
) -> None:
    first, _ = tenant_pair
    owner = tenant_client(first)
    sign_up(owner, "owner@example.org")
    sign_up(tenant_client(first), "ada@uni.example")
    connection = _connection(owner, enforce_sso=False)
    assert _login(tenant_client(first), "ada@uni.example").status_code == 200

    path = f"{API}/{connection['id']}"
    changed = owner.patch(path, json={"enforce_sso": True}, headers=csrf_headers(owner))
    assert changed.status_code == 200, changed.text
    assert _login(tenant_client(first), "ada@uni.example").json()["code"] == "sso_required"

    owner.patch(path, json={"enabled": False}, headers=csrf_headers(owner))
    assert _login(tenant_client(first), "ada@uni.example").status_code == 200

    owner.patch(path, json={"enabled": True}, headers=csrf_headers(owner))
    assert owner.delete(path, headers=csrf_headers(owner)).status_code == 204
    assert _login(tenant_client(first), "ada@uni.example").status_code == 200
