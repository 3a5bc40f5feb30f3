"""Tenancy overhead: the same DB-backed endpoint with and without whitelabel's tenancy.

(a) baseline: a plain Litestar app, same logging middleware and ``db_session`` dependency shape,
    one engine whose connections sit in one fixed schema (no middleware, resolver or translation);
(b) whitelabel: ``create_app`` with the tenancy middleware, the resolver and a tenant-bound session.

Both run as a uvicorn process with one worker on the same tables (the schema of ``bench0001``).
``wrk`` loads one of them at a time, in alternating rounds, and the medians are compared; then, in
paired rounds, both at once (two ``wrk``) with both servers pinned to the same core, so that the
scheduler shares it, and other work on the machine, alike between them.
Endpoints: ``GET /bench/read`` (select one setting by key) and ``POST /bench/write`` (the same
select plus one audit row). Statements per request are counted in the server process.
Goal: whitelabel >= 0.95x the baseline's requests/s.

    .venv/bin/python benchmarks/tenancy_overhead.py [--quick] [--no-access-log]
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from psycopg import sql

from benchmarks._common import (
    LoadResult,
    Server,
    arg_parser,
    ensure_tenants,
    fmt,
    load_average,
    median,
    print_table,
    quoted,
    run_load,
    start_runtime,
)

GOAL = 0.95
CONNECTIONS = 8
ENDPOINTS = (("GET", "/bench/read"), ("POST", "/bench/write"))


@dataclass(frozen=True, slots=True)
class Run:
    """One load run and what the server counted during it (per request)."""

    load: LoadResult
    statements: float
    commits: float
    cpu_us: float


def measure(server: Server, method: str, path: str, host: str, seconds: float) -> Run:
    """One load run with the server's counters: SQL statements, commits, CPU per request."""
    before = server.stats(host)
    # Writes are posted as a JSON API client does: ``application/json`` without cookies is what
    # whitelabel's CSRF protection lets through without a token (docs/decisions/0002-csrf.md).
    post = method == "POST"
    result = run_load(
        server.url,
        path,
        [host],
        seconds=seconds,
        connections=CONNECTIONS,
        method=method,
        headers={"Content-Type": "application/json"} if post else None,
        body="{}" if post else None,
    )
    after = server.stats(host)
    served = max(1, after["requests"] - before["requests"])
    return Run(
        result,
        (after["statements"] - before["statements"]) / served,
        (after["commits"] - before["commits"]) / served,
        (after["cpu_us"] - before["cpu_us"]) / served,
    )


def report(method: str, path: str, runs: dict[str, list[Run]]) -> None:
    """The table for one endpoint: medians per app and the whitelabel/baseline ratios."""
    rows = []
    for kind, results in runs.items():
        rps = [r.load.rps for r in results]
        rows.append(
            [
                kind,
                fmt(median(rps), 0),
                f"{fmt(min(rps), 0)}-{fmt(max(rps), 0)}",
                fmt(median([r.load.p50_ms for r in results])),
                fmt(median([r.load.p99_ms for r in results])),
                fmt(median([r.cpu_us for r in results]), 0),
                fmt(median([r.statements for r in results])),
                fmt(median([r.commits for r in results])),
            ]
        )
    wl, base = runs["whitelabel"], runs["baseline"]
    ratio = median([r.load.rps for r in wl]) / median([r.load.rps for r in base])
    cpu_ratio = median([r.cpu_us for r in base]) / median([r.cpu_us for r in wl])
    rows.append(["ratio whitelabel/baseline", f"{ratio:.3f}x", "", "", "", "", "", ""])
    rows.append(["baseline CPU / whitelabel CPU", f"{cpu_ratio:.3f}x", "", "", "", "", "", ""])
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print_table(
        f"{method} {path}: median of {len(wl)} rounds ({verdict} the goal >= {GOAL}x req/s)",
        ["app", "req/s", "range", "p50 ms", "p99 ms", "CPU us/req", "SQL/req", "commits/req"],
        rows,
    )


def measure_paired(
    servers: tuple[Server, Server], method: str, path: str, host: str, seconds: float
) -> tuple[Run, Run]:
    """Both servers pinned to the same core and loaded at the same time, each by its own wrk:
    the scheduler shares that core, and whatever else runs on it, equally between them, so their
    throughput ratio is the inverse of their CPU cost per request."""
    core = {max(os.sched_getaffinity(0))}
    for server in servers:
        server.pin(core)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = (
            pool.submit(measure, server, method, path, host, seconds) for server in servers
        )
        result = first.result(), second.result()
    for server in servers:
        server.pin(os.sched_getaffinity(0))
    return result


def report_paired(method: str, path: str, pairs: list[tuple[Run, Run]]) -> None:
    """The paired rounds of one endpoint: medians and the median of the per-round ratios."""
    ratios = [wl.load.rps / base.load.rps for base, wl in pairs]
    rows = [
        [
            kind,
            fmt(median([p[n].load.rps for p in pairs]), 0),
            fmt(median([p[n].cpu_us for p in pairs]), 0),
            fmt(median([p[n].statements for p in pairs])),
        ]
        for n, kind in enumerate(("baseline", "whitelabel"))
    ]
    rows.append(["whitelabel/baseline (median of rounds)", f"{median(ratios):.3f}x", "", ""])
    verdict = "meets" if median(ratios) >= GOAL else "MISSES"
    print_table(
        f"{method} {path}: {len(pairs)} paired rounds, both apps loaded at once on one core "
        f"({verdict} the goal >= {GOAL}x; per-round ratios "
        f"{min(ratios):.3f}-{max(ratios):.3f})",
        ["app", "req/s", "CPU us/req", "SQL/req"],
        rows,
    )


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--no-access-log", action="store_true", help="both apps without it")
    args = parser.parse_args()
    rounds, seconds = (3, 3.0) if args.quick else (10, 4.0)

    runtime = start_runtime(fresh=args.fresh)
    tenant = ensure_tenants(runtime, 1)[0]
    # The audit log refuses TRUNCATE (append-only, tenant revision t0004): the benchmark lifts
    # that guard for its own bench tenant, inside the one transaction that empties the log.
    table = sql.SQL("{}.audit_log").format(sql.Identifier(tenant.schema))
    with runtime.db.sync_engine.begin() as conn:
        for template in (
            "ALTER TABLE {} DISABLE TRIGGER audit_log_no_truncate",
            "TRUNCATE {}",
            "ALTER TABLE {} ENABLE TRIGGER audit_log_no_truncate",
        ):
            conn.exec_driver_sql(quoted(runtime.db.sync_engine, sql.SQL(template).format(table)))
    runtime.db.sync_engine.dispose()

    extra = ["--no-access-log"] if args.no_access_log else []
    print(
        f"{rounds} alternating rounds of {seconds:.0f}s per app and endpoint, {CONNECTIONS} "
        f"connections, access log {'off' if args.no_access_log else 'on'}; tenant {tenant.slug}; "
        f"load average {load_average()}",
        flush=True,
    )
    with (
        Server("baseline", "--schema", tenant.schema, *extra) as baseline,
        Server("whitelabel", *extra) as whitelabel,
    ):
        servers = (baseline, whitelabel)
        for server in servers:  # warm-up: connection pools, compiled-statement caches
            for method, path in ENDPOINTS:
                measure(server, method, path, tenant.host, 2.0)
        for method, path in ENDPOINTS:
            runs: dict[str, list[Run]] = {s.kind: [] for s in servers}
            for n in range(rounds):
                for server in servers if n % 2 == 0 else servers[::-1]:
                    runs[server.kind].append(measure(server, method, path, tenant.host, seconds))
                print(
                    f"  {method} {path} round {n + 1}: "
                    + ", ".join(
                        f"{k} {fmt(v[-1].load.rps, 0)} req/s {fmt(v[-1].cpu_us, 0)} us CPU/req"
                        for k, v in runs.items()
                    ),
                    flush=True,
                )
            report(method, path, runs)
            pairs = []
            for n in range(rounds):
                pairs.append(measure_paired(servers, method, path, tenant.host, seconds))
                base, wl = pairs[-1]
                print(
                    f"  {method} {path} paired round {n + 1}: baseline {fmt(base.load.rps, 0)}, "
                    f"whitelabel {fmt(wl.load.rps, 0)} req/s",
                    flush=True,
                )
            report_paired(method, path, pairs)


if __name__ == "__main__":
    main()
