"""Fleet migrations over hundreds of real tenant schemas, one of them broken.

Two hundred tenants are created from the template, then put "behind" in bulk: each schema is emptied
(no tables, no ``alembic_version``) and its ledger row set to ``revision NULL, status 'pending'``.
One schema is broken on purpose (a conflicting ``audit_log`` table). ``upgrade_fleet`` and the
``whitelabel db upgrade|status`` commands must bring every other schema to head, report exactly
the broken one, resume once it is fixed, and do nothing on the run after that.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy import Connection, text

from migrations import runner
from tenants.fleet import TenantFailure, pending_tenants, upgrade_fleet
from tenants.schemas import TenantView
from tests.integration.tenancy_support import run_cli
from whitelabel.runtime import Runtime
from whitelabel.testing import TenantFactory

pytestmark = pytest.mark.slow

#: Enough schemas that the upgrade runs in several batches and the broken one sits mid-fleet
#: (cut from 200: every tenant schema now has the SSO tables too, and CI runs on 2 slow cores).
FLEET = 100
_BATCH = 25  # schemas emptied per transaction: keeps the lock table small on a shared server


def _ident(conn: Connection, name: str) -> str:
    raw = conn.connection.driver_connection
    assert raw is not None
    return sql.Identifier(name).as_string(raw)


def _put_behind(runtime: Runtime, tenants: Sequence[TenantView]) -> None:
    """Empty every schema and mark its ledger row pending, in bulk."""
    engine = runtime.db.sync_engine
    for start in range(0, len(tenants), _BATCH):
        batch = tenants[start : start + _BATCH]
        with engine.begin() as conn:
            script = ";\n".join(
                f"DROP SCHEMA {_ident(conn, t.schema_name)} CASCADE;"
                f" CREATE SCHEMA {_ident(conn, t.schema_name)}"
                for t in batch
            )
            conn.exec_driver_sql(script)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE platform.schema_states SET revision = NULL, status = 'pending',"
                " last_error = NULL WHERE tenant_id = ANY(:ids)"
            ),
            {"ids": [t.id for t in tenants]},
        )


def _ledger(runtime: Runtime, tenants: Sequence[TenantView]) -> dict[str, tuple[Any, ...]]:
    """slug -> (revision, status, last_error, migrated_at) for the given tenants."""
    with runtime.db.sync_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.slug, s.revision, s.status, s.last_error, s.migrated_at"
                " FROM platform.schema_states s JOIN platform.tenants t ON t.id = s.tenant_id"
                " WHERE t.id = ANY(:ids)"
            ),
            {"ids": [t.id for t in tenants]},
        ).all()
    return {r.slug: (r.revision, r.status, r.last_error, r.migrated_at) for r in rows}


def _versions(runtime: Runtime, tenants: Sequence[TenantView]) -> dict[str, list[str] | None]:
    """slug -> the rows of the schema's own ``alembic_version`` (``None``: no such table)."""
    result: dict[str, list[str] | None] = {}
    with runtime.db.sync_engine.connect() as conn:
        present = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relname = 'alembic_version' AND n.nspname = ANY(:schemas)"
                ),
                {"schemas": [t.schema_name for t in tenants]},
            )
        }
        with_table = [t for t in tenants if t.schema_name in present]
        rows: list[Any] = []
        if with_table:
            union = " UNION ALL ".join(
                f"SELECT {i} AS n, version_num FROM {_ident(conn, t.schema_name)}.alembic_version"
                for i, t in enumerate(with_table)
            )
            rows = list(conn.execute(text(union)))  # identifiers quoted by the driver
    for t in tenants:
        result[t.slug] = [] if t.schema_name in present else None
    for row in rows:
        versions = result[with_table[row.n].slug]
        assert versions is not None
        versions.append(row.version_num)
    return result


def _relation_count(runtime: Runtime, tenants: Sequence[TenantView]) -> int:
    with runtime.db.sync_engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = ANY(:schemas)"
                ),
                {"schemas": [t.schema_name for t in tenants]},
            ).scalar_one()
        )


def _live_tenants(runtime: Runtime) -> int:
    with runtime.db.sync_engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM platform.tenants WHERE purged_at IS NULL")
            ).scalar_one()
        )


def test_fleet_upgrade_resumes_and_reports_the_broken_schema(
    whitelabel_runtime: Runtime, make_tenant: TenantFactory
) -> None:
    runtime = whitelabel_runtime
    engine = runtime.db.sync_engine
    head = runner.head("tenant")
    assert pending_tenants(engine, head) == [], "the fleet must be healthy before this test"
    live_before = _live_tenants(runtime)

    tenants = [make_tenant(f"fl{uuid.uuid4().hex[:12]}") for _ in range(FLEET)]
    by_slug = {t.slug: t for t in tenants}
    slugs = sorted(by_slug)
    broken = by_slug[slugs[FLEET // 2]]
    single = by_slug[slugs[0]]
    single_cli = by_slug[slugs[1]]
    healthy = sorted(set(slugs) - {broken.slug})

    _put_behind(runtime, tenants)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {_ident(conn, broken.schema_name)}.audit_log (note text)"
        )
    assert _relation_count(runtime, tenants) == 1  # only the broken table is left

    # --dry-run changes nothing
    ledger_before = _ledger(runtime, tenants)
    assert {v[:2] for v in ledger_before.values()} == {(None, "pending")}
    dry = upgrade_fleet(engine, dry_run=True)
    assert dry.dry_run and dry.pending == slugs
    assert dry.upgraded == [] and dry.failed == []
    cli_dry = run_cli(runtime.settings, ["db", "upgrade", "--dry-run"])
    assert cli_dry.returncode == 0, cli_dry.stderr
    assert f"{FLEET} tenant schema(s) would be upgraded" in cli_dry.stdout
    assert _ledger(runtime, tenants) == ledger_before
    assert _relation_count(runtime, tenants) == 1

    # --tenant SLUG touches that tenant only (API and CLI)
    only = upgrade_fleet(engine, slug=single.slug)
    assert (only.pending, only.upgraded, only.failed) == ([single.slug], [single.slug], [])
    cli_only = run_cli(runtime.settings, ["db", "upgrade", "--tenant", single_cli.slug])
    assert cli_only.returncode == 0, cli_only.stderr
    assert "1 upgraded, 0 failed" in cli_only.stdout
    ledger = _ledger(runtime, tenants)
    for slug, row in ledger.items():
        if slug in (single.slug, single_cli.slug):
            assert row[:3] == (head, "ready", None)
        else:
            assert row == ledger_before[slug]
    versions = _versions(runtime, tenants)
    assert versions[single.slug] == versions[single_cli.slug] == [head]
    assert sum(v is not None for v in versions.values()) == 2

    # the whole fleet: every healthy schema reaches head, the broken one is reported
    report = upgrade_fleet(engine, concurrency=4)
    rest = sorted(set(slugs) - {single.slug, single_cli.slug})
    assert report.pending == rest
    assert report.upgraded == sorted(set(rest) - {broken.slug})
    assert [(f.slug, f.schema) for f in report.failed] == [(broken.slug, broken.schema_name)]
    failure: TenantFailure = report.failed[0]
    assert "DuplicateTable" in failure.error and "audit_log" in failure.error
    assert not report.ok
    ledger = _ledger(runtime, tenants)
    assert {slug: row[:3] for slug, row in ledger.items() if slug != broken.slug} == {
        slug: (head, "ready", None) for slug in healthy
    }
    assert ledger[broken.slug][:3] == (None, "failed", failure.error)
    versions = _versions(runtime, tenants)
    assert {slug: versions[slug] for slug in healthy} == {slug: [head] for slug in healthy}
    assert versions[broken.slug] is None  # its failed transaction left no version table
    assert pending_tenants(engine, head) == [(broken.id, broken.slug, broken.schema_name)]

    # the command line: non-zero with a per-tenant line while it fails; status shows the counts
    cli_failed = run_cli(runtime.settings, ["db", "upgrade"])
    assert cli_failed.returncode == 1
    assert "0 upgraded, 1 failed" in cli_failed.stdout
    failed_lines = [line for line in cli_failed.stderr.splitlines() if line.startswith("FAILED ")]
    assert len(failed_lines) == 1
    assert failed_lines[0].startswith(f"FAILED {broken.slug} ({broken.schema_name}): ")
    assert "audit_log" in failed_lines[0]
    status = run_cli(runtime.settings, ["db", "status", "--json"])
    assert status.returncode == 0, status.stderr
    fleet = json.loads(status.stdout)
    assert fleet["head"] == head
    assert sorted(fleet["fleet"], key=lambda e: e["status"]) == [
        {"revision": None, "status": "failed", "tenants": 1},
        {"revision": head, "status": "ready", "tenants": live_before + FLEET - 1},
    ]
    table = run_cli(runtime.settings, ["db", "status"])
    assert table.returncode == 0, table.stderr
    assert "failed" in table.stdout and str(live_before + FLEET - 1) in table.stdout

    # fix the broken schema: the next run picks up exactly that one, the one after does nothing
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {_ident(conn, broken.schema_name)}.audit_log")
    resumed = upgrade_fleet(engine, concurrency=4)
    assert (resumed.pending, resumed.upgraded, resumed.failed) == ([broken.slug], [broken.slug], [])
    assert _ledger(runtime, [broken])[broken.slug][:3] == (head, "ready", None)
    assert _versions(runtime, [broken]) == {broken.slug: [head]}
    noop = upgrade_fleet(engine, concurrency=4)
    assert (noop.pending, noop.upgraded, noop.failed) == ([], [], [])
    cli_ok = run_cli(runtime.settings, ["db", "upgrade"])
    assert cli_ok.returncode == 0, cli_ok.stderr
    assert "0 upgraded, 0 failed" in cli_ok.stdout
    status = run_cli(runtime.settings, ["db", "status", "--json"])
    assert json.loads(status.stdout)["fleet"] == [
        {"revision": head, "status": "ready", "tenants": live_before + FLEET}
    ]
