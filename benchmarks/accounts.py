"""Accounts: ``GET /api/v1/me`` with its session in PostgreSQL, sign-in, and the argon2 cost.

One whitelabel server (the full app from ``create_app``, as ``tenancy_overhead.py`` runs it) and
one tenant, ``bench0001``, with one user. ``wrk`` loads, in alternating rounds (medians):

* ``GET /bench/nodb``: a tenant route with no authentication and no database work (the floor);
* ``GET /bench/read``: a tenant route with no authentication and one query (the baseline);
* ``GET /api/v1/me`` with the session cookie: the session looked up in the tenant's ``sessions``
  table (joined to its user), the idle expiry touched at most once a minute;
* ``POST /api/v1/auth/login``: one argon2id verification (in a worker thread), a new session
  row, the user's sign-in time and an audit row; rate limits lifted for the run
  (``WHITELABEL_RATE_LIMITS``), since every request comes from one address for one account.

First, before the server starts, the cost of one argon2id hash and one verification with the
parameters accounts use (read back from a hash: t, m, p): wall-clock and CPU time, median of N.
Sign-in throughput is bounded by cores / CPU time of one verification (its lanes run on
threads); the table prints that bound too.

Goals: ``/me`` >= 0.6x the req/s of ``/bench/read`` (a session lookup is one query); sign-in's
server CPU per request <= 1.5x one verification's (argon2 is the cost, not the rest).

    .venv/bin/python benchmarks/accounts.py [--quick] [--fresh]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

import httpx
from argon2 import extract_parameters
from sqlalchemy import select

from benchmarks._common import (
    BenchTenant,
    LoadResult,
    Server,
    arg_parser,
    ensure_tenants,
    fmt,
    load_average,
    median,
    print_table,
    run_load,
    start_runtime,
)
from whitelabel.accounts.models import User
from whitelabel.accounts.passwords import hash_password, verify_password
from whitelabel.accounts.platform_service import create_user
from whitelabel.runtime import Runtime

EMAIL = "bench-user@example.org"
PASSWORD = "bench password 1234"
#: Lifts the sign-in budgets (30 per 5 minutes per address, 10 failures per account) for the
#: benchmark's server only: the load is one client address signing one account in.
NO_LOGIN_LIMITS = "login.ip=1000000/1s,login.account=1000000/1s"
ME, LOGIN = "GET /api/v1/me", "POST /api/v1/auth/login"
#: Goals: /me is one query (so near the one-query baseline); sign-in is bound by argon2 (the
#: rest of a sign-in is small next to one verification).
ME_GOAL, LOGIN_GOAL = 0.6, 1.5


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One loaded route: its name in the tables, method, path, headers, body, connections."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: str | None
    connections: int


@dataclass(frozen=True, slots=True)
class Run:
    """One load run and what the server counted during it (per request)."""

    load: LoadResult
    statements: float
    cpu_us: float


@dataclass(frozen=True, slots=True)
class Argon2Cost:
    """The accounts hasher's parameters and the measured cost of hashing and verifying."""

    time_cost: int
    memory_kib: int
    parallelism: int
    hash_ms: list[float]
    verify_ms: list[float]
    verify_cpu_ms: list[float]
    """CPU time of the whole process per verification: the ``p`` lanes run on threads, so one
    verification can take more CPU than wall-clock time; this is what bounds throughput."""


def argon2_cost(repeats: int) -> Argon2Cost:
    """The parameters of the accounts hasher and the cost of ``repeats`` hashes and verifies."""

    async def measure() -> tuple[str, list[float], list[float], list[float]]:
        hashes, verifies, cpu = [], [], []
        stored = ""
        for _ in range(repeats):
            started = time.perf_counter()
            stored = await hash_password(PASSWORD)
            hashes.append((time.perf_counter() - started) * 1000)
            started, cpu_started = time.perf_counter(), time.process_time()
            ok, _ = await verify_password(stored, PASSWORD)
            verifies.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
            assert ok
        return stored, hashes, verifies, cpu

    stored, hashes, verifies, cpu = asyncio.run(measure())
    params = extract_parameters(stored)
    return Argon2Cost(
        params.time_cost, params.memory_cost, params.parallelism, hashes, verifies, cpu
    )


def ensure_user(runtime: Runtime, tenant: BenchTenant) -> None:
    """The benchmark's user in ``tenant`` (created once, with :data:`PASSWORD`)."""
    context = runtime.tenants.get(tenant.slug).context()

    async def work() -> None:
        try:
            async with runtime.db.tenant_session(context) as db:
                if await db.scalar(select(User.id).where(User.email == EMAIL)) is None:
                    await create_user(db, email=EMAIL, password=PASSWORD, actor="bench")
                    await db.commit()
        finally:
            await runtime.db.async_engine.dispose()

    asyncio.run(work())


def session_cookie(server: Server, host: str) -> str:
    """Sign in once and return the session cookie's value."""
    response = httpx.post(
        f"{server.url}/api/v1/auth/login",
        json={"email": EMAIL, "password": PASSWORD},
        headers={"host": host},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.cookies["wl_session"])


def measure(server: Server, endpoint: Endpoint, host: str, seconds: float) -> Run:
    """One load run with the server's counters (SQL statements and CPU per request)."""
    before = server.stats(host)
    result = run_load(
        server.url,
        endpoint.path,
        [host],
        seconds=seconds,
        connections=endpoint.connections,
        method=endpoint.method,
        headers=endpoint.headers,
        body=endpoint.body,
    )
    after = server.stats(host)
    # /bench/* count themselves; the accounts routes do not, so count the load's own requests
    served = max(1, result.requests)
    return Run(
        result,
        (after["statements"] - before["statements"]) / served,
        (after["cpu_us"] - before["cpu_us"]) / served,
    )


def report(runs: dict[str, list[Run]], verify_cpu_ms: float) -> None:
    """Medians per endpoint, each against the two unauthenticated baselines, and the goals."""
    rps = {name: median([r.load.rps for r in results]) for name, results in runs.items()}
    rows = []
    for name, results in runs.items():
        each = [r.load.rps for r in results]
        rows.append(
            [
                name,
                fmt(rps[name], 0),
                f"{fmt(min(each), 0)}-{fmt(max(each), 0)}",
                fmt(median([r.load.p50_ms for r in results])),
                fmt(median([r.load.p99_ms for r in results])),
                fmt(median([r.cpu_us for r in results]), 0),
                fmt(median([r.statements for r in results])),
                f"{rps[name] / rps['GET /bench/read']:.3f}x",
                f"{rps[name] / rps['GET /bench/nodb']:.3f}x",
            ]
        )
    rounds = len(next(iter(runs.values())))
    print_table(
        f"median of {rounds} rounds; ratios are req/s against the unauthenticated routes",
        ["endpoint", "req/s", "range", "p50 ms", "p99 ms", "CPU us/req", "SQL/req",
         "vs /bench/read", "vs /bench/nodb"],
        rows,
    )  # fmt: skip
    me = rps[ME] / rps["GET /bench/read"]
    login_cpu = median([r.cpu_us for r in runs[LOGIN]]) / 1000
    share = login_cpu / verify_cpu_ms
    print(
        f"\n/me: {me:.3f}x /bench/read ({'meets' if me >= ME_GOAL else 'MISSES'} >= {ME_GOAL}x); "
        f"sign-in: {fmt(login_cpu, 1)} ms CPU per request = {share:.2f}x one verification "
        f"({'meets' if share <= LOGIN_GOAL else 'MISSES'} <= {LOGIN_GOAL}x)"
    )


def main() -> None:
    parser = arg_parser(__doc__)
    args = parser.parse_args()
    rounds, seconds, repeats = (2, 3.0, 5) if args.quick else (3, 5.0, 10)
    os.environ["WHITELABEL_RATE_LIMITS"] = NO_LOGIN_LIMITS  # read by the server process

    runtime = start_runtime(fresh=args.fresh)
    tenant = ensure_tenants(runtime, 1)[0]
    ensure_user(runtime, tenant)
    runtime.db.sync_engine.dispose()

    cost = argon2_cost(repeats)
    cores = os.cpu_count() or 1
    print_table(
        f"argon2id as accounts use it ({repeats} of each, alone, in a worker thread; "
        f"bound: {cores} cores / verify CPU)",
        ["t (passes)", "m (MiB)", "p (lanes)", "hash ms", "verify ms", "verify CPU ms",
         "sign-ins/s bound"],
        [[
            str(cost.time_cost), fmt(cost.memory_kib / 1024, 0), str(cost.parallelism),
            f"{fmt(median(cost.hash_ms), 1)} (best {fmt(min(cost.hash_ms), 1)})",
            f"{fmt(median(cost.verify_ms), 1)} (best {fmt(min(cost.verify_ms), 1)})",
            fmt(median(cost.verify_cpu_ms), 1),
            fmt(cores * 1000 / median(cost.verify_cpu_ms), 1),
        ]],
    )  # fmt: skip

    print(
        f"\n{rounds} alternating rounds of {seconds:.0f}s per endpoint; tenant {tenant.slug}; "
        f"load average {load_average()}",
        flush=True,
    )
    with Server("whitelabel") as server:
        cookie = session_cookie(server, tenant.host)
        login = json.dumps({"email": EMAIL, "password": PASSWORD})
        endpoints = [
            Endpoint("GET /bench/nodb", "GET", "/bench/nodb", {}, None, 8),
            Endpoint("GET /bench/read", "GET", "/bench/read", {}, None, 8),
            Endpoint(ME, "GET", "/api/v1/me", {"Cookie": f"wl_session={cookie}"}, None, 8),
            Endpoint(LOGIN, "POST", "/api/v1/auth/login",
                     {"Content-Type": "application/json"}, login, 4),
        ]  # fmt: skip
        for endpoint in endpoints:  # warm-up: pools, caches, the worker threads
            measure(server, endpoint, tenant.host, 1.0)
        runs: dict[str, list[Run]] = {e.name: [] for e in endpoints}
        for _ in range(rounds):
            for endpoint in endpoints:
                runs[endpoint.name].append(measure(server, endpoint, tenant.host, seconds))
    report(runs, median(cost.verify_cpu_ms))


if __name__ == "__main__":
    main()
