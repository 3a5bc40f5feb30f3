"""Every route that needs a role refuses everyone without it, on a real server.

The routes are listed here by hand and parametrised; ``test_the_list_covers_every_admin_route``
compares the list with the application's own routes, so a new admin route that is not added here
(or that forgets its guard) fails the suite.

For each route: anonymous → 401 ``not_authenticated`` (pages: a redirect to ``/login``), a
member → 403 ``forbidden``, an owner's cookie from another tenant → 401. The id in a path is a
real user's, so a guard that let a request through would act on something and be noticed.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from litestar import Litestar

from tenants.schemas import TenantView
from tests.integration.accounts_support import ClientFor, csrf_headers, sign_up
from whitelabel.accounts.guards import require_admin, require_owner
from whitelabel.testing.kit import TenantFactory

#: (method, path) of every JSON route that needs an admin or an owner; ``{id}`` is filled in.
API_ROUTES = [
    ("GET", "/api/v1/admin/users"),
    ("PATCH", "/api/v1/admin/users/{id}"),
    ("DELETE", "/api/v1/admin/users/{id}"),
    ("POST", "/api/v1/admin/users/{id}/revoke-sessions"),
    ("GET", "/api/v1/admin/users/{id}/export"),
    ("GET", "/api/v1/admin/invitations"),
    ("POST", "/api/v1/admin/invitations"),
    ("DELETE", "/api/v1/admin/invitations/{id}"),
    ("GET", "/api/v1/admin/auth-settings"),
    ("PATCH", "/api/v1/admin/auth-settings"),
    ("GET", "/api/v1/admin/audit"),
    ("GET", "/api/v1/admin/theme"),
    ("PUT", "/api/v1/admin/theme"),
    ("PUT", "/api/v1/admin/theme/logo"),
    ("PUT", "/api/v1/admin/theme/favicon"),
    ("DELETE", "/api/v1/admin/theme/logo"),
    ("DELETE", "/api/v1/admin/theme/favicon"),
    ("POST", "/api/v1/admin/theme/publish"),
    ("GET", "/api/v1/admin/theme/versions"),
    ("POST", "/api/v1/admin/theme/versions/{id}/restore"),
    ("GET", "/api/v1/admin/theme/preview.css"),
    ("GET", "/api/v1/admin/sso/connections"),
    ("POST", "/api/v1/admin/sso/connections"),
    ("GET", "/api/v1/admin/sso/connections/{id}"),
    ("PATCH", "/api/v1/admin/sso/connections/{id}"),
    ("DELETE", "/api/v1/admin/sso/connections/{id}"),
    ("GET", "/api/v1/admin/sso/connections/{id}/failures"),
    ("POST", "/api/v1/admin/sso/connections/{id}/test"),
    ("POST", "/api/v1/admin/sso/connections/{id}/metadata/refresh"),
    ("POST", "/api/v1/admin/sso/connections/{id}/keys/rollover"),
    ("POST", "/api/v1/admin/sso/connections/{id}/keys/rollover/finish"),
]

#: The admin HTML pages: they guard themselves so that anonymous visitors are sent to sign in.
PAGE_ROUTES = [
    ("GET", "/admin/users"),
    ("POST", "/admin/users/{id}"),
    ("GET", "/admin/branding"),
    ("POST", "/admin/branding"),
    ("GET", "/admin/branding/preview/{id}"),
    ("POST", "/admin/branding/versions/{id}/restore"),
    ("GET", "/admin/branding/static/{id}"),
    ("GET", "/admin/sso"),
    ("POST", "/admin/sso"),
    ("GET", "/admin/sso/{id}"),
    ("POST", "/admin/sso/{id}"),
    ("GET", "/admin/sso/{id}/delete"),
    ("POST", "/admin/sso/{id}/delete"),
]

BODIES = {
    "PATCH /api/v1/admin/users/{id}": {"role": "admin"},
    "POST /api/v1/admin/invitations": {"email": "new@example.org", "role": "admin"},
    "PATCH /api/v1/admin/auth-settings": {"self_signup": False},
    "POST /api/v1/admin/sso/connections": {"type": "saml", "name": "Guarded"},
    "PATCH /api/v1/admin/sso/connections/{id}": {"name": "Renamed"},
}


@dataclass
class Site:
    tenant: TenantView
    owner_id: str
    member: httpx.Client
    anonymous: httpx.Client


@pytest.fixture
def site(make_tenant: TenantFactory, tenant_client: ClientFor) -> Site:
    tenant = make_tenant()
    owner_id = sign_up(tenant_client(tenant), "owner@example.org")  # the first user is the owner
    member = tenant_client(tenant)
    sign_up(member, "member@example.org")
    return Site(tenant, owner_id, member, tenant_client(tenant))


def _path(template: str, site: Site) -> str:
    return template.replace("{id}", site.owner_id)


def _send(client: httpx.Client, method: str, template: str, site: Site) -> httpx.Response:
    """The request as a JSON API client sends it (a JSON body on unsafe methods, ``{}`` when the
    route takes none), with the client's CSRF token when it has one."""
    body = BODIES.get(f"{method} {template}", {})
    return client.request(
        method,
        _path(template, site),
        json=body if method != "GET" else None,
        headers=csrf_headers(client),
    )


def _normalise(path: str) -> str:
    """``/api/v1/admin/users/{user_id:str}`` → ``/api/v1/admin/users/{id}``."""
    parts = ["{id}" if part.startswith("{") else part for part in path.split("/")]
    return "/".join(parts)


def test_the_list_covers_every_admin_route(whitelabel_app: Litestar) -> None:
    api: set[tuple[str, str]] = set()
    pages: set[tuple[str, str]] = set()
    unguarded: list[str] = []
    for route in whitelabel_app.routes:
        path = _normalise(route.path)
        if not path.startswith(("/api/v1/admin", "/admin")):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in set(getattr(handler, "http_methods", ())) - {"OPTIONS", "HEAD"}:
                if path.startswith("/admin"):
                    pages.add((method, path))
                    continue
                api.add((method, path))
                guards = handler.resolve_guards()
                if require_admin not in guards and require_owner not in guards:
                    unguarded.append(f"{method} {path}")
    assert unguarded == []
    assert api == set(API_ROUTES)
    assert pages == set(PAGE_ROUTES)


@pytest.mark.parametrize(("method", "template"), API_ROUTES)
def test_api_routes_refuse_anonymous_members_and_other_tenants(
    method: str, template: str, site: Site, make_tenant: TenantFactory, tenant_client: ClientFor
) -> None:
    anonymous = _send(site.anonymous, method, template, site)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["code"] == "not_authenticated"

    member = _send(site.member, method, template, site)
    assert member.status_code == 403, member.text
    assert member.json()["code"] == "forbidden"

    # The owner of another tenant brings their cookies to this tenant's host.
    other = make_tenant()
    other_owner = tenant_client(other)
    sign_up(other_owner, "owner@example.org")
    stranger = tenant_client(site.tenant)
    for name, value in other_owner.cookies.items():
        stranger.cookies.set(name, value)
    refused = _send(stranger, method, template, site)
    assert refused.status_code in (401, 403), refused.text
    assert refused.json()["code"] in ("not_authenticated", "csrf_token_invalid")


@pytest.mark.parametrize(("method", "template"), PAGE_ROUTES)
def test_admin_pages_send_anonymous_to_sign_in_and_refuse_members(
    method: str, template: str, site: Site
) -> None:
    if method == "GET":
        anonymous = site.anonymous.get(_path(template, site))
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/login?next=")
        member = site.member.get(_path(template, site))
    else:
        token = site.member.cookies["wl_csrf"]
        member = site.member.post(
            _path(template, site), data={"action": "role", "role": "admin", "csrf_token": token}
        )
    assert member.status_code == 403, member.text
    assert "admin" in member.text.lower()
