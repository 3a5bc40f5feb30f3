"""Themes: the cost of rendering a page in the tenant's theme, and of serving its stylesheet.

One whitelabel server (the full app from ``create_app``, as ``accounts.py`` runs it) with this
script's :class:`ThemeBenchPlugin`, and one tenant, ``bench0001``, with a published brand
(colours, font, radius, tagline, hero and footer copy, a logo). ``wrk`` loads, in alternating
rounds (medians):

Pages (the landing page's template and facts, no database work in any of them):

* ``GET /bench/page/themed``: the landing page as tenants get it: ``Template("landing.html")``
  through the theme engine (the environment of the request's theme, the snapshot the theme
  middleware put in the scope: stylesheet and logo links, brand, copy blocks).
* ``GET /bench/page/fixed``: **the same page** from a fixed, unthemed template: the themed
  page's own HTML, rendered once when the route is first hit, with the tenant's and the facts'
  values turned back into variables, as one flat template in a plain Jinja2 environment (no
  theme lookup, no inheritance, no includes). Same bytes out. The baseline.
* ``GET /bench/page/before``: the landing page as it was before themes (a smaller page, its
  colours written in), for reference.

Stylesheets (the same bytes each time, no database work):

* ``GET /bench/static/theme.css``: a file of exactly the stylesheet's size, served by Litestar's
  static files router (``create_static_files_router``). The baseline.
* ``GET /theme/{hash}.css``: the tenant's published stylesheet (content-hashed URL, strong
  ETag, a year's ``Cache-Control``, from the process's stylesheet cache).
* ``GET /bench/memory.css``: the same bytes returned from memory by a bare handler (a floor,
  shown for reference).

Rendering alone, in this process (no server, no HTTP): ``landing.html`` in the tenant's theme,
linked once (:mod:`themes.linker`, how pages render) and through Jinja's own inheritance on every
render (``ThemedTemplateEngine(link=False)``), microseconds per render, alternating rounds.

Goals: the themed page >= 0.90x the fixed page's req/s; the stylesheet >= 0.90x the static file.

    .venv/bin/python benchmarks/themes.py [--quick] [--fresh]
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

import httpx
from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape
from litestar import Request, Response, get
from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin
from litestar.response import Template
from litestar.static_files import create_static_files_router
from PIL import Image, ImageDraw
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
from tenants.models import Tenant
from themes import service
from themes.engine import ThemedTemplateEngine, shared_engine
from themes.service import load_snapshot
from whitelabel.context import TenantContext
from whitelabel.deps import CurrentTenant
from whitelabel.pages.service import LandingFacts
from whitelabel.runtime import Runtime

AnyRequest = Request[Any, Any, Any]

#: Where the server finds the static file of the stylesheet's size (set for its process).
STATIC_DIR_ENV = "WL_BENCH_THEMES_STATIC"
FIXED, THEMED = "GET /bench/page/fixed", "GET /bench/page/themed"
BEFORE = "GET /bench/page/before"
STATIC, SHEET, MEMORY = (
    "GET /bench/static/theme.css",
    "GET /theme/{hash}.css",
    "GET /bench/memory.css",
)
GOAL = 0.90
#: Distinctive values, so that the fixed template can find them in the themed page's HTML.
FACTS = LandingFacts(schema="tenant_benchfacts", visits=424242, audit_events=737373)

#: The landing page as it was before themes (``base.html`` and ``landing.html`` of the commit
#: before issue 4), joined into one fixed template: colours in the page, nothing per tenant but
#: its name. What a page costs without any theming.
PLAIN_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ tenant.name }}</title>
  <style>
    :root { --primary: #243b6b; --on-primary: #fff; --text: #1d2433; --muted: #5b6475;
            --surface: #fff; --background: #f5f7fb; --danger: #a61b1b; --ok: #1f6b3a; }
    * { box-sizing: border-box; }
    body { font-family: system-ui, sans-serif; margin: 0; color: var(--text);
           background: var(--background); line-height: 1.5; }
    a { color: var(--primary); }
    header.site { background: var(--primary); color: var(--on-primary); padding: 1rem 1.5rem; }
    header.site .bar { max-width: 60rem; margin: 0 auto; display: flex; flex-wrap: wrap;
                       align-items: center; justify-content: space-between; gap: 1rem; }
    header.site a { color: var(--on-primary); }
    header.site .brand { font-size: 1.25rem; font-weight: 700; margin: 0; }
    main { max-width: 60rem; margin: 2rem auto; padding: 0 1.5rem; }
    dl { display: grid; grid-template-columns: max-content 1fr; gap: .5rem 1.5rem; }
    dt { font-weight: 600; }
    code { background: #e7ebf3; padding: .1rem .35rem; border-radius: 4px; }
  </style>
</head>
<body>
  <a class="skip" href="#main">Skip to content</a>
  <header class="site">
    <div class="bar">
      <h1 class="brand" data-testid="app-name">{{ tenant.name }}</h1>
      <nav aria-label="Account"></nav>
    </div>
  </header>
  <main id="main">
    <p>Welcome to {{ tenant.name }}.</p>
    <h2>Served from this tenant's own schema</h2>
    <dl>
      <dt>Tenant</dt><dd data-testid="slug">{{ tenant.slug }}</dd>
      <dt>Host</dt><dd>{{ tenant.primary_host }}</dd>
      <dt>Database schema</dt><dd><code data-testid="schema">{{ facts.schema }}</code></dd>
      <dt>Visits counted in that schema</dt><dd data-testid="visits">{{ facts.visits }}</dd>
      <dt>Audit events in that schema</dt><dd>{{ facts.audit_events }}</dd>
    </dl>
  </main>
</body>
</html>
"""


def fixed_template(page: str, tenant: TenantContext) -> str:
    """The themed page's HTML as a flat Jinja2 template: the tenant's and the facts' values
    turned back into variables, everything else as it was rendered."""
    if any(mark in page for mark in ("{{", "{%", "{#")):
        raise SystemExit("the themed page contains Jinja2 markup; cannot make a fixed template")
    values = [
        (tenant.primary_host, "{{ tenant.primary_host }}"),
        (tenant.slug, "{{ tenant.slug }}"),
        (FACTS.schema, "{{ facts.schema }}"),
        (str(FACTS.visits), "{{ facts.visits }}"),
        (str(FACTS.audit_events), "{{ facts.audit_events }}"),
    ]
    for value, variable in values:
        if value not in page:
            raise SystemExit(f"{value!r} is not in the themed page")
        page = page.replace(value, variable)
    return page


class ThemeBenchPlugin(InitPlugin):
    """The benchmark's own routes (added to the full app by ``benchmarks._server --plugin``)."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        templates = {"before.html": PLAIN_TEMPLATE}
        plain = Environment(
            loader=DictLoader(templates),
            autoescape=select_autoescape(default_for_string=True),
            undefined=StrictUndefined,
        )
        static_dir = Path(os.environ[STATIC_DIR_ENV])
        memory = (static_dir / "theme.css").read_bytes()

        @get("/bench/page/themed", include_in_schema=False)
        async def themed_page() -> Template:
            return Template("landing.html", context={"facts": FACTS})

        @get("/bench/page/fixed", include_in_schema=False)
        async def fixed_page(request: AnyRequest, tenant: CurrentTenant) -> Response[str]:
            if "fixed.html" not in templates:  # the first request: the themed page, flattened
                page = shared_engine().render("landing.html", {"request": request, "facts": FACTS})
                templates["fixed.html"] = fixed_template(page, tenant)
            body = plain.get_template("fixed.html").render(tenant=tenant, facts=FACTS)
            return Response(body, media_type="text/html; charset=utf-8")

        @get("/bench/page/before", include_in_schema=False)
        async def before_page(tenant: CurrentTenant) -> Response[str]:
            body = plain.get_template("before.html").render(tenant=tenant, facts=FACTS)
            return Response(body, media_type="text/html; charset=utf-8")

        @get("/bench/memory.css", include_in_schema=False)
        async def memory_css() -> Response[bytes]:
            return Response(memory, media_type="text/css; charset=utf-8")

        app_config.route_handlers.extend(
            [
                themed_page,
                fixed_page,
                before_page,
                memory_css,
                create_static_files_router(path="/bench/static", directories=[static_dir]),
            ]
        )
        return app_config


def bench_plugin() -> ThemeBenchPlugin:
    """The plugin, for ``benchmarks._server --plugin benchmarks.themes:bench_plugin``."""
    return ThemeBenchPlugin()


def _logo() -> bytes:
    image = Image.new("RGBA", (240, 80), (0, 0, 0, 0))
    ImageDraw.Draw(image).rounded_rectangle((0, 0, 239, 79), radius=16, fill="#7b1fa2")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


BRAND = {
    "app_name": "Bench University",
    "tagline": "Where benchmarks meet",
    "tokens": {"primary": "#7b1fa2", "accent": "#f2c14e"},
    "font": "geometric",
    "radius": 10,
    "support_url": "https://help.example.org/",
    "copy": {
        "hero": "Find **study partners**, clubs and [mentors](https://example.org/mentors).",
        "footer": "Bench University · 1 Bench Street · [Privacy](https://example.org/privacy)",
    },
}


def ensure_brand(runtime: Runtime, tenant: BenchTenant) -> int:
    """Publish :data:`BRAND` with a logo on ``tenant`` once; answer its published version."""
    context: TenantContext = runtime.tenants.get(tenant.slug).context()

    async def work() -> int:
        try:
            async with runtime.db.tenant_session(context) as db:
                version = await db.scalar(
                    select(Tenant.theme_version).where(Tenant.id == context.id)
                )
                if version:
                    return int(version)
                await service.update_draft(db, context, "bench", BRAND)
                await service.set_asset(db, context, "bench", "logo", _logo())
                info = await service.publish(db, context, "bench")
                return info.version
        finally:
            await runtime.db.async_engine.dispose()

    return asyncio.run(work())


def render_times(runtime: Runtime, tenant: BenchTenant, rounds: int) -> dict[str, list[float]]:
    """Microseconds per render of the landing page in the tenant's published theme: linked,
    and through Jinja's inheritance; ``rounds`` alternating rounds of 2,000 renders each."""
    context = runtime.tenants.get(tenant.slug).context()

    async def snapshot() -> Any:
        try:
            return await load_snapshot(runtime, context)
        finally:
            await runtime.db.async_engine.dispose()

    theme = asyncio.run(snapshot())
    engines = {
        "linked": ThemedTemplateEngine(),
        "Jinja inheritance": ThemedTemplateEngine(link=False),
    }
    values = {"theme": theme, "tenant": context, "facts": FACTS}
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, engine in engines.items():
            engine.render("landing.html", dict(values))  # compile outside the timing
            started = time.perf_counter()
            for _ in range(2000):
                engine.render("landing.html", dict(values))
            times[name].append((time.perf_counter() - started) / 2000 * 1e6)
    return times


@dataclass(frozen=True, slots=True)
class Run:
    """One load run and the server's CPU time per request."""

    load: LoadResult
    cpu_us: float


def measure(server: Server, path: str, host: str, seconds: float, connections: int = 8) -> Run:
    """One load run with the server's CPU time per request."""
    before = server.stats(host)
    result = run_load(server.url, path, [host], seconds=seconds, connections=connections)
    after = server.stats(host)
    return Run(result, (after["cpu_us"] - before["cpu_us"]) / max(1, result.requests))


def report(title: str, runs: dict[str, list[Run]], baseline: str) -> dict[str, float]:
    """A table of medians with the ratio to ``baseline``; answers the median req/s by name."""
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
                f"{rps[name] / rps[baseline]:.3f}x",
            ]
        )
    header = ["endpoint", "req/s", "range", "p50 ms", "p99 ms", "CPU us/req", "vs baseline"]
    print_table(title, header, rows)
    return rps


def main() -> None:
    parser = arg_parser(__doc__)
    args = parser.parse_args()
    rounds, seconds = (2, 3.0) if args.quick else (3, 5.0)

    runtime = start_runtime(fresh=args.fresh)
    tenant = ensure_tenants(runtime, 1)[0]
    version = ensure_brand(runtime, tenant)
    renders = render_times(runtime, tenant, rounds=5)
    runtime.db.sync_engine.dispose()

    with tempfile.TemporaryDirectory(prefix="wl-bench-themes-") as folder:
        static_dir = Path(folder)
        (static_dir / "theme.css").write_bytes(b"")  # replaced below, once the size is known
        os.environ[STATIC_DIR_ENV] = str(static_dir)  # read by the server process
        # First a server to read the stylesheet (its URL and size), then the measured one with a
        # static file of exactly that size.
        with Server("whitelabel", "--plugin", "benchmarks.themes:bench_plugin") as probe:
            theme = httpx.get(f"{probe.url}/api/v1/theme", headers={"host": tenant.host}).json()
            sheet_url = str(theme["stylesheet_url"])
            css = httpx.get(f"{probe.url}{sheet_url}", headers={"host": tenant.host}).content
        (static_dir / "theme.css").write_bytes(b"/* " + b"x" * (len(css) - 6) + b" */")
        print(
            f"\ntenant {tenant.slug}, theme version {version}; stylesheet {sheet_url} "
            f"({len(css):,} bytes); {rounds} alternating rounds of {seconds:.0f}s per endpoint; "
            f"load average {load_average()}",
            flush=True,
        )
        with Server("whitelabel", "--plugin", "benchmarks.themes:bench_plugin") as server:
            pages = {
                FIXED: "/bench/page/fixed",
                THEMED: "/bench/page/themed",
                BEFORE: "/bench/page/before",
            }
            sheets = {
                STATIC: "/bench/static/theme.css",
                SHEET: sheet_url,
                MEMORY: "/bench/memory.css",
            }
            for path in [*pages.values(), *sheets.values()]:  # warm-up: caches, pools
                measure(server, path, tenant.host, 1.0)
            page_runs: dict[str, list[Run]] = {name: [] for name in pages}
            sheet_runs: dict[str, list[Run]] = {name: [] for name in sheets}
            for _ in range(rounds):
                for name, path in pages.items():
                    page_runs[name].append(measure(server, path, tenant.host, seconds))
                for name, path in sheets.items():
                    sheet_runs[name].append(measure(server, path, tenant.host, seconds))
    page_rps = report(f"pages: median of {rounds} rounds; baseline {FIXED}", page_runs, FIXED)
    sheet_rps = report(
        f"stylesheets: median of {rounds} rounds; baseline {STATIC}", sheet_runs, STATIC
    )
    linked, inherited = (median(renders[name]) for name in ("linked", "Jinja inheritance"))
    print_table(
        "rendering landing.html in this process: median of 5 rounds of 2,000 renders",
        ["engine", "us/render", "range", "vs linked"],
        [
            [
                name,
                fmt(median(each)),
                f"{fmt(min(each))}-{fmt(max(each))}",
                f"{median(each) / linked:.2f}x",
            ]
            for name, each in renders.items()
        ],
    )
    print(f"linking renders the page {inherited / linked:.2f}x as fast as Jinja's inheritance")
    themed = page_rps[THEMED] / page_rps[FIXED]
    served = sheet_rps[SHEET] / sheet_rps[STATIC]
    print(
        f"\nthemed page: {themed:.3f}x the same page from a fixed template "
        f"({'meets' if themed >= GOAL else 'MISSES'} >= {GOAL}x); "
        f"stylesheet: {served:.3f}x the static file "
        f"({'meets' if served >= GOAL else 'MISSES'} >= {GOAL}x)"
    )


if __name__ == "__main__":
    main()
