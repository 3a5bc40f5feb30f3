"""Host resolution: microseconds per lookup, and database queries per request (should be 0).

With the 1,000 bench tenants loaded into a :class:`tenants.resolver.Resolver` (from the database,
as a server does at start-up), times ``normalise_host`` + ``Resolver.resolve`` per lookup for known
hosts (hits) and unknown ones (misses), and the middleware's whole decision (``decide``: Host
header, normalisation, lookup, status). Baseline: a bare dict lookup of the raw header.

Then serves N requests in-process through the full app (middleware included) to a handler that
does no database work, for known and unknown hosts, counting every SQL statement sent on the app's
engines (SQLAlchemy ``before_cursor_execute``) during them. Goal: 0 queries per request.

    .venv/bin/python benchmarks/resolution.py [--quick] [--fresh]
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from litestar.testing import AsyncTestClient

from benchmarks._common import arg_parser, ensure_tenants, fmt, print_table, start_runtime
from benchmarks._server import Counters, whitelabel_app
from tenants.hosts import InvalidHost, normalise_host
from tenants.middleware import decide
from tenants.resolver import Resolver

TENANTS = 1000


def time_per_call(fn: Callable[[bytes], Any], inputs: Sequence[bytes], calls: int) -> float:
    """Best of 5 repeats: microseconds per call of ``fn`` over ``inputs``, cycled.

    The minimum is the figure least disturbed by other processes on the machine.
    """
    rounds = max(1, calls // len(inputs))
    samples = []
    for _ in range(5):
        started = time.perf_counter_ns()
        for _ in range(rounds):
            for value in inputs:
                fn(value)
        samples.append((time.perf_counter_ns() - started) / (rounds * len(inputs)) / 1000)
    return min(samples)


def lookups(resolver: Resolver, hosts: Sequence[str], calls: int) -> list[list[str]]:
    """Rows of the lookup table: one per kind of lookup."""
    table = {h: resolver.resolve(h) for h in hosts}
    hits = [h.encode() for h in hosts]
    hits_port = [f"{h}:8000".encode() for h in hosts]
    misses = [f"nope{i:04d}.localhost".encode() for i in range(len(hosts))]

    def bare(raw: bytes) -> object:
        return table.get(raw.decode())

    def resolve(raw: bytes) -> object:
        return resolver.resolve(normalise_host(raw))

    def normalise(raw: bytes) -> object:
        try:
            return normalise_host(raw)
        except InvalidHost:
            return None

    def decision(raw: bytes) -> object:
        scope: Any = {"type": "http", "headers": [(b"host", raw), (b"accept", b"*/*")]}
        return decide(scope, resolver, "console.localhost")

    assert all(resolve(h) is not None for h in hits)
    assert all(resolve(m) is None for m in misses)
    base = time_per_call(bare, hits, calls)
    rows = []
    for name, fn, inputs in (
        ("baseline: dict.get(raw header)", bare, hits),
        ("normalise_host only, hit", normalise, hits),
        ("normalise_host + resolve, hit", resolve, hits),
        ("normalise_host + resolve, hit with :port", resolve, hits_port),
        ("normalise_host + resolve, miss", resolve, misses),
        ("decide(scope) (middleware), hit", decision, hits),
        ("decide(scope) (middleware), miss", decision, misses),
    ):
        micros = base if fn is bare and inputs is hits else time_per_call(fn, inputs, calls)
        rows.append([name, fmt(micros, 3), f"{micros / base:.1f}x"])
    return rows


async def count_queries(hosts: Sequence[str], requests: int) -> list[list[str]]:
    """Serve ``requests`` requests per host kind in-process; count the SQL sent meanwhile."""
    counters = Counters()
    app = whitelabel_app(access_log=False, counters=counters)
    for name in ("httpx", "alembic"):  # httpx logs one line per request
        logging.getLogger(name).setLevel(logging.WARNING)
    rows = []
    async with AsyncTestClient(app, base_url="http://bench.local") as client:
        for label, targets, expected in (
            ("known hosts (200)", list(hosts), 200),
            ("unknown hosts (404)", [f"nope{i:04d}.localhost" for i in range(len(hosts))], 404),
        ):
            await client.get("/bench/nodb", headers={"host": targets[0]})  # warm-up
            before = counters.snapshot()
            statuses: dict[int, int] = {}
            for i in range(requests):
                response = await client.get(
                    "/bench/nodb", headers={"host": targets[i % len(targets)]}
                )
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            after = counters.snapshot()
            statements = after["statements"] - before["statements"]
            transactions = after["begins"] - before["begins"]
            ok = statuses.get(expected, 0) == requests
            rows.append(
                [
                    label,
                    str(requests),
                    ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
                    + ("" if ok else " (UNEXPECTED)"),
                    str(statements),
                    str(transactions),
                    f"{statements / requests:.4f}",
                ]
            )
    return rows


def main() -> None:
    args = arg_parser(__doc__).parse_args()
    calls, requests = (50_000, 500) if args.quick else (200_000, 5_000)
    runtime = start_runtime(fresh=args.fresh)
    tenants = ensure_tenants(runtime, TENANTS)
    resolver = Resolver(runtime.settings.sqlalchemy_url)
    with runtime.db.sync_engine.connect() as conn:
        resolver.load_all_sync(conn)
    runtime.db.sync_engine.dispose()
    hosts = [t.host for t in tenants]

    print_table(
        f"Host resolution with {len(resolver)} hosts loaded ({len(hosts)} bench tenants), "
        f"{calls:,} calls per row, best of 5",
        ["lookup", "us/lookup", "vs baseline"],
        lookups(resolver, hosts, calls),
    )
    print_table(
        "SQL statements sent during requests through the full app (middleware + a handler with "
        "no DB work), in-process (goal: 0 per request)",
        ["requests to", "requests", "statuses", "SQL", "transactions", "SQL/req"],
        asyncio.run(count_queries(hosts, requests)),
    )


if __name__ == "__main__":
    main()
