"""Emailed links on a real server, on two tenants: password reset, email verification,
invitations, password change and "sign out everywhere".

Links are read from the mail outbox (``platform.mail_outbox``), as a person would read them from
their inbox. Each browser is its own client with its own cookie jar; cookie-authenticated unsafe
requests carry the CSRF header. Every test also looks at the other tenant's schema and outbox.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update

from tenants.schemas import TenantView
from tests.integration.accounts_support import PASSWORD, ClientFor, csrf_headers, session_token
from whitelabel.accounts.deps import SESSION_COOKIE
from whitelabel.accounts.models import AccountToken, Session, User
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent

NEW_PASSWORD = "a brand new passphrase"
RESET = "/api/v1/auth/password-reset"
VERIFY = "/api/v1/auth/verify-email"
ACCEPT = "/api/v1/auth/invitations/accept"
INVITATIONS = "/api/v1/admin/invitations"
LINK_ACTIONS = (
    "user.password_reset_requested",
    "user.password_reset",
    "user.email_verified",
    "user.password_changed",
    "user.password_change_failed",
    "user.signed_out_everywhere",
    "invitation.created",
    "invitation.accepted",
    "invitation.revoked",
)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None
    kind: str


def _mails(runtime: Runtime, tenant: TenantView, kind: str | None = None) -> list[Mail]:
    """The tenant's queued mail (of ``kind``), oldest first."""
    with runtime.db.sync_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT to_address, subject, text_body, html_body, kind FROM platform.mail_outbox"
                " WHERE tenant_id = :tenant ORDER BY created_at, id"
            ),
            {"tenant": tenant.id},
        )
        mails = [Mail(*row) for row in rows]
    return [m for m in mails if kind is None or m.kind == kind]


def _link_token(client: httpx.Client, mail: Mail, path: str) -> str:
    """The token of the link to ``path`` in ``mail``; the link points at the client's host."""
    origin = re.escape(f"http://{client.headers['host']}")
    found = re.findall(origin + re.escape(path) + r"\?token=([A-Za-z0-9_.-]+)", mail.text)
    assert len(found) == 1, mail.text
    assert mail.html is not None and f"{path}?token={found[0]}" in mail.html
    return str(found[0])


def _last_token(runtime: Runtime, tenant: TenantView, client: httpx.Client, kind: str) -> str:
    path = {"password_reset": "/reset-password", "email_verify": "/verify-email"}
    return _link_token(client, _mails(runtime, tenant, kind)[-1], path.get(kind, "/invite"))


def _post(client: httpx.Client, path: str, body: Any = None) -> httpx.Response:
    """A JSON POST (``{}`` without a body) with the client's cookies and, when it has a CSRF
    cookie, the CSRF header."""
    return client.post(path, json={} if body is None else body, headers=csrf_headers(client))


def _delete(client: httpx.Client, path: str) -> httpx.Response:
    """A DELETE like :func:`_post` (a JSON body, so that an anonymous call reaches the guard)."""
    return client.request("DELETE", path, json={}, headers=csrf_headers(client))


def _signup(client: httpx.Client, email: str, name: str = "Ada") -> str:
    body = {"email": email, "password": PASSWORD, "display_name": name}
    response = _post(client, "/api/v1/auth/signup", body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _login(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return _post(client, "/api/v1/auth/login", {"email": email, "password": password})


def _me(client: httpx.Client) -> httpx.Response:
    return client.get("/api/v1/me")


def _me_with(client: httpx.Client, token: str) -> int:
    """The status of ``/me`` with exactly this session token (not the client's jar)."""
    fresh = httpx.Client(base_url=str(client.base_url), headers={"host": client.headers["host"]})
    with fresh:
        return fresh.get("/api/v1/me", headers={"cookie": f"{SESSION_COOKIE}={token}"}).status_code


def _actions(runtime: Runtime, tenant: TenantView) -> list[tuple[str, str, Any]]:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.target, AuditEvent.detail)
            .where(AuditEvent.action.in_(LINK_ACTIONS))
            .order_by(AuditEvent.at)
        )
        return [(action, target or "", detail) for action, target, detail in rows]


def _tokens(runtime: Runtime, tenant: TenantView) -> list[tuple[str, str | None, bool, bool]]:
    """``(purpose, email, used, revoked)`` of every link token of the tenant, oldest first."""
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.scalars(select(AccountToken).order_by(AccountToken.created_at))
        return [(t.purpose, t.email, t.used_at is not None, t.revoked_at is not None) for t in rows]


def _user(runtime: Runtime, tenant: TenantView, email: str) -> User | None:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        user = session.scalar(select(User).where(User.email == email))
        if user is not None:
            session.expunge(user)
        return user


def _live_sessions(runtime: Runtime, tenant: TenantView) -> int:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        count = session.scalar(
            select(func.count()).select_from(Session).where(Session.revoked_at.is_(None))
        )
        return count or 0


def _counts(runtime: Runtime, tenant: TenantView) -> tuple[int, int, int, int]:
    """(users, link tokens, queued mails, link audit rows) of the tenant."""
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        users = session.scalar(select(func.count()).select_from(User)) or 0
        tokens = session.scalar(select(func.count()).select_from(AccountToken)) or 0
    return users, tokens, len(_mails(runtime, tenant)), len(_actions(runtime, tenant))


# Password reset ---------------------------------------------------------------------------------


def test_password_reset_end_to_end(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    laptop, phone = tenant_client(first), tenant_client(first)
    user_id = _signup(laptop, "ada@example.org")
    assert _login(phone, "ada@example.org").status_code == 200
    old_laptop_token = laptop.cookies[SESSION_COOKIE]
    _signup(tenant_client(second), "ada@example.org")
    before_second = _counts(whitelabel_runtime, second)

    stranger = tenant_client(first)
    asked = _post(stranger, RESET, {"email": " ADA@example.org "})
    assert asked.status_code == 202, asked.text
    assert asked.content == b""
    (mail,) = _mails(whitelabel_runtime, first, "password_reset")
    assert mail.to == "ada@example.org"
    assert mail.subject == f"Reset your {first.name} password"
    assert first.name in mail.text and "1 hour" in mail.text
    token = _link_token(stranger, mail, "/reset-password")
    # Only the hash of the secret is stored, never the token or the secret.
    with whitelabel_runtime.db.tenant_sync_session(first.context()) as session:
        stored = session.scalars(select(AccountToken.token_hash)).all()
    assert token not in stored and token.split(".")[0] not in stored

    done = _post(stranger, RESET + "/confirm", {"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 200, done.text
    assert done.json()["id"] == user_id and done.json()["email"] == "ada@example.org"
    new_token = session_token(done)
    assert {c.partition("=")[0] for c in done.headers.get_list("set-cookie")} == {
        SESSION_COOKIE,
        "wl_csrf",
    }
    assert _me(stranger).status_code == 200  # signed in with the new session
    # Every older session ended; the old password is gone, the new one works.
    assert _me(laptop).status_code == 401
    assert _me(phone).status_code == 401
    assert _me_with(laptop, old_laptop_token) == 401
    assert _me_with(laptop, new_token) == 200
    assert _login(tenant_client(first), "ada@example.org").status_code == 401
    assert _login(tenant_client(first), "ada@example.org", NEW_PASSWORD).status_code == 200
    user = _user(whitelabel_runtime, first, "ada@example.org")
    assert user is not None and user.email_verified  # the link proved the address

    # The link works once.
    again = _post(tenant_client(first), RESET + "/confirm", {"token": token, "password": PASSWORD})
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_token"

    actions = _actions(whitelabel_runtime, first)
    assert [(a, t) for a, t, _ in actions] == [
        ("user.password_reset_requested", "ada@example.org"),
        ("user.password_reset", user_id),
    ]
    assert actions[0][2] == {"mailed": True}
    assert actions[1][2] == {"sessions_revoked": 2}
    # The other tenant's user with the same address got nothing.
    assert _counts(whitelabel_runtime, second) == before_second
    assert _login(tenant_client(second), "ada@example.org").status_code == 200


def test_a_new_reset_request_revokes_the_older_link(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    client = tenant_client(first)
    _signup(client, "ada@example.org")
    assert _post(client, RESET, {"email": "ada@example.org"}).status_code == 202
    older = _last_token(whitelabel_runtime, first, client, "password_reset")
    assert _post(client, RESET, {"email": "ada@example.org"}).status_code == 202
    newer = _last_token(whitelabel_runtime, first, client, "password_reset")
    assert older != newer
    refused = _post(client, RESET + "/confirm", {"token": older, "password": NEW_PASSWORD})
    assert refused.json()["code"] == "invalid_token"
    assert _post(client, RESET + "/confirm", {"token": newer, "password": NEW_PASSWORD}).is_success
    resets = [t for t in _tokens(whitelabel_runtime, first) if t[0] == "password_reset"]
    assert resets == [
        ("password_reset", "ada@example.org", False, True),
        ("password_reset", "ada@example.org", True, False),
    ]


def test_unknown_and_known_addresses_get_the_same_answer(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = tenant_client(first)
    _signup(client, "known@example.org")
    _signup(client, "disabled@example.org", "Dee")
    with whitelabel_runtime.db.tenant_sync_session(first.context()) as session:
        session.execute(
            update(User).where(User.email == "disabled@example.org").values(status="disabled")
        )
        session.commit()
    _signup(tenant_client(second), "elsewhere@example.org")

    def ask(email: str) -> httpx.Response:
        return tenant_client(first).post(RESET, json={"email": email})

    answers = [
        ask("known@example.org"),
        ask("unknown@example.org"),
        ask("disabled@example.org"),
        ask("elsewhere@example.org"),  # a user of the other tenant only
    ]
    ignored = {"date", "x-request-id"}
    shapes = {
        (a.status_code, a.content, tuple((k, v) for k, v in a.headers.items() if k not in ignored))
        for a in answers
    }
    assert len(shapes) == 1
    assert answers[0].status_code == 202
    # Only the known, active user got a link.
    assert [m.to for m in _mails(whitelabel_runtime, first, "password_reset")] == [
        "known@example.org"
    ]
    assert _mails(whitelabel_runtime, second, "password_reset") == []
    requested = [
        (t, d["mailed"])
        for a, t, d in _actions(whitelabel_runtime, first)
        if a == "user.password_reset_requested"
    ]
    assert requested == [
        ("known@example.org", True),
        ("unknown@example.org", False),
        ("disabled@example.org", False),
        ("elsewhere@example.org", False),
    ]


def _tamper(token: str, where: int) -> str:
    swap = "A" if token[where] != "A" else "B"
    return token[:where] + swap + token[where + 1 :]


def test_reset_links_are_bound_to_tenant_purpose_time_and_their_bytes(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client, other = tenant_client(first), tenant_client(second)
    _signup(client, "ada@example.org")
    _signup(other, "ada@example.org")
    assert _post(client, RESET, {"email": "ada@example.org"}).status_code == 202
    token = _last_token(whitelabel_runtime, first, client, "password_reset")
    verify_token = _last_token(whitelabel_runtime, first, client, "email_verify")
    secret, _, signature = token.partition(".")

    def confirm(target: httpx.Client, value: Any, password: str = NEW_PASSWORD) -> httpx.Response:
        return _post(target, RESET + "/confirm", {"token": value, "password": password})

    # A leaked hash does not help: the same secret's row planted in the other tenant (for its
    # own user) still refuses the link, because the signature binds the tenant.
    with whitelabel_runtime.db.tenant_sync_session(first.context()) as session:
        row = session.scalars(
            select(AccountToken).where(AccountToken.purpose == "password_reset")
        ).one()
        planted = {c: getattr(row, c) for c in ("token_hash", "expires_at", "email", "purpose")}
    with whitelabel_runtime.db.tenant_sync_session(second.context()) as session:
        victim = session.scalars(select(User)).one()
        session.add(AccountToken(id=uuid.uuid4(), user_id=victim.id, **planted))
        session.commit()

    refusals = {
        "other tenant": confirm(other, token),
        "verification link": confirm(client, verify_token),
        "secret tampered": confirm(client, _tamper(token, 3)),
        "signature tampered": confirm(client, _tamper(token, len(token) - 3)),
        "signature missing": confirm(client, secret),
        "signature alone": confirm(client, "." + signature),
        "secret of another token": confirm(client, verify_token.split(".")[0] + "." + signature),
        "empty": confirm(client, ""),
        "too long": confirm(client, token + "A" * 300),
        "non-ASCII": confirm(client, token[:-1] + "\u0410"),
        "line break": confirm(client, token + "\n"),
    }
    for case, answer in refusals.items():
        assert answer.status_code == 400, (case, answer.text)
        assert answer.json()["code"] == "invalid_token", case
        assert "set-cookie" not in answer.headers, case

    # A weak password is refused without using the link up.
    weak = confirm(client, token, "short")
    assert weak.status_code == 422 and weak.json()["code"] == "weak_password"
    # Past its expiry the link is refused with the same answer.
    with whitelabel_runtime.db.tenant_sync_session(first.context()) as session:
        session.execute(
            update(AccountToken)
            .where(AccountToken.purpose == "password_reset")
            .values(expires_at=func.now() - text("interval '1 second'"))
        )
        session.commit()
    expired = confirm(client, token)
    assert (expired.status_code, expired.json()) == (400, refusals["empty"].json())
    # Nothing changed anywhere: both passwords still work, no reset happened.
    assert _login(tenant_client(first), "ada@example.org").status_code == 200
    assert _login(tenant_client(second), "ada@example.org").status_code == 200
    for tenant in tenant_pair:
        assert [a for a, _, _ in _actions(whitelabel_runtime, tenant)].count(
            "user.password_reset"
        ) == 0
    assert ("password_reset", "ada@example.org", False, False) in _tokens(
        whitelabel_runtime, second
    )


# Email verification ------------------------------------------------------------------------------


def test_email_verification_flow(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    client = tenant_client(first)
    _signup(client, "ada@example.org")
    _signup(tenant_client(second), "ada@example.org")
    (mail,) = _mails(whitelabel_runtime, first, "email_verify")
    assert mail.to == "ada@example.org"
    assert mail.subject == f"Confirm your email address for {first.name}"
    first_link = _link_token(client, mail, "/verify-email")

    # Resending (signed in) replaces the first link.
    assert _post(tenant_client(first), VERIFY).status_code == 401
    resent = _post(client, VERIFY)
    assert resent.status_code == 202, resent.text
    second_link = _last_token(whitelabel_runtime, first, client, "email_verify")
    assert second_link != first_link
    stale = _post(client, VERIFY + "/confirm", {"token": first_link})
    assert stale.json()["code"] == "invalid_token"
    # The verification link works in any browser, signed in or not, once.
    anonymous = tenant_client(first)
    on_other_host = _post(tenant_client(second), VERIFY + "/confirm", {"token": second_link})
    assert on_other_host.json()["code"] == "invalid_token"
    as_reset = _post(anonymous, RESET + "/confirm", {"token": second_link, "password": PASSWORD})
    assert as_reset.json()["code"] == "invalid_token"
    confirmed = _post(anonymous, VERIFY + "/confirm", {"token": second_link})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() == {"email": "ada@example.org", "email_verified": True}
    assert "set-cookie" not in confirmed.headers
    again = _post(anonymous, VERIFY + "/confirm", {"token": second_link})
    assert (again.status_code, again.json()["code"]) == (400, "invalid_token")

    first_user = _user(whitelabel_runtime, first, "ada@example.org")
    second_user = _user(whitelabel_runtime, second, "ada@example.org")
    assert first_user is not None and first_user.email_verified
    assert second_user is not None and not second_user.email_verified
    done = _post(client, VERIFY)
    assert (done.status_code, done.json()["code"]) == (409, "already_verified")
    assert [a for a, _, _ in _actions(whitelabel_runtime, first)] == ["user.email_verified"]
    assert _actions(whitelabel_runtime, second) == []


def test_a_verification_link_dies_when_the_address_changes(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    client = tenant_client(first)
    _signup(client, "old@example.org")
    token = _last_token(whitelabel_runtime, first, client, "email_verify")
    with whitelabel_runtime.db.tenant_sync_session(first.context()) as session:
        session.execute(update(User).values(email="new@example.org"))
        session.commit()
    refused = _post(client, VERIFY + "/confirm", {"token": token})
    assert refused.json()["code"] == "invalid_token"
    user = _user(whitelabel_runtime, first, "new@example.org")
    assert user is not None and not user.email_verified


# Invitations -----------------------------------------------------------------------------------


@dataclass
class Team:
    owner: httpx.Client
    admin: httpx.Client
    member: httpx.Client


def _team(tenant_client: ClientFor, tenant: TenantView) -> Team:
    """An owner (the first sign-up), an admin and a member, each in their own browser."""
    owner, admin, member = tenant_client(tenant), tenant_client(tenant), tenant_client(tenant)
    _signup(owner, "owner@example.org", "Olga Owner")
    admin_id = _signup(admin, "admin@example.org", "Adam Admin")
    _signup(member, "member@example.org", "Mia Member")
    promoted = owner.patch(
        f"/api/v1/admin/users/{admin_id}", json={"role": "admin"}, headers=csrf_headers(owner)
    )
    assert promoted.status_code == 200, promoted.text
    admin.cookies.clear()
    assert _login(admin, "admin@example.org").status_code == 200
    return Team(owner, admin, member)


def _invite(client: httpx.Client, email: str, role: str = "member") -> httpx.Response:
    return _post(client, INVITATIONS, {"email": email, "role": role})


def _list(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get(INVITATIONS)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_invitation_flow(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    team = _team(tenant_client, first)
    _team(tenant_client, second)
    before_second = _counts(whitelabel_runtime, second)

    invited = _invite(team.admin, " Bob@Example.org ", "admin")
    assert invited.status_code == 201, invited.text
    body = invited.json()
    assert body == {
        "id": body["id"],
        "email": "bob@example.org",
        "role": "admin",
        "invited_by": body["invited_by"],
        "created_at": body["created_at"],
        "expires_at": body["expires_at"],
        "status": "pending",
    }
    assert "token" not in invited.text
    assert _list(team.owner) == [body]
    (mail,) = _mails(whitelabel_runtime, first, "invitation")
    assert mail.to == "bob@example.org"
    assert mail.subject == f"You are invited to {first.name}"
    assert "Adam Admin invites you" in mail.text and "as an admin" in mail.text
    bob = tenant_client(first)
    token = _link_token(bob, mail, "/invite")

    accepted = _post(
        bob, ACCEPT, {"token": token, "password": NEW_PASSWORD, "display_name": "Bob Builder"}
    )
    assert accepted.status_code == 201, accepted.text
    me = accepted.json()
    assert (me["email"], me["role"], me["display_name"]) == (
        "bob@example.org",
        "admin",
        "Bob Builder",
    )
    assert _me(bob).json()["id"] == me["id"]
    assert bob.get("/api/v1/admin/users").status_code == 200  # the invited role
    user = _user(whitelabel_runtime, first, "bob@example.org")
    assert user is not None and user.email_verified and user.role == "admin"
    assert _login(tenant_client(first), "bob@example.org", NEW_PASSWORD).status_code == 200
    assert _list(team.owner) == []

    # An accepted invitation cannot be used again, nor in the other tenant.
    for client in (tenant_client(first), tenant_client(second)):
        again = _post(client, ACCEPT, {"token": token, "password": PASSWORD, "display_name": "B"})
        assert (again.status_code, again.json()["code"]) == (400, "invalid_token")
    assert [(a, t) for a, t, _ in _actions(whitelabel_runtime, first)] == [
        ("invitation.created", "bob@example.org"),
        ("invitation.accepted", "bob@example.org"),
    ]
    assert _counts(whitelabel_runtime, second) == before_second


def test_invitation_rules(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    team = _team(tenant_client, first)
    anonymous = tenant_client(first)
    refusals = [
        (_invite(anonymous, "x@example.org"), 401, "not_authenticated"),
        (_invite(team.member, "x@example.org"), 403, "forbidden"),
        (_invite(team.admin, "x@example.org", "owner"), 403, "forbidden"),
        (_invite(team.admin, "member@example.org"), 409, "already_member"),
        (_invite(team.owner, "MEMBER@example.org", "admin"), 409, "already_member"),
        (_invite(team.admin, "x@example.org", "superuser"), 422, "invalid_role"),
        (anonymous.get(INVITATIONS), 401, "not_authenticated"),
        (team.member.get(INVITATIONS), 403, "forbidden"),
    ]
    for response, status, code in refusals:
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert _tokens(whitelabel_runtime, first) == [
        ("email_verify", f"{who}@example.org", False, False) for who in ("owner", "admin", "member")
    ]

    owner_invite = _invite(team.owner, "heir@example.org", "owner")
    assert owner_invite.status_code == 201, owner_invite.text
    heir_id = owner_invite.json()["id"]
    # An admin can neither revoke an owner's invitation nor a member revoke anything.
    for client, status in ((team.admin, 403), (team.member, 403), (anonymous, 401)):
        response = _delete(client, f"{INVITATIONS}/{heir_id}")
        assert response.status_code == status, response.text
    mail = _mails(whitelabel_runtime, first, "invitation")[-1]
    assert "Olga Owner invites you" in mail.text and "as an owner" in mail.text
    heir_token = _link_token(anonymous, mail, "/invite")
    revoked = _delete(team.owner, f"{INVITATIONS}/{heir_id}")
    assert revoked.status_code == 204, revoked.text
    gone = _delete(team.owner, f"{INVITATIONS}/{heir_id}")
    assert (gone.status_code, gone.json()["code"]) == (404, "invitation_not_found")
    for bad in ("not-a-uuid", str(uuid.uuid4())):
        missing = _delete(team.owner, f"{INVITATIONS}/{bad}")
        assert (missing.status_code, missing.json()["code"]) == (404, "invitation_not_found")
    late = _post(
        anonymous, ACCEPT, {"token": heir_token, "password": PASSWORD, "display_name": "H"}
    )
    assert late.json()["code"] == "invalid_token"
    assert _user(whitelabel_runtime, first, "heir@example.org") is None
    assert [(a, t) for a, t, _ in _actions(whitelabel_runtime, first)] == [
        ("invitation.created", "heir@example.org"),
        ("invitation.revoked", "heir@example.org"),
    ]


def test_reinviting_replaces_the_pending_invitation(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    team = _team(tenant_client, first)
    carol = tenant_client(first)
    assert _invite(team.admin, "carol@example.org").status_code == 201
    old = _last_token(whitelabel_runtime, first, carol, "invitation")
    again = _invite(team.admin, "carol@example.org", "admin")
    assert again.status_code == 201
    new = _last_token(whitelabel_runtime, first, carol, "invitation")
    assert [(i["email"], i["role"]) for i in _list(team.admin)] == [("carol@example.org", "admin")]
    stale = _post(carol, ACCEPT, {"token": old, "password": PASSWORD, "display_name": "Carol"})
    assert stale.json()["code"] == "invalid_token"
    ok = _post(carol, ACCEPT, {"token": new, "password": PASSWORD, "display_name": "Carol"})
    assert ok.status_code == 201 and ok.json()["role"] == "admin"
    created = [d for a, _, d in _actions(whitelabel_runtime, first) if a == "invitation.created"]
    assert [d["replaced"] for d in created] == [0, 1]

    # An expired invitation is listed as such and refused.
    assert _invite(team.owner, "late@example.org").status_code == 201
    late = _last_token(whitelabel_runtime, first, carol, "invitation")
    with whitelabel_runtime.db.tenant_sync_session(first.context()) as session:
        session.execute(
            update(AccountToken)
            .where(AccountToken.email == "late@example.org")
            .values(expires_at=func.now() - text("interval '1 minute'"))
        )
        session.commit()
    assert [(i["email"], i["status"]) for i in _list(team.owner)] == [
        ("late@example.org", "expired")
    ]
    refused = _post(
        tenant_client(first), ACCEPT, {"token": late, "password": PASSWORD, "display_name": "L"}
    )
    assert refused.json()["code"] == "invalid_token"


def test_admins_see_and_revoke_only_their_own_tenants_invitations(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    a, b = _team(tenant_client, first), _team(tenant_client, second)
    assert _invite(a.admin, "a-only@example.org").status_code == 201
    b_invitation = _invite(b.admin, "b-only@example.org").json()
    assert [i["email"] for i in _list(a.admin)] == ["a-only@example.org"]
    assert [i["email"] for i in _list(b.admin)] == ["b-only@example.org"]
    for client in (a.admin, a.owner):
        refused = _delete(client, f"{INVITATIONS}/{b_invitation['id']}")
        assert (refused.status_code, refused.json()["code"]) == (404, "invitation_not_found")
    # A's session cookie means nothing on B's host.
    stolen = httpx.Client(base_url=str(a.admin.base_url), headers={"host": b.admin.headers["host"]})
    with stolen:
        token = a.admin.cookies[SESSION_COOKIE]
        listed = stolen.get(INVITATIONS, headers={"cookie": f"{SESSION_COOKIE}={token}"})
    assert listed.status_code == 401
    assert [i["email"] for i in _list(b.owner)] == ["b-only@example.org"]
    assert [t for t in _tokens(whitelabel_runtime, second) if t[0] == "invitation"] == [
        ("invitation", "b-only@example.org", False, False)
    ]


# Password change and sign out everywhere -------------------------------------------------------


def test_change_password_rotates_the_session_and_ends_the_others(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    laptop, phone = tenant_client(first), tenant_client(first)
    _signup(laptop, "ada@example.org")
    assert _login(phone, "ada@example.org").status_code == 200
    other = tenant_client(second)
    _signup(other, "ada@example.org")
    old_token = laptop.cookies[SESSION_COOKIE]

    def change(current: Any, new: Any) -> httpx.Response:
        body = {"current_password": current, "new_password": new}
        return _post(laptop, "/api/v1/me/password", body)

    refusals = [
        (change("wrong password!", NEW_PASSWORD), 422, "wrong_password"),
        (change("x" * 100_000, NEW_PASSWORD), 422, "wrong_password"),
        (change(PASSWORD, "short"), 422, "weak_password"),
        (change(PASSWORD, "ada@example.org"), 422, "weak_password"),
        (change(PASSWORD, 12345678901), 400, "validation_failed"),
        (_post(laptop, "/api/v1/me/password", {"new_password": NEW_PASSWORD}), 400,
         "validation_failed"),
        (_post(tenant_client(first), "/api/v1/me/password",
               {"current_password": PASSWORD, "new_password": NEW_PASSWORD}), 401,
         "not_authenticated"),
    ]  # fmt: skip
    for response, status, code in refusals:
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert _me(laptop).status_code == _me(phone).status_code == 200
    assert [a for a, _, _ in _actions(whitelabel_runtime, first)] == [
        "user.password_change_failed",
        "user.password_change_failed",
    ]

    changed = change(PASSWORD, NEW_PASSWORD)
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == "ada@example.org"
    new_token = session_token(changed)
    assert new_token != old_token
    assert _me_with(laptop, old_token) == 401  # rotated
    assert _me(laptop).status_code == 200  # the jar has the new cookie
    assert _me(phone).status_code == 401  # every other session ended
    assert _login(tenant_client(first), "ada@example.org").status_code == 401
    assert _login(tenant_client(first), "ada@example.org", NEW_PASSWORD).status_code == 200
    (changed_event,) = [
        d for a, _, d in _actions(whitelabel_runtime, first) if a == "user.password_changed"
    ]
    assert changed_event == {"sessions_revoked": 1}
    # The other tenant's user is untouched.
    assert _me(other).status_code == 200
    assert _actions(whitelabel_runtime, second) == []


def test_a_password_change_kills_pending_reset_links(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    client = tenant_client(first)
    _signup(client, "ada@example.org")
    assert _post(client, RESET, {"email": "ada@example.org"}).status_code == 202
    token = _last_token(whitelabel_runtime, first, client, "password_reset")
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert _post(client, "/api/v1/me/password", body).status_code == 200
    refused = _post(client, RESET + "/confirm", {"token": token, "password": PASSWORD})
    assert refused.json()["code"] == "invalid_token"


def test_sign_out_everywhere(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, second = tenant_pair
    browsers = [tenant_client(first) for _ in range(3)]
    _signup(browsers[0], "ada@example.org")
    for browser in browsers[1:]:
        assert _login(browser, "ada@example.org").status_code == 200
    _signup(tenant_client(first), "bob@example.org", "Bob")
    other = tenant_client(second)
    _signup(other, "ada@example.org")
    assert _post(tenant_client(first), "/api/v1/me/sign-out-everywhere").status_code == 401

    done = _post(browsers[1], "/api/v1/me/sign-out-everywhere")
    assert done.status_code == 204, done.text
    cleared = done.headers.get_list("set-cookie")
    assert any(c.startswith(f"{SESSION_COOKIE}=") and "max-age=0" in c.lower() for c in cleared)
    for browser in browsers:
        assert _me(browser).status_code == 401
    assert _live_sessions(whitelabel_runtime, first) == 1  # Bob's
    assert _me(other).status_code == 200
    (event,) = [d for a, _, d in _actions(whitelabel_runtime, first)]
    assert event == {"count": 3}
    assert _login(browsers[0], "ada@example.org").status_code == 200  # signing in again works


# Bad input --------------------------------------------------------------------------------------

_HUGE = "x" * 1_000_000
_CYRILLIC = "p\u0430ypal@example.org"  # a Cyrillic a
_FULLWIDTH_AT = "ada\uff20example.org"  # folds to ada@example.org: a valid address, no user


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (RESET, {}, 400, "validation_failed"),
        (RESET, {"email": 42}, 400, "validation_failed"),
        (RESET, {"email": None}, 400, "validation_failed"),
        (RESET, ["ada@example.org"], 400, "validation_failed"),
        (RESET, "ada@example.org", 400, "validation_failed"),
        (RESET, {"email": "not an email"}, 422, "invalid_email"),
        (RESET, {"email": _CYRILLIC}, 422, "invalid_email"),
        (RESET, {"email": "ada@\u0435xample.org"}, 422, "invalid_email"),
        (RESET, {"email": _HUGE + "@example.org"}, 422, "invalid_email"),
        (RESET, {"email": ""}, 422, "invalid_email"),
        (RESET + "/confirm", {"token": "x"}, 400, "validation_failed"),
        (RESET + "/confirm", {"token": 1, "password": PASSWORD}, 400, "validation_failed"),
        (RESET + "/confirm", {"token": _HUGE, "password": PASSWORD}, 400, "invalid_token"),
        (RESET + "/confirm", {"token": "a.b", "password": _HUGE}, 400, "invalid_token"),
        (VERIFY + "/confirm", {}, 400, "validation_failed"),
        (VERIFY + "/confirm", {"token": ["a.b"]}, 400, "validation_failed"),
        (VERIFY + "/confirm", {"token": "\u0430.\u0431"}, 400, "invalid_token"),
        (VERIFY + "/confirm", {"token": _HUGE}, 400, "invalid_token"),
        (ACCEPT, {"token": "a.b", "password": PASSWORD}, 400, "validation_failed"),
        (ACCEPT, {"token": "a.b", "password": None, "display_name": "A"}, 400, "validation_failed"),
        (ACCEPT, {"token": "a.b", "password": PASSWORD, "display_name": "A"}, 400, "invalid_token"),
        (ACCEPT, {"token": "a.b", "password": PASSWORD, "display_name": _HUGE}, 422,
         "invalid_display_name"),
        (ACCEPT, {"token": "a.b", "password": PASSWORD, "display_name": "bell\x07"}, 422,
         "invalid_display_name"),
    ],
)  # fmt: skip
def test_bad_anonymous_input_is_refused_and_nothing_is_stored(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
    path: str,
    body: Any,
    status: int,
    code: str,
) -> None:
    first, second = tenant_pair
    _signup(tenant_client(first), "ada@example.org")
    before = [_counts(whitelabel_runtime, t) for t in tenant_pair]
    response = tenant_client(first).post(path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert "set-cookie" not in response.headers
    assert [_counts(whitelabel_runtime, t) for t in tenant_pair] == before
    assert _tokens(whitelabel_runtime, first) == [("email_verify", "ada@example.org", False, False)]
    assert _tokens(whitelabel_runtime, second) == []


def test_a_fullwidth_address_is_the_same_address(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    client = tenant_client(first)
    _signup(client, "ada@example.org")
    assert _post(client, RESET, {"email": _FULLWIDTH_AT}).status_code == 202
    assert [m.to for m in _mails(whitelabel_runtime, first, "password_reset")] == [
        "ada@example.org"
    ]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "validation_failed"),
        ({"email": "x@example.org", "role": 1}, 400, "validation_failed"),
        ({"email": ["x@example.org"]}, 400, "validation_failed"),
        ({"email": "x@example.org", "role": "Owner"}, 422, "invalid_role"),
        ({"email": "x@example.org", "role": _HUGE}, 422, "invalid_role"),
        ({"email": _CYRILLIC}, 422, "invalid_email"),
        ({"email": "x@\u0435xample.org", "role": "admin"}, 422, "invalid_email"),
        ({"email": _HUGE}, 422, "invalid_email"),
        ({"email": "two@@example.org"}, 422, "invalid_email"),
    ],
)
def test_bad_invitations_are_refused_and_nothing_is_stored(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
    body: Any,
    status: int,
    code: str,
) -> None:
    first, _ = tenant_pair
    owner = tenant_client(first)
    _signup(owner, "owner@example.org")
    before = [_counts(whitelabel_runtime, t) for t in tenant_pair]
    response = _post(owner, INVITATIONS, body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert [_counts(whitelabel_runtime, t) for t in tenant_pair] == before
    assert _list(owner) == []


def test_a_verification_link_renders_the_tenant_name_escaped(
    make_tenant: Any,
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    tenant = make_tenant(name="Caf\u00e9 <b>& Co</b>")
    client = tenant_client(tenant)
    _signup(client, "ada@example.org", "<i>Ada</i>")
    (mail,) = _mails(whitelabel_runtime, tenant, "email_verify")
    assert mail.subject == "Confirm your email address for Caf\u00e9 <b>& Co</b>"
    assert "Caf\u00e9 <b>& Co</b>" in mail.text and "Hello <i>Ada</i>," in mail.text
    assert mail.html is not None
    assert "Caf\u00e9 &lt;b&gt;&amp; Co&lt;/b&gt;" in mail.html
    assert "&lt;i&gt;Ada&lt;/i&gt;" in mail.html
    assert "<b>" not in mail.html and "<i>" not in mail.html
    _link_token(client, mail, "/verify-email")


def test_cookie_authenticated_calls_need_the_csrf_header(
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
    whitelabel_runtime: Runtime,
) -> None:
    first, _ = tenant_pair
    owner = tenant_client(first)
    _signup(owner, "owner@example.org")
    invitation = _invite(owner, "x@example.org").json()
    before = _counts(whitelabel_runtime, first)
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    for method, path, body in [
        ("POST", "/api/v1/me/password", change),
        ("POST", "/api/v1/me/sign-out-everywhere", {}),
        ("POST", VERIFY, {}),
        ("POST", INVITATIONS, {"email": "y@example.org"}),
        ("DELETE", f"{INVITATIONS}/{invitation['id']}", {}),
    ]:
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            refused = owner.request(method, path, json=body, headers=headers)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["code"].startswith("csrf_"), path
    assert _counts(whitelabel_runtime, first) == before
    assert _me(owner).status_code == 200
    assert [i["id"] for i in _list(owner)] == [invitation["id"]]
