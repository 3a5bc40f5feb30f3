"""Tenant lifecycle on real PostgreSQL: idempotence, conflicts, audit, and crashes mid-transaction.

Crashes are injected from outside the product code: a CLI subprocess is SIGKILLed while it waits on
a lock the test holds (after it has already done part of its work), or a SQLAlchemy
``before_cursor_execute`` listener installed by the test raises on a chosen statement.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text

from migrations import runner
from tenants.schemas import TenantView
from tests.integration.tenancy_support import (
    REPO_ROOT,
    audit_events,
    cli_command,
    cli_env,
    run_cli,
    tenant_schemas,
    wait_until,
)
from whitelabel.errors import Conflict, NotFound, ValidationFailed
from whitelabel.runtime import Runtime
from whitelabel.testing import TenantFactory

# -- helpers ---------------------------------------------------------------------------------


def _slug() -> str:
    return f"lc{secrets.token_hex(5)}"


def _count(runtime: Runtime, sql: str, **params: Any) -> int:
    with runtime.db.sync_engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def _registry(runtime: Runtime, slug: str) -> dict[str, int]:
    """How many registry rows a slug has, purged ones included."""
    ids = "SELECT id FROM platform.tenants WHERE slug = :slug"
    return {
        "tenants": _count(
            runtime, "SELECT count(*) FROM platform.tenants WHERE slug = :slug", slug=slug
        ),
        "domains": _count(
            runtime, f"SELECT count(*) FROM platform.domains WHERE tenant_id IN ({ids})", slug=slug
        ),
        "ledger": _count(
            runtime,
            f"SELECT count(*) FROM platform.schema_states WHERE tenant_id IN ({ids})",
            slug=slug,
        ),
    }


def _schema_exists(runtime: Runtime, schema: str) -> bool:
    return bool(_count(runtime, "SELECT count(*) FROM pg_namespace WHERE nspname = :s", s=schema))


def _all_schemas(runtime: Runtime) -> set[str]:
    with runtime.db.sync_engine.connect() as conn:
        return tenant_schemas(conn)


def _actions(runtime: Runtime, view: TenantView) -> list[tuple[str, str | None]]:
    return [(action, target) for action, _, target in audit_events(runtime.db, view)]


def _created_only(view: TenantView) -> list[tuple[str, str | None]]:
    return [("tenant.created", view.slug)]


def _code(exc: pytest.ExceptionInfo[Any]) -> str:
    return str(exc.value.code)


# -- create ----------------------------------------------------------------------------------


def test_create_is_idempotent_and_a_different_name_conflicts(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory
) -> None:
    service = whitelabel_runtime.tenants
    slug = _slug()
    schemas_before = _all_schemas(whitelabel_runtime)
    make_tenant.created.append(slug)  # purged after the test
    view, created = service.create(slug, "Idem Potent", actor="test")
    assert created is True
    assert view.status == "active"
    assert view.schema_revision == runner.head("tenant") and view.schema_status == "ready"
    assert [d.hostname for d in view.domains] == [
        f"{slug}.{whitelabel_runtime.settings.base_domain}"
    ]
    assert _all_schemas(whitelabel_runtime) == schemas_before | {view.schema_name}

    again, created_again = service.create(slug, "Idem  Potent ", actor="test")  # same, normalised
    assert created_again is False
    assert again.id == view.id and again.schema_name == view.schema_name
    assert _registry(whitelabel_runtime, slug) == {"tenants": 1, "domains": 1, "ledger": 1}
    assert _all_schemas(whitelabel_runtime) == schemas_before | {view.schema_name}
    assert _actions(whitelabel_runtime, view) == _created_only(view)

    with pytest.raises(Conflict) as exc:
        service.create(slug, "Someone Else", actor="test")
    assert _code(exc) == "slug_taken"
    assert _registry(whitelabel_runtime, slug) == {"tenants": 1, "domains": 1, "ledger": 1}
    assert _all_schemas(whitelabel_runtime) == schemas_before | {view.schema_name}


def test_create_again_with_a_host_adds_it_once(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    first, second = tenant_pair
    host = f"{first.slug}.example.org"
    for _ in range(2):
        view, created = whitelabel_runtime.tenants.create(
            first.slug, first.name, domains=[host], actor="test"
        )
        assert created is False
    assert sorted(d.hostname for d in view.domains) == sorted([first.primary_host or "", host])
    assert _actions(whitelabel_runtime, first) == [*_created_only(first), ("domain.added", host)]
    assert _actions(whitelabel_runtime, second) == _created_only(second)


@pytest.mark.parametrize(
    ("slug", "name", "domains", "code"),
    [
        ("Upper", "x", (), "invalid_slug"),
        ("admin", "x", (), "invalid_slug"),
        ("-dash", "x", (), "invalid_slug"),
        ("ok-slug-{}", "   ", (), "invalid_name"),
        ("ok-slug-{}", "x" * 201, (), "invalid_name"),
        ("ok-slug-{}", "x", ("sub.localhost",), "invalid_hostname"),
        ("ok-slug-{}", "x", ("10.0.0.1",), "invalid_hostname"),
    ],
)
def test_create_refuses_bad_input_and_leaves_nothing(
    whitelabel_runtime: Runtime, slug: str, name: str, domains: tuple[str, ...], code: str
) -> None:
    slug = slug.format(secrets.token_hex(3))
    schemas_before = _all_schemas(whitelabel_runtime)
    with pytest.raises(ValidationFailed) as exc:
        whitelabel_runtime.tenants.create(slug, name, domains=domains)
    assert _code(exc) == code
    assert _registry(whitelabel_runtime, slug)["tenants"] == 0
    assert _all_schemas(whitelabel_runtime) == schemas_before


# -- status changes --------------------------------------------------------------------------


def test_status_changes_are_idempotent_and_audited_in_the_tenant_only(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    service = whitelabel_runtime.tenants
    first, second = tenant_pair
    for _ in range(2):
        assert service.suspend(first.slug).status == "suspended"
    for _ in range(2):
        assert service.resume(first.slug).status == "active"
    assert service.resume(first.slug).status == "active"  # resuming an active tenant: no-op
    for _ in range(2):
        deleted = service.delete(first.slug)
        assert deleted.status == "deleted" and deleted.deleted_at is not None
    for change in (service.suspend, service.resume):
        with pytest.raises(Conflict) as exc:
            change(first.slug)
        assert _code(exc) == "tenant_deleted"
    assert service.get(first.slug).status == "deleted"
    assert [a for a, _ in _actions(whitelabel_runtime, first)] == [
        "tenant.created",
        "tenant.suspended",
        "tenant.resumed",
        "tenant.deleted",
    ]
    assert _actions(whitelabel_runtime, second) == _created_only(second)
    assert service.get(second.slug).status == "active"
    with pytest.raises(NotFound) as missing:
        service.suspend(f"nope{secrets.token_hex(4)}")
    assert _code(missing) == "tenant_not_found"


# -- purge -----------------------------------------------------------------------------------


def test_purge_needs_delete_then_drops_schema_and_frees_slug_and_hosts(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory
) -> None:
    service = whitelabel_runtime.tenants
    host = f"purge-{secrets.token_hex(4)}.example.org"
    victim = make_tenant(domains=(host,))
    bystander = make_tenant()
    with pytest.raises(Conflict) as exc:
        service.purge(victim.slug)
    assert _code(exc) == "tenant_not_deleted"
    assert _schema_exists(whitelabel_runtime, victim.schema_name)

    service.delete(victim.slug)
    with pytest.raises(Conflict) as still_taken:  # a deleted tenant keeps its slug until purged
        service.create(victim.slug, victim.name)
    assert _code(still_taken) == "slug_taken"
    purged = service.purge(victim.slug)
    assert purged.purged_at is not None
    assert not _schema_exists(whitelabel_runtime, victim.schema_name)
    assert _schema_exists(whitelabel_runtime, bystander.schema_name)
    row = _count(
        whitelabel_runtime,
        "SELECT count(*) FROM platform.tenants WHERE id = :id AND purged_at IS NOT NULL"
        " AND status = 'deleted'",
        id=victim.id,
    )
    assert row == 1  # the row stays, as a record that the tenant existed
    assert (
        _count(
            whitelabel_runtime,
            "SELECT count(*) FROM platform.domains WHERE tenant_id = :id",
            id=victim.id,
        )
        == 0
    )
    assert (
        _count(
            whitelabel_runtime,
            "SELECT count(*) FROM platform.schema_states"
            " WHERE tenant_id = :id AND status = 'dropped'",
            id=victim.id,
        )
        == 1
    )
    for again in (service.get, service.delete, service.suspend):
        with pytest.raises(NotFound) as gone:
            again(victim.slug)
        assert _code(gone) == "tenant_not_found"
    assert service.purge(victim.slug) == purged  # purging again: idempotent, nothing changes

    # slug and hosts are free again
    reborn = make_tenant(victim.slug, name="Reborn")
    assert reborn.id != victim.id and reborn.schema_name != victim.schema_name
    assert reborn.primary_host == victim.primary_host
    assert _actions(whitelabel_runtime, reborn) == _created_only(reborn)
    service.add_domain(bystander.slug, host)
    assert host in [d.hostname for d in service.get(bystander.slug).domains]
    assert _actions(whitelabel_runtime, bystander) == [
        *_created_only(bystander),
        ("domain.added", host),
    ]


# -- domains ---------------------------------------------------------------------------------


def test_domains_idempotent_conflicting_and_audited(
    whitelabel_runtime: Runtime, tenant_pair: tuple[TenantView, TenantView]
) -> None:
    service = whitelabel_runtime.tenants
    first, second = tenant_pair
    host = f"{first.slug}.example.org"
    other = f"www.{first.slug}.example.org"
    service.add_domain(first.slug, host)
    view = service.add_domain(first.slug, host.upper() + ".")  # same host, other spelling
    assert sorted(d.hostname for d in view.domains) == sorted([first.primary_host or "", host])
    with pytest.raises(Conflict) as taken:
        service.add_domain(second.slug, host)
    assert _code(taken) == "host_taken"
    with pytest.raises(ValidationFailed) as managed_elsewhere:
        # another tenant's managed subdomain: hosts under the base domain are never added by hand
        service.add_domain(second.slug, first.primary_host or "")
    assert _code(managed_elsewhere) == "invalid_hostname"
    with pytest.raises(ValidationFailed) as bad:
        service.add_domain(first.slug, "not a host")
    assert _code(bad) == "invalid_hostname"

    service.add_domain(first.slug, other, primary=True)
    with pytest.raises(Conflict) as primary:
        service.remove_domain(first.slug, other)
    assert _code(primary) == "primary_host"
    with pytest.raises(Conflict) as managed:
        service.remove_domain(first.slug, first.primary_host or "")
    assert _code(managed) == "managed_host"
    for _ in range(2):
        view = service.remove_domain(first.slug, host)
    assert sorted(d.hostname for d in view.domains) == sorted([first.primary_host or "", other])
    assert view.primary_host == other

    assert _actions(whitelabel_runtime, first) == [
        *_created_only(first),
        ("domain.added", host),
        ("domain.added", other),
        ("domain.primary", other),
        ("domain.removed", host),
    ]
    assert _actions(whitelabel_runtime, second) == _created_only(second)
    assert [d.hostname for d in service.get(second.slug).domains] == [second.primary_host]


# -- crash in the middle: a CLI process killed while it waits on a lock ----------------------


@contextmanager
def _lock_holder(runtime: Runtime, statement: str, **params: Any) -> Iterator[int]:
    """A separate connection holding a lock (taken by ``statement``) until the block ends.

    Yields the backend pid of that connection.
    """
    with runtime.db.sync_engine.connect() as conn:
        conn.execute(text(statement), params)
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        try:
            yield pid
        finally:
            conn.rollback()


def _blocked_by(runtime: Runtime, holder_pid: int) -> list[tuple[int, str]]:
    with runtime.db.sync_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid, query FROM pg_stat_activity "
                "WHERE :holder = ANY(pg_blocking_pids(pid)) AND wait_event_type = 'Lock'"
            ),
            {"holder": holder_pid},
        ).all()
    return [(int(r.pid), str(r.query)) for r in rows]


def _backend_alive(runtime: Runtime, pid: int) -> bool:
    return bool(_count(runtime, "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid", pid=pid))


def _kill_when_blocked(
    runtime: Runtime, args: list[str], holder_pid: int, statement_prefix: str
) -> int:
    """Start ``whitelabel ARGS``, wait until its transaction waits on our lock, SIGKILL it."""
    process = subprocess.Popen(
        cli_command(*args),
        env=cli_env(runtime.settings),
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    blocked: list[tuple[int, str]] = []

    def waiting() -> bool:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(
                f"the command finished (exit {process.returncode}) instead of blocking: {err}"
            )
        blocked[:] = _blocked_by(runtime, holder_pid)
        return bool(blocked)

    try:
        wait_until(waiting, timeout=30, what=f"whitelabel {' '.join(args)} to block on the lock")
        assert len(blocked) == 1
        pid, query = blocked[0]
        assert query.startswith(statement_prefix), query
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    return pid


def _uncommitted_relations_locked(runtime: Runtime, pid: int) -> int:
    """Relations created by ``pid``'s open transaction (locked by it, invisible to others)."""
    return _count(
        runtime,
        "SELECT count(*) FROM pg_locks l WHERE l.pid = :pid AND l.locktype = 'relation'"
        " AND l.granted AND l.mode = 'AccessExclusiveLock'"
        " AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = l.relation)",
        pid=pid,
    )


def _schema_relations_locked(runtime: Runtime, pid: int, schema: str) -> int:
    """Relations of ``schema`` that ``pid`` holds exclusively (as DROP SCHEMA does)."""
    return _count(
        runtime,
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE l.pid = :pid AND l.granted AND l.mode = 'AccessExclusiveLock'"
        " AND n.nspname = :schema",
        pid=pid,
        schema=schema,
    )


def test_create_killed_mid_transaction_leaves_nothing_and_reruns(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory
) -> None:
    runtime = whitelabel_runtime
    slug = _slug()
    make_tenant.created.append(slug)  # purged after the test, whatever state it ends in
    schemas_before = _all_schemas(runtime)
    args = ["tenants", "create", slug, "--name", "Crash Create"]
    lock_ledger = "LOCK TABLE platform.schema_states IN ACCESS EXCLUSIVE MODE"
    with _lock_holder(runtime, lock_ledger) as holder:
        pid = _kill_when_blocked(runtime, args, holder, "INSERT INTO platform.schema_states")
        # It got this far: tenant row inserted, schema and its tables created (uncommitted).
        assert _uncommitted_relations_locked(runtime, pid) >= 2
    wait_until(lambda: not _backend_alive(runtime, pid), timeout=15, what="the backend to end")

    assert _registry(runtime, slug) == {"tenants": 0, "domains": 0, "ledger": 0}
    assert _all_schemas(runtime) == schemas_before
    assert (
        _count(
            runtime,
            "SELECT count(*) FROM platform.domains WHERE hostname = :h",
            h=f"{slug}.{runtime.settings.base_domain}",
        )
        == 0
    )

    rerun = run_cli(runtime.settings, args)
    assert rerun.returncode == 0, rerun.stderr
    assert "created" in rerun.stderr
    view = runtime.tenants.get(slug)
    assert view.schema_status == "ready" and view.schema_revision == runner.head("tenant")
    assert _registry(runtime, slug) == {"tenants": 1, "domains": 1, "ledger": 1}
    assert _all_schemas(runtime) == schemas_before | {view.schema_name}
    assert _actions(runtime, view) == _created_only(view)


def test_purge_killed_mid_transaction_keeps_the_tenant_and_reruns(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory
) -> None:
    runtime = whitelabel_runtime
    victim = make_tenant()
    runtime.tenants.delete(victim.slug)
    args = ["tenants", "purge", victim.slug, "--yes"]
    with _lock_holder(
        runtime,
        "SELECT 1 FROM platform.schema_states WHERE tenant_id = :id FOR UPDATE",
        id=victim.id,
    ) as holder:
        pid = _kill_when_blocked(runtime, args, holder, "UPDATE platform.schema_states")
        # It got this far: the schema is dropped inside its open transaction.
        assert _schema_relations_locked(runtime, pid, victim.schema_name) >= 1
    wait_until(lambda: not _backend_alive(runtime, pid), timeout=15, what="the backend to end")

    assert _schema_exists(runtime, victim.schema_name)
    view = runtime.tenants.get(victim.slug)
    assert view.purged_at is None and view.status == "deleted"
    assert view.schema_status == "ready"
    assert [d.hostname for d in view.domains] == [victim.primary_host]
    assert [a for a, _ in _actions(runtime, victim)] == ["tenant.created", "tenant.deleted"]

    rerun = run_cli(runtime.settings, args)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{victim.slug}: purged" in rerun.stdout
    assert not _schema_exists(runtime, victim.schema_name)
    assert _registry(runtime, victim.slug) == {"tenants": 1, "domains": 0, "ledger": 1}
    with pytest.raises(NotFound):
        runtime.tenants.get(victim.slug)


# -- crash in the middle: an in-process fault on a chosen statement ------------------------------


class InjectedFault(Exception):
    """Raised by the test's cursor listener in place of a statement."""


class Fault:
    """What the fault listener saw: the statements sent before it fired, and the one it stopped."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.fired: list[str] = []

    def sent_before(self, prefix: str) -> bool:
        return any(s.lstrip().startswith(prefix) for s in self.sent)


@contextmanager
def _fault_on(runtime: Runtime, prefix: str) -> Iterator[Fault]:
    """Raise :class:`InjectedFault` in place of the first statement that starts with ``prefix``."""
    fault = Fault()

    def listener(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if fault.fired:
            return
        if statement.lstrip().startswith(prefix):
            fault.fired.append(statement)
            raise InjectedFault(prefix)
        fault.sent.append(statement)

    engine = runtime.db.sync_engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield fault
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert not event.contains(engine, "before_cursor_execute", listener)


def test_create_fault_on_ledger_insert_rolls_back_everything(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory
) -> None:
    runtime = whitelabel_runtime
    slug = _slug()
    make_tenant.created.append(slug)  # purged after the test, whatever state it ends in
    schemas_before = _all_schemas(runtime)
    ledger_insert = "INSERT INTO platform.schema_states"
    with _fault_on(runtime, ledger_insert) as fault, pytest.raises(InjectedFault):
        runtime.tenants.create(slug, "Faulty", domains=[f"{slug}.example.org"])
    assert len(fault.fired) == 1
    assert fault.sent_before("INSERT INTO platform.tenants")
    assert fault.sent_before("CREATE SCHEMA") and fault.sent_before("INSERT INTO platform.domains")
    assert _registry(runtime, slug) == {"tenants": 0, "domains": 0, "ledger": 0}
    assert _all_schemas(runtime) == schemas_before
    assert (
        _count(
            runtime,
            "SELECT count(*) FROM platform.domains WHERE hostname = :h",
            h=f"{slug}.example.org",
        )
        == 0
    )

    view, created = runtime.tenants.create(slug, "Faulty", domains=[f"{slug}.example.org"])
    assert created is True
    assert _registry(runtime, slug) == {"tenants": 1, "domains": 2, "ledger": 1}
    assert _actions(runtime, view) == _created_only(view)


def test_purge_fault_after_drop_schema_rolls_back_the_drop(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory
) -> None:
    runtime = whitelabel_runtime
    victim = make_tenant()
    runtime.tenants.delete(victim.slug)
    with _fault_on(runtime, "UPDATE platform.tenants") as fault, pytest.raises(InjectedFault):
        runtime.tenants.purge(victim.slug)
    assert len(fault.fired) == 1
    assert fault.sent_before("DROP SCHEMA")
    assert _schema_exists(runtime, victim.schema_name)
    view = runtime.tenants.get(victim.slug)
    assert view.purged_at is None and view.schema_status == "ready"
    assert [d.hostname for d in view.domains] == [victim.primary_host]
    assert [a for a, _ in _actions(runtime, victim)] == ["tenant.created", "tenant.deleted"]

    assert runtime.tenants.purge(victim.slug).purged_at is not None
    assert not _schema_exists(runtime, victim.schema_name)


@pytest.mark.parametrize(
    ("operation", "prefix"),
    [
        ("suspend", "SELECT pg_notify"),
        ("delete", "INSERT INTO tenant_"),
        ("add_domain", "SELECT pg_notify"),
        ("remove_domain", "DELETE FROM platform.domains"),
    ],
)
def test_other_operations_roll_back_whole_on_a_fault(
    whitelabel_runtime: Runtime,
    tenant_pair: tuple[TenantView, TenantView],
    operation: str,
    prefix: str,
) -> None:
    runtime = whitelabel_runtime
    service = runtime.tenants
    first, second = tenant_pair
    host = f"{first.slug}.example.net"
    if operation == "remove_domain":
        service.add_domain(first.slug, host)
    calls: dict[str, Callable[[], object]] = {
        "suspend": lambda: service.suspend(first.slug),
        "delete": lambda: service.delete(first.slug),
        "add_domain": lambda: service.add_domain(first.slug, host),
        "remove_domain": lambda: service.remove_domain(first.slug, host),
    }
    before = (service.get(first.slug), _actions(runtime, first))
    with _fault_on(runtime, prefix) as fault, pytest.raises(InjectedFault):
        calls[operation]()
    assert len(fault.fired) == 1
    assert (service.get(first.slug), _actions(runtime, first)) == before
    calls[operation]()  # the rerun completes
    assert _actions(runtime, first) != before[1]
    assert _actions(runtime, second) == _created_only(second)
