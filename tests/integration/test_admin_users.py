"""Tenant admin user management on a real server, on two tenants: role guards, listing,
role and status changes, session revocation, the owner rules, bad input and the audit log.

Users sign up through the API; the first of a tenant is its owner, who promotes admins through
the admin API itself. Every cookie is sent explicitly (never the client's jar), with the CSRF
token a page of the tenant would hold for it (``signing_csrf``; CSRF is tested in test_csrf.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tenants.schemas import TenantView
from tests.integration.accounts_support import PASSWORD, ClientFor, session_token, signing_csrf
from whitelabel.accounts.controllers import SESSION_COOKIE
from whitelabel.accounts.models import Session, User
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent

USERS = "/api/v1/admin/users"


@dataclass
class Person:
    id: str
    email: str
    token: str


def _signup(client: httpx.Client, email: str, name: str = "Someone") -> Person:
    response = client.post(
        "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "display_name": name}
    )
    assert response.status_code == 201, response.text
    client.cookies.clear()
    return Person(response.json()["id"], email, session_token(response))


def _login(client: httpx.Client, email: str) -> httpx.Response:
    client.cookies.clear()
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    client.cookies.clear()
    return response


def _call(
    client: httpx.Client,
    method: str,
    url: str,
    token: str | None,
    *,
    json: Any = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    client.cookies.clear()
    headers = {"cookie": f"{SESSION_COOKIE}={token}"} if token else {}
    return client.request(method, url, headers=headers, json=json, params=params)


def _patch(client: httpx.Client, token: str | None, user_id: str, body: Any) -> httpx.Response:
    return _call(client, "PATCH", f"{USERS}/{user_id}", token, json=body)


def _me(client: httpx.Client, token: str) -> httpx.Response:
    return _call(client, "GET", "/api/v1/me", token)


def _users(runtime: Runtime, tenant: TenantView) -> list[tuple[str, str, str]]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.execute(select(User.email, User.role, User.status).order_by(User.email))
        return [(email, role, status) for email, role, status in rows]


def _live_sessions(runtime: Runtime, tenant: TenantView, user_id: str) -> int:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.scalars(
            select(Session.id).where(
                Session.user_id == uuid.UUID(user_id), Session.revoked_at.is_(None)
            )
        )
        return len(list(rows))


def _events(runtime: Runtime, tenant: TenantView) -> list[tuple[str, str, str | None, Any]]:
    """The admin actions of the tenant's audit log (sign-up and sign-in left out)."""
    admin = ("user.role_changed", "user.disabled", "user.enabled", "user.sessions_revoked")
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.actor, AuditEvent.target, AuditEvent.detail)
            .where(AuditEvent.action.in_(admin))
            .order_by(AuditEvent.at)
        )
        return [(action, actor, target, detail) for action, actor, target, detail in rows]


@dataclass
class Team:
    owner: Person
    admin: Person
    member: Person
    target: Person


def _team(client: httpx.Client, domain: str) -> Team:
    """An owner, an admin (promoted by the owner) who signs in again, and two members."""
    owner = _signup(client, f"owner@{domain}", "Olga Owner")
    admin = _signup(client, f"admin@{domain}", "Adam Admin")
    member = _signup(client, f"member@{domain}", "Mia Member")
    target = _signup(client, f"target@{domain}", "Tom Target")
    promoted = _patch(client, owner.token, admin.id, {"role": "admin"})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "admin"
    admin.token = session_token(_login(client, admin.email))
    return Team(owner, admin, member, target)


ROUTES: list[tuple[str, str, Any, int]] = [
    ("GET", USERS, None, 200),
    ("PATCH", USERS + "/{target}", {"status": "active"}, 200),
    ("PATCH", USERS + "/{target}", {"role": "member"}, 200),
    ("POST", USERS + "/{target}/revoke-sessions", None, 204),
]


@pytest.mark.parametrize(("method", "path", "body", "ok"), ROUTES)
def test_every_admin_route_needs_an_admin(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
    method: str,
    path: str,
    body: Any,
    ok: int,
) -> None:
    first, _ = tenant_pair
    client = signing_csrf(tenant_client(first), whitelabel_runtime, first)
    team = _team(client, "guards.example.org")
    url = path.format(target=team.target.id)
    expected = [
        (None, 401, "not_authenticated"),
        ("not a session", 401, "not_authenticated"),
        (team.member.token, 403, "forbidden"),
    ]
    for token, status, code in expected:
        response = _call(client, method, url, token, json=body)
        assert response.status_code == status, (token, response.text)
        assert response.json()["code"] == code
    for token in (team.admin.token, team.owner.token):
        response = _call(client, method, url, token, json=body)
        assert response.status_code == ok, response.text
    # The platform host has no users: the route does not exist there.
    assert _call(tenant_client("127.0.0.1"), method, url, team.owner.token).status_code == 404


def test_search_filters_and_keyset_pagination(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = signing_csrf(tenant_client(first), whitelabel_runtime, first)
    team = _team(client, "list.example.org")
    extra = [
        _signup(client, "zoe@list.example.org", "Zoë Zed"),
        _signup(client, "bob@list.example.org", "Robert 100% Real"),
        _signup(client, "carol@other.example.com", "Carol Stone"),
    ]
    _signup(tenant_client(second), "hidden@list.example.org", "Hidden Elsewhere")
    disabled = _patch(client, team.owner.token, extra[0].id, {"status": "disabled"})
    assert disabled.status_code == 200

    def page(**params: str) -> Any:
        response = _call(client, "GET", USERS, team.admin.token, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    everyone = sorted(email for email, _, _ in _users(whitelabel_runtime, first))
    assert len(everyone) == 7
    whole = page()
    assert [item["email"] for item in whole["items"]] == everyone
    assert whole["next"] is None
    item = next(i for i in whole["items"] if i["email"] == team.admin.email)
    assert item == {
        "id": team.admin.id,
        "email": team.admin.email,
        "display_name": "Adam Admin",
        "role": "admin",
        "status": "active",
        "email_verified": False,
        "created_at": item["created_at"],
        "last_login_at": item["last_login_at"],
    }
    assert item["last_login_at"] is not None

    # Keyset pagination: pages of 2 walk everyone exactly once, in order.
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2", **({"after": cursor} if cursor else {})}
        body = page(**params)
        seen += [item["email"] for item in body["items"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == everyone
    assert pages == 4
    # A user added before the cursor's position does not shift the next page.
    body = page(limit="3")
    _signup(client, "aaron@list.example.org", "Aaron")
    after = page(limit="3", after=body["next"])
    assert [i["email"] for i in after["items"]] == everyone[3:6]

    def emails(**params: str) -> list[str]:
        return [item["email"] for item in page(**params)["items"]]

    assert emails(q="ZOË") == ["zoe@list.example.org"]  # display name, any case
    assert emails(q="OTHER.example") == ["carol@other.example.com"]  # email, any case
    assert emails(q="100%") == ["bob@list.example.org"]  # % is a literal character
    assert emails(q="_") == []  # so is _
    assert emails(q="hidden") == []  # the other tenant's user
    assert emails(role="owner") == [team.owner.email]
    assert emails(role="admin") == [team.admin.email]
    assert emails(status="disabled") == ["zoe@list.example.org"]
    assert emails(role="member", status="active", q="list.example", limit="2") == [
        "aaron@list.example.org",
        "bob@list.example.org",
    ]
    assert len(page(limit="100")["items"]) == 8


def test_owner_protections_and_the_last_owner(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = signing_csrf(tenant_client(first), whitelabel_runtime, first)
    team = _team(client, "owners.example.org")
    owner, admin, member = team.owner, team.admin, team.member
    before = _users(whitelabel_runtime, first)
    events_before = _events(whitelabel_runtime, first)

    refused = [
        (admin.token, owner.id, {"role": "member"}, 403, "forbidden"),
        (admin.token, owner.id, {"role": "admin"}, 403, "forbidden"),
        (admin.token, owner.id, {"status": "disabled"}, 403, "forbidden"),
        (admin.token, member.id, {"role": "owner"}, 403, "forbidden"),
        (admin.token, admin.id, {"role": "owner"}, 403, "forbidden"),
        (admin.token, admin.id, {"status": "disabled"}, 409, "cannot_disable_self"),
        (owner.token, owner.id, {"status": "disabled"}, 409, "cannot_disable_self"),
        (owner.token, owner.id, {"role": "admin"}, 409, "last_owner"),
        (owner.token, owner.id, {"role": "member"}, 409, "last_owner"),
    ]
    for token, target, body, status, code in refused:
        response = _patch(client, token, target, body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["code"] == code
    revoke = _call(client, "POST", f"{USERS}/{owner.id}/revoke-sessions", admin.token)
    assert revoke.status_code == 403
    assert revoke.json()["code"] == "forbidden"
    assert _users(whitelabel_runtime, first) == before
    assert _events(whitelabel_runtime, first) == events_before
    assert _me(client, owner.token).status_code == 200

    # An admin manages members and other admins.
    assert _patch(client, admin.token, member.id, {"role": "admin"}).json()["role"] == "admin"
    assert _patch(client, admin.token, member.id, {"role": "member"}).json()["role"] == "member"

    # The owner makes a second owner, then may step down; the new owner is then the last one.
    promoted = _patch(client, owner.token, member.id, {"role": "owner"})
    assert promoted.json()["role"] == "owner"
    stepped_down = _patch(client, owner.token, owner.id, {"role": "admin"})
    assert stepped_down.status_code == 200, stepped_down.text
    assert _me(client, owner.token).status_code == 401  # a privilege change ends the session
    new_owner = session_token(_login(client, member.email))
    last = _patch(client, new_owner, member.id, {"role": "member"})
    assert last.status_code == 409
    assert last.json()["code"] == "last_owner"
    # The former owner, now an admin, cannot touch the new owner.
    former = session_token(_login(client, owner.email))
    assert _patch(client, former, member.id, {"status": "disabled"}).status_code == 403
    # Disabling one of two owners is fine; the remaining one is then protected.
    assert _patch(client, new_owner, owner.id, {"role": "owner"}).status_code == 200
    assert _patch(client, new_owner, owner.id, {"status": "disabled"}).status_code == 200
    roles = {email: (role, status) for email, role, status in _users(whitelabel_runtime, first)}
    assert roles[owner.email] == ("owner", "disabled")
    assert roles[member.email] == ("owner", "active")
    assert _patch(client, new_owner, member.id, {"role": "admin"}).json()["code"] == "last_owner"
    assert _users(whitelabel_runtime, second) == []


def test_disable_revokes_sessions_and_blocks_login_until_enabled(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = signing_csrf(tenant_client(first), whitelabel_runtime, first)
    team = _team(client, "disable.example.org")
    target = team.target
    second_token = session_token(_login(client, target.email))
    assert _live_sessions(whitelabel_runtime, first, target.id) == 2

    disabled = _patch(client, team.admin.token, target.id, {"status": "disabled"})
    assert disabled.status_code == 200
    assert disabled.json()["status"] == "disabled"
    assert _live_sessions(whitelabel_runtime, first, target.id) == 0
    for token in (target.token, second_token):
        assert _me(client, token).status_code == 401
    refused = _login(client, target.email)
    assert refused.status_code == 403
    assert refused.json()["code"] == "account_disabled"

    enabled = _patch(client, team.admin.token, target.id, {"status": "active"})
    assert enabled.json()["status"] == "active"
    assert _me(client, target.token).status_code == 401  # old sessions stay revoked
    fresh = _login(client, target.email)
    assert fresh.status_code == 200
    assert _me(client, session_token(fresh)).status_code == 200

    admin_id = team.admin.id
    assert _events(whitelabel_runtime, first)[-2:] == [
        ("user.disabled", admin_id, target.id, {"sessions_revoked": 2}),
        ("user.enabled", admin_id, target.id, {}),
    ]
    assert _events(whitelabel_runtime, second) == []


def test_role_change_and_revoke_end_the_targets_sessions(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = signing_csrf(tenant_client(first), whitelabel_runtime, first)
    team = _team(client, "rotate.example.org")
    target = team.target
    assert _me(client, target.token).status_code == 200

    changed = _patch(client, team.owner.token, target.id, {"role": "admin"})
    assert changed.json()["role"] == "admin"
    assert _me(client, target.token).status_code == 401  # the old session is gone
    token = session_token(_login(client, target.email))
    assert _me(client, token).json()["role"] == "admin"
    assert _call(client, "GET", USERS, token).status_code == 200
    # Setting the same role again changes nothing and keeps the session.
    assert _patch(client, team.owner.token, target.id, {"role": "admin"}).status_code == 200
    assert _me(client, token).status_code == 200

    other = session_token(_login(client, target.email))
    revoked = _call(client, "POST", f"{USERS}/{target.id}/revoke-sessions", team.admin.token)
    assert revoked.status_code == 204
    assert revoked.content == b""
    assert _me(client, token).status_code == 401
    assert _me(client, other).status_code == 401
    assert _me(client, team.admin.token).status_code == 200  # only the target's sessions

    owner_id, admin_id = team.owner.id, team.admin.id
    events = _events(whitelabel_runtime, first)
    assert events == [
        ("user.role_changed", owner_id, admin_id, {"from": "member", "to": "admin",
                                                   "sessions_revoked": 1}),
        ("user.role_changed", owner_id, target.id, {"from": "member", "to": "admin",
                                                    "sessions_revoked": 1}),
        ("user.sessions_revoked", admin_id, target.id, {"count": 2}),
    ]  # fmt: skip
    assert _events(whitelabel_runtime, second) == []


def test_an_admin_of_one_tenant_cannot_reach_another(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    one = signing_csrf(tenant_client(first), whitelabel_runtime, first)
    two = signing_csrf(tenant_client(second), whitelabel_runtime, second)
    a = _team(one, "a.example.org")
    b = _team(two, "b.example.org")
    users_b = _users(whitelabel_runtime, second)
    events_b = _events(whitelabel_runtime, second)

    # B's ids on A's host, with A's admin and owner: not found, nothing changes anywhere.
    for token in (a.admin.token, a.owner.token):
        for user_id in (b.owner.id, b.member.id):
            for body in ({"role": "admin"}, {"status": "disabled"}):
                response = _patch(one, token, user_id, body)
                assert response.status_code == 404
                assert response.json()["code"] == "user_not_found"
            response = _call(one, "POST", f"{USERS}/{user_id}/revoke-sessions", token)
            assert response.status_code == 404
            assert response.json()["code"] == "user_not_found"
        listed = _call(one, "GET", USERS, token).json()["items"]
        assert {item["email"] for item in listed} == {
            email for email, _, _ in _users(whitelabel_runtime, first)
        }
        assert not {item["id"] for item in listed} & {b.owner.id, b.member.id}

    # A's cookies on B's host: not signed in there.
    for token in (a.admin.token, a.owner.token):
        routes: list[tuple[str, str, Any]] = [
            ("GET", USERS, None),
            ("PATCH", f"{USERS}/{b.member.id}", {"status": "disabled"}),
            ("POST", f"{USERS}/{b.member.id}/revoke-sessions", None),
        ]
        for method, url, payload in routes:
            response = _call(two, method, url, token, json=payload)
            assert response.status_code == 401
            assert response.json()["code"] == "not_authenticated"

    assert _users(whitelabel_runtime, second) == users_b
    assert _events(whitelabel_runtime, second) == events_b
    for person in (b.owner, b.admin, b.member):
        assert _me(two, person.token).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "params", "status", "code"),
    [
        ("GET", "", None, {"role": "boss"}, 422, "invalid_role"),
        ("GET", "", None, {"status": "gone"}, 422, "invalid_status"),
        ("GET", "", None, {"limit": "0"}, 422, "invalid_limit"),
        ("GET", "", None, {"limit": "101"}, 422, "invalid_limit"),
        ("GET", "", None, {"limit": "-1"}, 422, "invalid_limit"),
        ("GET", "", None, {"limit": "ten"}, 422, "invalid_limit"),
        ("GET", "", None, {"after": "garbage!"}, 422, "invalid_cursor"),
        ("GET", "", None, {"after": "WyJhIiwgMV0"}, 422, "invalid_cursor"),  # ["a", 1]
        ("GET", "", None, {"after": "x" * 5000}, 422, "invalid_cursor"),
        ("GET", "", None, {"q": "x" * 201}, 422, "invalid_query"),
        ("PATCH", "/{target}", {"role": "boss"}, None, 422, "invalid_role"),
        ("PATCH", "/{target}", {"role": "OWNER"}, None, 422, "invalid_role"),
        ("PATCH", "/{target}", {"status": "gone"}, None, 422, "invalid_status"),
        ("PATCH", "/{target}", {"role": "admin", "status": "gone"}, None, 422, "invalid_status"),
        ("PATCH", "/{target}", {"role": 5}, None, 400, "validation_failed"),
        ("PATCH", "/{target}", {"status": ["disabled"]}, None, 400, "validation_failed"),
        ("PATCH", "/{target}", [{"role": "admin"}], None, 400, "validation_failed"),
        ("PATCH", "/{target}", "admin", None, 400, "validation_failed"),
        ("PATCH", "/not-a-uuid", {"role": "admin"}, None, 404, "user_not_found"),
        ("PATCH", "/" + str(uuid.UUID(int=0)), {"role": "admin"}, None, 404, "user_not_found"),
        ("POST", "/not-a-uuid/revoke-sessions", None, None, 404, "user_not_found"),
        ("POST", f"/{uuid.UUID(int=7)}/revoke-sessions", None, None, 404, "user_not_found"),
    ],
)
def test_bad_input_is_refused_with_a_stable_code_and_changes_nothing(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
    method: str,
    path: str,
    body: Any,
    params: dict[str, str] | None,
    status: int,
    code: str,
) -> None:
    first, second = tenant_pair
    client = signing_csrf(tenant_client(first), whitelabel_runtime, first)
    team = _team(client, "bad.example.org")
    before = _users(whitelabel_runtime, first)
    events = _events(whitelabel_runtime, first)
    url = USERS + path.format(target=team.target.id)
    response = _call(client, method, url, team.owner.token, json=body, params=params)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert _users(whitelabel_runtime, first) == before
    assert _events(whitelabel_runtime, first) == events
    assert _live_sessions(whitelabel_runtime, first, team.target.id) == 1
    assert _users(whitelabel_runtime, second) == []
