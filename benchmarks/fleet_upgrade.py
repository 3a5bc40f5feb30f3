"""Fleet migrations over 1,000 tenant schemas (``--quick``: 200).

1. No-op ``upgrade_fleet`` (everything at head): wall time, best and median of 3 (goal <= 5 s);
   then the ``whitelabel db upgrade`` command end to end as a subprocess, against
   ``whitelabel --version`` as the baseline (interpreter start-up and imports).
2. One additive migration (a column on ``audit_log`` and a new table with an index) across the whole
   fleet through ``upgrade_fleet(script=...)``, at concurrency 1, 2 and 4: one new revision per
   level, chained (goal <= 60 s each).

The bench tenants are reused when the ``wl_bench`` database already holds them (``--fresh`` drops
it first); the whole fleet in the database is upgraded, so ``--quick`` after a full run still
migrates 1,000 schemas unless ``--fresh`` is given. At the end every schema is taken back to the
stream's own head, so the next run (and the other benchmarks) find the stock stream.

    .venv/bin/python benchmarks/fleet_upgrade.py [--quick] [--fresh]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from benchmarks._common import (
    SECRET,
    arg_parser,
    database_url,
    ensure_tenants,
    fmt,
    median,
    print_table,
    start_runtime,
)
from benchmarks._revisions import extra_revisions, reset_revisions
from tenants.fleet import fleet_status, upgrade_fleet

NOOP_GOAL = 5.0
ADDITIVE_GOAL = 60.0
LEVELS = (1, 2, 4)


def time_commands(commands: list[list[str]], repeats: int = 5) -> list[tuple[float, str]]:
    """Median wall time of each command (run in turn, ``repeats`` times) and its last line."""
    env = dict(os.environ, DATABASE_URL=database_url(), WHITELABEL_SECRET_KEY=SECRET)
    env["COLUMNS"] = "100"
    times: list[list[float]] = [[] for _ in commands]
    last = ["" for _ in commands]
    for _ in range(repeats):
        for n, command in enumerate(commands):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            times[n].append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
            last[n] = (done.stdout.strip().splitlines() or [""])[-1]
    return [(median(t), line) for t, line in zip(times, last, strict=True)]


def main() -> None:
    args = arg_parser(__doc__).parse_args()
    count = 200 if args.quick else 1000
    runtime = start_runtime(fresh=args.fresh)
    engine = runtime.db.sync_engine
    undone = reset_revisions(engine)
    if undone:
        print(f"took {undone} schemas left at benchmark revisions back to head", flush=True)
    ensure_tenants(runtime, count)
    fleet = sum(n for _, status, n in fleet_status(engine) if status != "dropped")
    print(f"fleet: {fleet} tenant schemas", flush=True)

    noop = []
    for _ in range(3):
        report = upgrade_fleet(engine, concurrency=4)
        if report.pending or not report.ok:
            raise SystemExit(f"expected a no-op upgrade, got {len(report.pending)} pending")
        noop.append(report.seconds)
    cli = str(Path(sys.executable).parent / "whitelabel")
    (version_s, _), (upgrade_s, said) = time_commands([[cli, "--version"], [cli, "db", "upgrade"]])
    best, mid = min(noop), median(noop)
    print_table(
        f"No-op upgrade of {fleet} tenants (goal <= {NOOP_GOAL:.0f} s)",
        ["what", "seconds", "vs goal"],
        [
            ["upgrade_fleet(), best of 3", fmt(best, 3), f"{best / NOOP_GOAL:.3f}x"],
            ["upgrade_fleet(), median of 3", fmt(mid, 3), f"{mid / NOOP_GOAL:.3f}x"],
            ["baseline: `whitelabel --version`, median of 5", fmt(version_s, 3), ""],
            [
                "`whitelabel db upgrade`, median of 5",
                fmt(upgrade_s, 3),
                f"{upgrade_s / NOOP_GOAL:.3f}x",
            ],
            ["difference: the upgrade's own work", fmt(upgrade_s - version_s, 3), ""],
        ],
    )
    print(f"the command said: {said}", flush=True)

    rows = []
    names: list[str] = []
    try:
        for level in LEVELS:
            names.append(f"bench_fleet_c{level}")
            with extra_revisions(names) as script:
                started = time.perf_counter()
                report = upgrade_fleet(engine, concurrency=level, script=script)
                wall = time.perf_counter() - started
            print(
                f"  concurrency {level}: {len(report.upgraded)} upgraded, "
                f"{len(report.failed)} failed in {wall:.1f}s",
                flush=True,
            )
            for failure in report.failed[:3]:
                print(f"    {failure.slug}: {failure.error[:300]}", flush=True)
            rows.append((level, wall, len(report.upgraded), len(report.failed)))
    finally:
        started = time.perf_counter()
        undone = reset_revisions(engine)
        print(f"reset {undone} schemas to head in {time.perf_counter() - started:.1f}s", flush=True)
        engine.dispose()

    first = rows[0][1]
    print_table(
        f"One additive migration across {fleet} tenants (goal <= {ADDITIVE_GOAL:.0f} s)",
        ["concurrency", "seconds", "ms/tenant", "speed-up vs 1", "upgraded", "failed", "vs goal"],
        [
            [
                str(level),
                fmt(wall, 1),
                fmt(wall / max(1, upgraded) * 1000, 1),
                f"{first / wall:.2f}x",
                str(upgraded),
                str(failed),
                f"{wall / ADDITIVE_GOAL:.3f}x",
            ]
            for level, wall, upgraded, failed in rows
        ],
    )


if __name__ == "__main__":
    main()
