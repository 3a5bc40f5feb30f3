"""GDPR for one user on a real server, on two tenants: export (by the user and by an admin) and
erasure (by the user with their password, and by an admin or owner under the role rules).

The same address is a user of both tenants. After an erasure in the first, the address, the
user's id and display name appear nowhere in the first tenant's schema (every text, character,
uuid and JSON column of every table is searched) nor in its outgoing mail, while the second
tenant's user of the same address, their rows and their mail are exactly as before.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from psycopg import sql
from sqlalchemy import text

from tenants.schemas import TenantView
from tests.integration.accounts_support import PASSWORD, ClientFor, csrf_headers, signing_csrf
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import record_event

VICTIM = "victim@example.org"
VICTIM_NAME = "Victor Victim"
ERASED = re.compile(r"^erased:[0-9a-f]{12}$")


@dataclass
class Person:
    id: str
    email: str
    client: httpx.Client


@dataclass
class Site:
    tenant: TenantView
    owner: Person
    admin: Person
    victim: Person
    member: Person


def _signup(tenant_client: ClientFor, tenant: TenantView, email: str, name: str) -> Person:
    client = tenant_client(tenant)
    response = client.post(
        "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "display_name": name}
    )
    assert response.status_code == 201, response.text
    return Person(str(response.json()["id"]), email, client)


def _send(person: Person, method: str, path: str, body: Any = None) -> httpx.Response:
    """A request with the person's cookies and, for unsafe methods, the CSRF header."""
    headers = csrf_headers(person.client) if method not in ("GET", "HEAD") else {}
    return person.client.request(method, path, json=body, headers=headers)


def _login(person: Person) -> None:
    response = person.client.post(
        "/api/v1/auth/login",
        json={"email": person.email, "password": PASSWORD},
        headers=csrf_headers(person.client),  # a stale session cookie still needs its token
    )
    assert response.status_code == 200, response.text


def _build(runtime: Runtime, tenant_client: ClientFor, tenant: TenantView, first: bool) -> Site:
    """Owner, admin, the victim and another member; the victim's traces in several tables."""
    if first:
        owner = _signup(tenant_client, tenant, "owner@example.org", "Olga Owner")
        victim = _signup(tenant_client, tenant, VICTIM, VICTIM_NAME)
    else:  # in the second tenant the victim's address is its owner
        victim = _signup(tenant_client, tenant, VICTIM, VICTIM_NAME)
        owner = victim
    admin = _signup(tenant_client, tenant, "admin@example.org", "Adam Admin")
    member = _signup(tenant_client, tenant, "member@example.org", "Mia Member")
    assert _send(owner, "PATCH", f"/api/v1/admin/users/{admin.id}", {"role": "admin"}).is_success
    _login(admin)  # the role change ended the admin's session
    # a second session of the victim, a password reset link (a token row and a mail), an
    # invitation sent by the admin, an event whose detail names the victim in another case
    _login(Person(victim.id, VICTIM, tenant_client(tenant)))
    anonymous = tenant_client(tenant)
    reset = anonymous.post("/api/v1/auth/password-reset", json={"email": VICTIM})
    assert reset.status_code == 202, reset.text
    invited = _send(admin, "POST", "/api/v1/admin/invitations", {"email": "new@example.org"})
    assert invited.status_code == 201, invited.text
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        record_event(
            session,
            "test.note",
            actor=owner.id,
            target="ticket-7",
            detail={
                "note": f"called {VICTIM.upper()} back",
                "display_name": VICTIM_NAME,
                "role": "member",
                "people": [{"who": victim.id}, {"who": member.id}],
            },
        )
        session.commit()
    return Site(tenant, owner, admin, victim, member)


@pytest.fixture
def sites(
    whitelabel_runtime: Runtime,
    tenant_pair: tuple[TenantView, TenantView],
    tenant_client: ClientFor,
) -> tuple[Site, Site]:
    first, second = tenant_pair
    return (
        _build(whitelabel_runtime, tenant_client, first, True),
        _build(whitelabel_runtime, tenant_client, second, False),
    )


def _occurrences(runtime: Runtime, tenant: TenantView, needle: str) -> dict[str, int]:
    """``{"table.column": rows}`` of every text, character, uuid or JSON column of the tenant's
    schema whose value contains ``needle`` (case-insensitively)."""
    found: dict[str, int] = {}
    with runtime.db.sync_engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        columns = conn.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = :s AND data_type IN"
                " ('text', 'character varying', 'character', 'uuid', 'json', 'jsonb')"
            ),
            {"s": tenant.schema_name},
        ).all()
        assert len(columns) > 10  # the search covers the schema's tables
        for table, column in columns:
            query = sql.SQL("SELECT count(*) FROM {}.{} WHERE {}::text ILIKE %(p)s").format(
                sql.Identifier(tenant.schema_name), sql.Identifier(table), sql.Identifier(column)
            )
            count = conn.exec_driver_sql(query.as_string(raw), {"p": f"%{needle}%"}).scalar_one()
            if count:
                found[f"{table}.{column}"] = int(count)
    return found


def _mail(runtime: Runtime, tenant: TenantView) -> list[tuple[Any, ...]]:
    with runtime.db.sync_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT to_address, kind, subject, text_body, status FROM platform.mail_outbox"
                " WHERE tenant_id = :t ORDER BY created_at, id"
            ),
            {"t": tenant.id},
        )
        return [tuple(r) for r in rows]


def _dump(runtime: Runtime, tenant: TenantView) -> dict[str, list[str]]:
    """Every row of every table of the tenant's schema (as text), and its mail."""
    out: dict[str, list[str]] = {}
    with runtime.db.sync_engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s"),
            {"s": tenant.schema_name},
        ).scalars()
        for table in tables:
            query = sql.SQL("SELECT t::text FROM {}.{} AS t ORDER BY 1").format(
                sql.Identifier(tenant.schema_name), sql.Identifier(table)
            )
            out[table] = list(conn.exec_driver_sql(query.as_string(raw)).scalars())
    out["mail"] = [repr(m) for m in _mail(runtime, tenant)]
    return out


def _audit(runtime: Runtime, tenant: TenantView) -> list[dict[str, Any]]:
    with runtime.db.sync_engine.connect() as conn:
        rows = conn.execute(
            text(f'SELECT to_jsonb(a) FROM "{tenant.schema_name}".audit_log a ORDER BY at, id')
        ).scalars()
        return list(rows)


def _traces(runtime: Runtime, site: Site) -> dict[str, dict[str, int]]:
    return {
        needle: _occurrences(runtime, site.tenant, needle)
        for needle in (VICTIM, site.victim.id, VICTIM_NAME)
    }


def test_export_by_the_user_and_by_an_admin(
    whitelabel_runtime: Runtime, sites: tuple[Site, Site]
) -> None:
    first, second = sites
    mine = _send(first.victim, "GET", "/api/v1/me/export")
    assert mine.status_code == 200, mine.text
    assert mine.headers["content-disposition"].startswith(
        f'attachment; filename="user-{first.victim.id}-{first.tenant.slug}-'
    )
    assert mine.headers["cache-control"] == "no-store"
    data = mine.json()
    assert data["tenant"] == {"slug": first.tenant.slug, "name": first.tenant.name}
    user = data["user"]
    assert (user["id"], user["email"], user["display_name"], user["role"]) == (
        first.victim.id,
        VICTIM,
        VICTIM_NAME,
        "member",
    )
    assert user["has_password"] is True and "password_hash" not in user
    assert len(data["sessions"]) == 2
    assert all(set(s) == {"created_at", "last_seen_at", "expires_at", "idle_expires_at",
                          "revoked_at", "ip", "user_agent"} for s in data["sessions"])  # fmt: skip
    # the reset link asked for in the setup (and the sign-up's verification link), and their mail
    assert ("password_reset", VICTIM) in {(t["purpose"], t["email"]) for t in data["links"]}
    assert {t["email"] for t in data["links"]} == {VICTIM}
    assert "password_reset" in {m["kind"] for m in data["mail"]}
    assert len(data["mail"]) == len(data["links"])
    assert data["invitations_sent"] == []
    actions = {(e["action"], e["target"]) for e in data["audit_events"]}
    assert {("user.signup", VICTIM), ("user.login", VICTIM), ("test.note", "ticket-7")} <= actions
    # no secret: neither session ids (token hashes), link token hashes nor password hashes
    with whitelabel_runtime.db.sync_engine.connect() as conn:
        secrets_ = conn.execute(
            text(
                f'SELECT id FROM "{first.tenant.schema_name}".sessions'
                f' UNION ALL SELECT token_hash FROM "{first.tenant.schema_name}".account_tokens'
                f' UNION ALL SELECT password_hash FROM "{first.tenant.schema_name}".users'
            )
        ).scalars()
        for secret in secrets_:
            assert secret not in mine.text
    for token in first.victim.client.cookies.values():
        assert token not in mine.text
    # nothing of the other tenant's user of the same address
    assert second.victim.id not in mine.text

    # an admin's export of the same user is the same data; the admin's own sent invitation shows
    # in theirs without the invitee's address
    by_admin = _send(first.admin, "GET", f"/api/v1/admin/users/{first.victim.id}/export")
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["user"] == user
    admins = _send(first.admin, "GET", "/api/v1/me/export").json()
    assert [(i["purpose"], i["role"]) for i in admins["invitations_sent"]] == [
        ("invitation", "member")
    ]
    assert "new@example.org" not in json.dumps(admins["invitations_sent"])
    # each export is audited (who exported whom)
    exported = [
        (e["actor"], e["target"])
        for e in _audit(whitelabel_runtime, first.tenant)
        if e["action"] == "user.data_exported"
    ]
    assert exported == [
        (first.victim.id, first.victim.id),
        (first.admin.id, first.victim.id),
        (first.admin.id, first.admin.id),
    ]


@pytest.mark.parametrize(
    ("who", "target", "status", "code"),
    [
        ("member", "victim", 403, "forbidden"),
        ("anonymous", "victim", 401, "not_authenticated"),
        ("admin", "not-a-uuid", 404, "user_not_found"),
        ("admin", "other-tenant", 404, "user_not_found"),
        ("admin", str(uuid.UUID(int=0)), 404, "user_not_found"),
    ],
)
def test_admin_export_refusals(
    whitelabel_runtime: Runtime,
    sites: tuple[Site, Site],
    tenant_client: ClientFor,
    who: str,
    target: str,
    status: int,
    code: str,
) -> None:
    first, second = sites
    target_id = {"victim": first.victim.id, "other-tenant": second.victim.id}.get(target, target)
    person = (
        Person("", "", tenant_client(first.tenant)) if who == "anonymous" else getattr(first, who)
    )
    before = _audit(whitelabel_runtime, first.tenant)
    response = _send(person, "GET", f"/api/v1/admin/users/{target_id}/export")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert _audit(whitelabel_runtime, first.tenant) == before


def _erased_everywhere(runtime: Runtime, site: Site, before: dict[str, dict[str, int]]) -> str:
    """Asserts the victim left no trace in the site's schema and mail; returns their tag."""
    assert before[VICTIM].keys() >= {"users.email", "audit_log.target", "account_tokens.email"}
    assert before[site.victim.id].keys() >= {"users.id", "sessions.user_id", "audit_log.actor"}
    assert before[VICTIM_NAME].keys() >= {"users.display_name", "audit_log.detail"}
    assert _traces(runtime, site) == {VICTIM: {}, site.victim.id: {}, VICTIM_NAME: {}}
    assert all(to != VICTIM for to, *_ in _mail(runtime, site.tenant))
    erased = [e for e in _audit(runtime, site.tenant) if e["action"] == "user.erased"]
    assert len(erased) == 1
    tag = str(erased[0]["target"])
    assert ERASED.match(tag)
    return tag


def test_the_user_erases_themselves(
    whitelabel_runtime: Runtime, sites: tuple[Site, Site], tenant_client: ClientFor
) -> None:
    first, second = sites
    runtime = whitelabel_runtime
    other_before = _dump(runtime, second.tenant)
    traces = _traces(runtime, first)
    audit_before = _audit(runtime, first.tenant)
    about_victim = [
        e["id"]
        for e in audit_before
        if first.victim.id in json.dumps(e) or VICTIM in json.dumps(e).lower()
    ]

    # refused: a wrong password, a body of the wrong shape
    wrong = _send(first.victim, "POST", "/api/v1/me/erase", {"password": PASSWORD + "x"})
    assert (wrong.status_code, wrong.json()["code"]) == (422, "wrong_password")
    for body in ({}, {"password": 12345}, [PASSWORD], "x" * 10):
        bad = _send(first.victim, "POST", "/api/v1/me/erase", body)
        assert bad.status_code == 400, (body, bad.text)
    assert _audit(runtime, first.tenant) == audit_before
    assert _traces(runtime, first) == traces

    done = _send(first.victim, "POST", "/api/v1/me/erase", {"password": PASSWORD})
    assert done.status_code == 204, done.text
    cleared = done.headers.get_list("set-cookie")
    assert any(c.startswith("wl_session=") and "Max-Age=0" in c for c in cleared), cleared
    tag = _erased_everywhere(runtime, first, traces)

    # the session is gone, and so is the account
    assert _send(first.victim, "GET", "/api/v1/me").status_code == 401
    again = tenant_client(first.tenant).post(
        "/api/v1/auth/login", json={"email": VICTIM, "password": PASSWORD}
    )
    assert (again.status_code, again.json()["code"]) == (401, "invalid_credentials")

    # the log keeps its rows, pseudonymised: the victim's actions under the tag with no address
    audit_after = {e["id"]: e for e in _audit(runtime, first.tenant)}
    assert set(audit_after) >= {e["id"] for e in audit_before}
    for event_id in about_victim:
        event = audit_after[event_id]
        assert tag in json.dumps(event)
        if event["actor"] == tag:
            assert event["ip"] is None
    note = next(e for e in audit_after.values() if e["action"] == "test.note")
    assert note["actor"] == first.owner.id and note["target"] == "ticket-7"
    assert note["detail"] == {
        "note": f"called {tag} back",
        "display_name": tag,
        "role": "member",
        "people": [{"who": tag}, {"who": first.member.id}],
    }
    # the rows of the others are untouched
    for event in audit_before:
        if event["id"] not in about_victim:
            assert audit_after[event["id"]] == event
    erased = next(e for e in audit_after.values() if e["action"] == "user.erased")
    assert (erased["actor"], erased["ip"], erased["detail"]["by"]) == (tag, None, "self")
    assert erased["detail"]["audit_rows_redacted"] == len(about_victim)

    # the other tenant's user of the same address, their rows and mail: exactly as before
    assert _dump(runtime, second.tenant) == other_before
    _login(Person(second.victim.id, VICTIM, tenant_client(second.tenant)))
    assert _send(second.victim, "GET", "/api/v1/me").json()["id"] == second.victim.id


def test_the_last_owner_cannot_erase_themselves(
    whitelabel_runtime: Runtime, sites: tuple[Site, Site]
) -> None:
    _, second = sites  # the victim's address is the second tenant's only owner
    before = _dump(whitelabel_runtime, second.tenant)
    refused = _send(second.victim, "POST", "/api/v1/me/erase", {"password": PASSWORD})
    assert (refused.status_code, refused.json()["code"]) == (409, "last_owner")
    assert _dump(whitelabel_runtime, second.tenant) == before
    # with another owner, they can
    assert _send(second.victim, "PATCH", f"/api/v1/admin/users/{second.admin.id}",
                 {"role": "owner"}).is_success  # fmt: skip
    done = _send(second.victim, "POST", "/api/v1/me/erase", {"password": PASSWORD})
    assert done.status_code == 204, done.text


def test_an_admin_erases_a_member(
    whitelabel_runtime: Runtime, sites: tuple[Site, Site], tenant_client: ClientFor
) -> None:
    first, second = sites
    runtime = whitelabel_runtime
    other_before = _dump(runtime, second.tenant)
    traces = _traces(runtime, first)
    done = _send(first.admin, "DELETE", f"/api/v1/admin/users/{first.victim.id}")
    assert done.status_code == 204, done.text
    tag = _erased_everywhere(runtime, first, traces)
    erased = next(e for e in _audit(runtime, first.tenant) if e["action"] == "user.erased")
    assert (erased["actor"], erased["detail"]["by"]) == (first.admin.id, "admin")
    assert erased["ip"] == "127.0.0.1"  # the admin's address
    assert tag not in (first.admin.id, first.victim.id)
    # the victim's sessions ended with the account; the id is now unknown
    assert _send(first.victim, "GET", "/api/v1/me").status_code == 401
    gone = _send(first.admin, "DELETE", f"/api/v1/admin/users/{first.victim.id}")
    assert (gone.status_code, gone.json()["code"]) == (404, "user_not_found")
    assert _dump(runtime, second.tenant) == other_before


@pytest.mark.parametrize(
    ("actor", "target", "status", "code"),
    [
        ("admin", "owner", 403, "forbidden"),
        ("admin", "admin2", 403, "forbidden"),
        ("admin", "admin", 409, "cannot_erase_self"),
        ("owner", "owner", 409, "cannot_erase_self"),
        ("member", "victim", 403, "forbidden"),
        ("anonymous", "victim", 401, "not_authenticated"),
        ("admin", "not-a-uuid", 404, "user_not_found"),
        ("owner", "other-tenant", 404, "user_not_found"),
        ("owner", "other-tenant-owner", 404, "user_not_found"),
    ],
)
def test_erasure_refusals_change_nothing(
    whitelabel_runtime: Runtime,
    sites: tuple[Site, Site],
    tenant_client: ClientFor,
    actor: str,
    target: str,
    status: int,
    code: str,
) -> None:
    first, second = sites
    runtime = whitelabel_runtime
    admin2 = _signup(tenant_client, first.tenant, "admin2@example.org", "Second Admin")
    assert _send(first.owner, "PATCH", f"/api/v1/admin/users/{admin2.id}",
                 {"role": "admin"}).is_success  # fmt: skip
    ids = {
        "owner": first.owner.id,
        "admin": first.admin.id,
        "admin2": admin2.id,
        "victim": first.victim.id,
        "other-tenant": second.member.id,
        "other-tenant-owner": second.victim.id,
    }
    # the anonymous client carries a valid anonymous CSRF token: it is the guard that refuses it
    anonymous = Person("", "", signing_csrf(tenant_client(first.tenant), runtime, first.tenant))
    person = anonymous if actor == "anonymous" else getattr(first, actor)
    before = (_dump(runtime, first.tenant), _dump(runtime, second.tenant))
    response = _send(person, "DELETE", f"/api/v1/admin/users/{ids.get(target, target)}")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert (_dump(runtime, first.tenant), _dump(runtime, second.tenant)) == before


def test_an_owner_erases_an_admin_who_invited_someone(
    whitelabel_runtime: Runtime, sites: tuple[Site, Site]
) -> None:
    first, _ = sites
    runtime = whitelabel_runtime
    schema = first.tenant.schema_name
    done = _send(first.owner, "DELETE", f"/api/v1/admin/users/{first.admin.id}")
    assert done.status_code == 204, done.text
    assert _occurrences(runtime, first.tenant, first.admin.id) == {}
    assert _occurrences(runtime, first.tenant, "admin@example.org") == {}
    # the invitation they sent stays valid for its invitee, without an inviter
    with runtime.db.sync_engine.connect() as conn:
        invitation = conn.execute(
            text(
                f'SELECT email, role, created_by, revoked_at FROM "{schema}".account_tokens'
                " WHERE purpose = 'invitation'"
            )
        ).one()
    assert tuple(invitation) == ("new@example.org", "member", None, None)
    created = next(e for e in _audit(runtime, first.tenant) if e["action"] == "invitation.created")
    assert ERASED.match(created["actor"]) and created["target"] == "new@example.org"


def test_erasure_needs_the_csrf_header(
    whitelabel_runtime: Runtime, sites: tuple[Site, Site]
) -> None:
    first, second = sites
    before = (_dump(whitelabel_runtime, first.tenant), _dump(whitelabel_runtime, second.tenant))
    own = first.victim.client.post("/api/v1/me/erase", json={"password": PASSWORD})
    assert own.status_code == 403, own.text
    by_owner = first.owner.client.delete(f"/api/v1/admin/users/{first.victim.id}")
    assert by_owner.status_code == 403, by_owner.text
    forged = first.owner.client.delete(
        f"/api/v1/admin/users/{first.victim.id}", headers={"X-CSRF-Token": "forged"}
    )
    assert forged.status_code == 403, forged.text
    after = (_dump(whitelabel_runtime, first.tenant), _dump(whitelabel_runtime, second.tenant))
    assert after == before
