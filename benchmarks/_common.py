"""Shared setup: the ``wl_bench`` database, a runtime, the bench tenants, servers and load.

Every benchmark uses its own database, ``wl_bench`` on ``127.0.0.1:5432`` (``DATABASE_URL``
overrides it). Only a database named exactly ``wl_bench`` is ever created or dropped here.
Servers run in a separate process (uvicorn, one worker) and load comes from ``wrk`` when it is
installed (``apt-get install -y wrk``), else from a small asyncio client in another process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from psycopg import sql
from sqlalchemy import Engine, create_engine, delete, select, text
from sqlalchemy.engine import make_url

from tenants.fleet import upgrade_fleet
from tenants.models import Domain, Tenant
from whitelabel.runtime import Runtime
from whitelabel.settings import Settings

__all__ = [
    "BENCH_DATABASE",
    "ROOT",
    "SECRET",
    "SETTING_KEY",
    "BenchTenant",
    "LoadResult",
    "Server",
    "arg_parser",
    "bench_settings",
    "database_url",
    "drop_tenants",
    "ensure_tenants",
    "fmt",
    "load_average",
    "median",
    "prepare_database",
    "print_table",
    "quoted",
    "run_load",
    "start_runtime",
]

BENCH_DATABASE = "wl_bench"
DEFAULT_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{BENCH_DATABASE}"
SECRET = "bench-only-" + "x" * 40
ROOT = Path(__file__).resolve().parents[1]
SLUG_PREFIX = "bench"
SETTING_KEY = "bench.greeting"


# -- arguments and output --------------------------------------------------------------------


def arg_parser(description: str | None) -> argparse.ArgumentParser:
    """The common command line: ``--quick`` (smaller sizes) and ``--fresh`` (a new database)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    parser.add_argument(
        "--fresh", action="store_true", help=f"drop and recreate the {BENCH_DATABASE} database"
    )
    return parser


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return float(statistics.median(values))


def fmt(value: float, digits: int = 2) -> str:
    """A number with a fixed number of decimals and thousands separators."""
    return f"{value:,.{digits}f}"


def load_average() -> str:
    """The machine's 1-minute load average against its cores: other work skews the figures."""
    return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A plain fixed-width table (first column left-aligned, the others right-aligned)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        out = [str(cells[0]).ljust(widths[0])]
        out += [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(out)

    print(f"\n{title}")
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    sys.stdout.flush()


# -- database ---------------------------------------------------------------------------------


def database_url() -> str:
    """``DATABASE_URL`` if set, else the ``wl_bench`` database on the local server."""
    return os.environ.get("DATABASE_URL") or DEFAULT_URL


def prepare_database(*, fresh: bool = False) -> str:
    """Create ``wl_bench`` if it is missing (drop it first with ``fresh``); returns the URL.

    A ``DATABASE_URL`` naming another database is used as it is and never created or dropped.
    """
    url = make_url(database_url())
    if url.database != BENCH_DATABASE:
        if fresh:
            raise SystemExit(f"--fresh drops only a database named {BENCH_DATABASE}")
        return url.render_as_string(hide_password=False)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": BENCH_DATABASE}
            ).first()
            if exists and fresh:
                print(f"dropping {BENCH_DATABASE} (--fresh)", flush=True)
                conn.exec_driver_sql(f"DROP DATABASE {BENCH_DATABASE} WITH (FORCE)")
                exists = None
            if not exists:
                conn.exec_driver_sql(f"CREATE DATABASE {BENCH_DATABASE}")
    finally:
        admin.dispose()
    return url.render_as_string(hide_password=False)


def bench_settings() -> Settings:
    """Settings for a benchmark process: the environment's ``WHITELABEL_*`` variables (e.g.
    ``WHITELABEL_POOL_SIZE``, ``WHITELABEL_DB_PREPARE_THRESHOLD``) on the bench database."""
    env = dict(os.environ, DATABASE_URL=database_url(), WHITELABEL_SECRET_KEY=SECRET)
    return Settings.from_env(env)


def start_runtime(*, fresh: bool = False) -> Runtime:
    """Create the database if needed and bring the platform schema and the template to head."""
    prepare_database(fresh=fresh)
    runtime = Runtime.start(bench_settings())
    report = upgrade_fleet(runtime.db.sync_engine)
    if not report.ok:
        raise SystemExit(f"{len(report.failed)} tenant schemas failed to migrate: {report.failed}")
    return runtime


def quoted(engine: Engine, composed: sql.Composable) -> str:
    """SQL text from a psycopg composition, with identifiers quoted by the driver."""
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        return composed.as_string(raw)


# -- tenants ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BenchTenant:
    """A tenant the benchmarks serve: its slug, schema and primary host."""

    slug: str
    schema: str
    host: str


def _bench_tenants(engine: Engine) -> list[BenchTenant]:
    stmt = (
        select(Tenant.slug, Tenant.schema_name, Domain.hostname)
        .join(Domain, Domain.tenant_id == Tenant.id)
        .where(
            Tenant.slug.like(f"{SLUG_PREFIX}%"),
            Tenant.purged_at.is_(None),
            Tenant.status == "active",
            Domain.is_primary.is_(True),
        )
        .order_by(Tenant.slug)
    )
    with engine.connect() as conn:
        return [BenchTenant(r.slug, r.schema_name, r.hostname) for r in conn.execute(stmt)]


def ensure_tenants(runtime: Runtime, count: int) -> list[BenchTenant]:
    """The first ``count`` bench tenants (``bench0001``...), creating the missing ones.

    Each has the row ``settings['bench.greeting']`` that the DB-backed endpoint reads.
    """
    engine = runtime.db.sync_engine
    existing = {t.slug for t in _bench_tenants(engine)}
    wanted = [f"{SLUG_PREFIX}{i:04d}" for i in range(1, count + 1)]
    missing = [s for s in wanted if s not in existing]
    if missing:
        print(f"creating {len(missing)} bench tenants ({len(existing)} exist) ...", flush=True)
        started = time.perf_counter()

        def create(slug: str) -> None:
            runtime.tenants.create(slug, f"Bench {slug}", actor="bench")

        with ThreadPoolExecutor(max_workers=4) as pool:
            for done, _ in enumerate(pool.map(create, missing), 1):
                if done % 200 == 0:
                    print(f"  {done}/{len(missing)}", flush=True)
        print(f"  done in {time.perf_counter() - started:.1f}s", flush=True)
    else:
        print(f"reusing {len(existing)} bench tenants already in the database", flush=True)
    wanted_set = set(wanted)
    tenants = [t for t in _bench_tenants(engine) if t.slug in wanted_set]
    _seed(engine, tenants)
    return tenants


def _seed(engine: Engine, tenants: Sequence[BenchTenant]) -> None:
    template = sql.SQL(
        "INSERT INTO {}.settings (key, value) VALUES ({}, '\"hello\"') ON CONFLICT DO NOTHING"
    )
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for tenant in tenants:
            stmt = template.format(sql.Identifier(tenant.schema), sql.Literal(SETTING_KEY))
            conn.exec_driver_sql(stmt.as_string(raw))


def drop_tenants(runtime: Runtime, slug_prefix: str) -> int:
    """Remove tenants whose slug starts with ``slug_prefix``: schemas and platform rows."""
    if not slug_prefix or slug_prefix.startswith(SLUG_PREFIX):
        raise ValueError("refusing to drop the shared bench tenants")
    engine = runtime.db.sync_engine
    with engine.begin() as conn:
        rows = conn.execute(
            select(Tenant.id, Tenant.schema_name).where(Tenant.slug.like(f"{slug_prefix}%"))
        ).all()
        raw = conn.connection.driver_connection
        assert raw is not None
        for row in rows:
            drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(row.schema_name)
            )
            conn.exec_driver_sql(drop.as_string(raw))
        if rows:
            conn.execute(delete(Tenant).where(Tenant.id.in_([r.id for r in rows])))
    return len(rows)


# -- servers ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A benchmark app (``benchmarks._server``) served by uvicorn in its own process.

    Stopped by its own PID on exit (SIGTERM, then SIGKILL after 10 s).
    """

    def __init__(self, kind: str, *args: str) -> None:
        self.kind = kind
        self.port = _free_port()
        self.args = [kind, "--port", str(self.port), *args]
        self.process: subprocess.Popen[bytes] | None = None
        # the server's output, kept as long as the server runs (shown if it fails to start)
        self._log = tempfile.TemporaryFile(prefix=f"wl-bench-{kind}-")  # noqa: SIM115

    @property
    def url(self) -> str:
        """Where to connect (send the tenant's host in the Host header)."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        env = dict(os.environ, PYTHONPATH=str(ROOT), DATABASE_URL=database_url())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server", *self.args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                tail = self.log_tail()
                raise RuntimeError(f"the {self.kind} server exited:\n{tail}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.kind} server did not start within 30s")
            time.sleep(0.1)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's output so far (to show why it failed)."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-chars:]

    def stop(self) -> None:
        """Stop the server process (by its PID) and close its log."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()

    def pin(self, cpus: set[int]) -> None:
        """Run every thread of the server on ``cpus`` only (Linux CPU affinity)."""
        assert self.process is not None
        for task in os.listdir(f"/proc/{self.process.pid}/task"):
            os.sched_setaffinity(int(task), cpus)

    def stats(self, host: str) -> dict[str, int]:
        """The server's in-process counters (requests served, SQL statements, transactions)."""
        response = httpx.get(f"{self.url}/bench/stats", headers={"host": host}, timeout=5)
        response.raise_for_status()
        data: dict[str, int] = response.json()
        return data


# -- load ---------------------------------------------------------------------------------------

_WRK_SCRIPT = """
local hosts = {}
local method, path = "GET", "/"
local headers, body = {}, nil
local i = 0
init = function(args)
  for line in io.lines(args[1]) do hosts[#hosts + 1] = line end
  method, path = args[2], args[3]
  if args[4] and args[4] ~= "" then
    for line in io.lines(args[4]) do
      local name, value = line:match("^([^:]+):%s*(.*)$")
      if name then headers[name] = value end
    end
  end
  if args[5] and args[5] ~= "" then
    local f = io.open(args[5], "rb")
    body = f:read("*a")
    f:close()
  end
end
request = function()
  i = i + 1
  local h = {["Host"] = hosts[(i % #hosts) + 1]}
  for name, value in pairs(headers) do h[name] = value end
  return wrk.format(method, path, h, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_RESULT %d %d %d %d %.1f %.1f %.1f\\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """One load run: throughput, latency percentiles (ms) and failures."""

    requests: int
    seconds: float
    errors: int
    non_2xx: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    tool: str

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds


@contextmanager
def _hosts_file(hosts: Sequence[str]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="wl-bench-") as folder:
        path = Path(folder) / "hosts.txt"
        path.write_text("\n".join(hosts) + "\n")
        yield path


def run_load(
    base_url: str,
    path: str,
    hosts: Sequence[str],
    *,
    seconds: float,
    connections: int,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | None = None,
) -> LoadResult:
    """Closed-loop load: ``connections`` keep-alive connections, requests rotating over ``hosts``.

    Every request also carries ``headers`` (a cookie, a content type) and ``body``. Uses ``wrk``
    (one thread) when installed, else ``benchmarks._loadgen`` in another process.

    A run with any failed or non-2xx response stops the benchmark (``SystemExit``): throughput
    of refusals is not the figure anybody asked for.
    """
    result = _run_load(base_url, path, hosts, seconds, connections, method, headers, body)
    if result.errors or result.non_2xx:
        raise SystemExit(
            f"{method} {path}: {result.errors} failed and {result.non_2xx} non-2xx responses "
            f"out of {result.requests}; the figures would be meaningless"
        )
    return result


def _run_load(
    base_url: str,
    path: str,
    hosts: Sequence[str],
    seconds: float,
    connections: int,
    method: str,
    headers: dict[str, str] | None,
    body: str | None,
) -> LoadResult:
    with _hosts_file(hosts) as hosts_path:
        headers_path = hosts_path.parent / "headers.txt"
        headers_path.write_text("".join(f"{k}: {v}\n" for k, v in (headers or {}).items()))
        body_path = hosts_path.parent / "body.txt"
        body_path.write_text(body or "")
        extra = [str(headers_path), str(body_path) if body is not None else ""]
        wrk = shutil.which("wrk")
        if wrk:
            script = hosts_path.parent / "rotate.lua"
            script.write_text(_WRK_SCRIPT)
            command = [
                wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
                "-s", str(script), base_url, "--", str(hosts_path), method, path, *extra,
            ]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            line = next(x for x in out.splitlines() if x.startswith("WRK_RESULT"))
            n, micros, errors, non_2xx, p50, p95, p99 = line.split()[1:]
            return LoadResult(
                int(n), int(micros) / 1e6, int(errors), int(non_2xx),
                float(p50) / 1000, float(p95) / 1000, float(p99) / 1000, "wrk",
            )  # fmt: skip
        command = [
            sys.executable, "-m", "benchmarks._loadgen", base_url, path, str(hosts_path),
            "--seconds", str(seconds), "--connections", str(connections), "--method", method,
            "--headers", extra[0], "--body", extra[1],
        ]  # fmt: skip
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        out = subprocess.run(
            command, capture_output=True, text=True, check=True, cwd=ROOT, env=env
        ).stdout
        data: dict[str, Any] = json.loads(out)
        return LoadResult(tool="asyncio", **data)
