"""The example custom module (examples/notes_module) on a real server: two tenants, no leaks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from examples.notes_module import NotesPlugin
from examples.notes_module.asgi import create_notes_app
from examples.notes_module.service import KEY_PREFIX
from examples.notes_module.tasks import context_for, note_count
from tenants.schemas import TenantView
from whitelabel.app import create_app
from whitelabel.errors import NotFound, TenantNotBoundError
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent, TenantSetting
from whitelabel.testing import LiveServer, host_client, wait_for_route


@pytest.fixture(scope="module")
def notes_runtime(whitelabel_runtime: Runtime) -> Iterator[Runtime]:
    """A runtime of its own on the test database, for the app that carries the notes module.

    Stopping an app stops its runtime's routing listener, so an app that stops before the end of
    the session must not share the session's runtime (the ``live_server`` fixture uses that one).
    """
    runtime = Runtime.start(whitelabel_runtime.settings)
    yield runtime
    runtime.db.sync_engine.dispose()


@pytest.fixture(scope="module")
def notes_server(notes_runtime: Runtime) -> Iterator[LiveServer]:
    """The application plus the notes module, served on 127.0.0.1 for this module's tests."""
    app = create_app(runtime=notes_runtime, plugins=[NotesPlugin()], access_log=False)
    server = LiveServer(app).start()
    yield server
    server.stop()


def _client(server: LiveServer, runtime: Runtime, tenant: TenantView) -> httpx.Client:
    """A client on the tenant's host, once the server's routing table has the tenant."""
    host = tenant.primary_host or ""
    wait_for_route(runtime, host)
    return host_client(server.url, host, timeout=10.0)


def _stored(runtime: Runtime, tenant: TenantView) -> tuple[list[str], list[str]]:
    """(note keys, audited note ids) as they are in the tenant's own schema."""
    with runtime.db.tenant_sync_session(context_for(tenant)) as session:
        keys = session.scalars(
            select(TenantSetting.key).where(TenantSetting.key.startswith(KEY_PREFIX))
        ).all()
        audited = session.scalars(
            select(AuditEvent.target).where(AuditEvent.action == "note.added")
        ).all()
    return sorted(keys), sorted(target or "" for target in audited)


def test_each_tenant_sees_only_its_own_notes(
    notes_server: LiveServer,
    notes_runtime: Runtime,
    whitelabel_runtime: Runtime,
    tenant_pair: tuple[TenantView, TenantView],
) -> None:
    first, second = tenant_pair
    with (
        _client(notes_server, notes_runtime, first) as one,
        _client(notes_server, notes_runtime, second) as two,
    ):
        added = one.post("/api/v1/notes", json={"text": "  only for the first tenant  "})
        assert added.status_code == 201
        note = added.json()
        assert note["text"] == "only for the first tenant"

        mine, theirs = one.get("/api/v1/notes").json(), two.get("/api/v1/notes").json()
        assert mine["tenant"] == first.slug
        assert [n["id"] for n in mine["notes"]] == [note["id"]]
        assert mine["count"] == 1  # the textual-SQL count agrees with the ORM read
        assert theirs == {"tenant": second.slug, "count": 0, "notes": []}

        for text in ("second tenant, one", "second tenant, two"):
            assert two.post("/api/v1/notes", json={"text": text}).status_code == 201
        theirs = two.get("/api/v1/notes").json()
        assert [n["text"] for n in theirs["notes"]] == ["second tenant, one", "second tenant, two"]
        assert theirs["count"] == 2
        assert one.get("/api/v1/notes").json()["count"] == 1

    # The rows, and their audit records, are in each tenant's own schema and nowhere else.
    first_keys, first_audit = _stored(whitelabel_runtime, first)
    second_keys, second_audit = _stored(whitelabel_runtime, second)
    assert first_keys == [KEY_PREFIX + note["id"]]
    assert first_audit == [note["id"]]
    assert len(second_keys) == 2
    assert second_audit == sorted(k.removeprefix(KEY_PREFIX) for k in second_keys)
    assert not set(first_keys) & set(second_keys)


@pytest.mark.parametrize("text", ["", "   ", "x" * 501])
def test_a_bad_note_is_refused_with_the_error_contract(
    notes_server: LiveServer,
    notes_runtime: Runtime,
    whitelabel_runtime: Runtime,
    tenant_pair: tuple[TenantView, TenantView],
    text: str,
) -> None:
    first, _ = tenant_pair
    with _client(notes_server, notes_runtime, first) as client:
        response = client.post("/api/v1/notes", json={"text": text})
        assert response.status_code == 422
        assert response.json() == {
            "code": "invalid_note",
            "message": "A note is 1-500 characters.",
            "detail": {"field": "text"},
        }
        assert client.get("/api/v1/notes").json()["count"] == 0
    assert _stored(whitelabel_runtime, first) == ([], [])


def test_notes_exist_only_on_tenant_hosts(
    notes_server: LiveServer, whitelabel_runtime: Runtime
) -> None:
    platform = whitelabel_runtime.settings.platform_host
    with host_client(notes_server.url, platform, timeout=10.0) as client:
        response = client.get("/api/v1/notes")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"

    answers = []
    for host in ("nobody.localhost", "notes.example.org"):
        with host_client(notes_server.url, host, timeout=10.0) as client:
            answers.append(client.get("/api/v1/notes"))
            answers.append(client.get("/api/v1/no-such-route"))
    assert {a.status_code for a in answers} == {404}
    assert len({a.content for a in answers}) == 1  # the uniform 404, route or no route


def test_a_script_enters_the_tenant_explicitly(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    first, second = tenant_pair
    with whitelabel_runtime.db.tenant_sync_session(context_for(first)) as session:
        session.add(TenantSetting(key=KEY_PREFIX + "from-a-script", value={"text": "x"}))
        session.commit()
    assert note_count(whitelabel_runtime, first.slug) == 1
    assert note_count(whitelabel_runtime, second.slug) == 0
    with pytest.raises(TenantNotBoundError):
        whitelabel_runtime.db.tenant_sync_session()
    with pytest.raises(NotFound):
        note_count(whitelabel_runtime, "no-such-tenant")


def test_the_asgi_factory_mounts_the_module(whitelabel_runtime: Runtime) -> None:
    app = create_notes_app(whitelabel_runtime.settings)
    try:
        assert "/api/v1/notes" in {route.path for route in app.routes}
    finally:
        app.state["runtime"].db.sync_engine.dispose()
