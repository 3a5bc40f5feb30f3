"""Latency when requests rotate over 1,000 tenants vs always the same tenant (``--quick``: 200).

The whitelabel app (uvicorn, one worker) serves ``GET /bench/read`` (one setting read from the
tenant's own schema). ``wrk`` sends each request to the next tenant's host in turn (rotating), or
always to the first tenant's host (baseline), with the same client script and a few connections.
After a warm-up of 2 x pool size x tenants rotating requests (at most 60 s: every PostgreSQL
backend of the pool then has the tenants' tables in its caches, as in a long-lived pool),
alternating rounds are run; the table shows the
median p50/p95/p99 over the rounds, the server's CPU and SQL statements per request, and the
rotating/same-tenant ratios. Goal: <= 1.10x.

    .venv/bin/python benchmarks/latency_rotation.py [--quick] [--fresh]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from benchmarks._common import (
    LoadResult,
    Server,
    arg_parser,
    bench_settings,
    ensure_tenants,
    fmt,
    load_average,
    median,
    print_table,
    run_load,
    start_runtime,
)

GOAL = 1.10
CONNECTIONS = 4
PATH = "/bench/read"


@dataclass(frozen=True, slots=True)
class Run:
    """One load run with the server's CPU time and SQL statements per request."""

    load: LoadResult
    cpu_us: float
    statements: float


def measure(server: Server, hosts: list[str], seconds: float) -> Run:
    """Load ``hosts`` in rotation for ``seconds``; read the server's counters around it."""
    before = server.stats(hosts[0])
    load = run_load(server.url, PATH, hosts, seconds=seconds, connections=CONNECTIONS)
    after = server.stats(hosts[0])
    served = max(1, after["requests"] - before["requests"])
    return Run(
        load,
        (after["cpu_us"] - before["cpu_us"]) / served,
        (after["statements"] - before["statements"]) / served,
    )


def main() -> None:
    args = arg_parser(__doc__).parse_args()
    count, rounds, seconds = (200, 4, 3.0) if args.quick else (1000, 10, 4.0)
    runtime = start_runtime(fresh=args.fresh)
    tenants = ensure_tenants(runtime, count)
    runtime.db.sync_engine.dispose()
    same, rotating = "same tenant", f"rotating over {count}"
    modes = {same: [tenants[0].host], rotating: [t.host for t in tenants]}

    print(
        f"{rounds} alternating rounds of {seconds:.0f}s per mode, {CONNECTIONS} connections, "
        f"GET {PATH}; load average {load_average()}",
        flush=True,
    )
    runs: dict[str, list[Run]] = {mode: [] for mode in modes}
    with Server("whitelabel") as server:
        # warm-up (see the module docs)
        target = 2 * bench_settings().pool_size * count
        warmed, started = 0, time.monotonic()
        while warmed < target and time.monotonic() - started < 60:
            warmed += measure(server, modes[rotating], 5.0).load.requests
        measure(server, modes[same], 2.0)
        print(
            f"  warm-up: {warmed} rotating requests in {time.monotonic() - started:.0f}s",
            flush=True,
        )
        order = list(modes)
        for n in range(rounds):
            for mode in order if n % 2 == 0 else order[::-1]:
                runs[mode].append(measure(server, modes[mode], seconds))
            print(
                f"  round {n + 1}: "
                + ", ".join(
                    f"{m}: p50 {fmt(r[-1].load.p50_ms)} ms p99 {fmt(r[-1].load.p99_ms)} ms"
                    for m, r in runs.items()
                ),
                flush=True,
            )

    def med(mode: str, field: str) -> float:
        return median([getattr(r.load, field) for r in runs[mode]])

    rows = [
        [
            mode,
            fmt(med(mode, "p50_ms")),
            fmt(med(mode, "p95_ms")),
            fmt(med(mode, "p99_ms")),
            fmt(med(mode, "rps"), 0),
            fmt(median([r.cpu_us for r in results]), 0),
            fmt(median([r.statements for r in results])),
        ]
        for mode, results in runs.items()
    ]
    ratios = [med(rotating, f) / med(same, f) for f in ("p50_ms", "p95_ms", "p99_ms")]
    cpu = median([r.cpu_us for r in runs[rotating]]) / median([r.cpu_us for r in runs[same]])
    rows.append(["ratio rotating/same", *(f"{x:.3f}x" for x in ratios), "", f"{cpu:.3f}x", ""])
    verdict = "meets" if max(ratios) <= GOAL else "MISSES"
    print_table(
        f"Latency, median of {rounds} rounds ({verdict} the goal <= {GOAL}x)",
        ["requests", "p50 ms", "p95 ms", "p99 ms", "req/s", "CPU us/req", "SQL/req"],
        rows,
    )


if __name__ == "__main__":
    main()
