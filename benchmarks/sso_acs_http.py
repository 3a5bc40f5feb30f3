"""SAML ACS requests through HTTP: a whole sign-in POST against the full app, vs the floor.

One whitelabel server (the full app from ``create_app``, as ``accounts.py`` runs it) and one
tenant, ``bench0001``, with a SAML connection to an in-process pysaml2 IdP (the tests' IdP).
Each round signs a person in: ``GET /sso/saml/{id}/login`` (a flow is stored), the IdP answers
that AuthnRequest, and the timed part is the ``POST /sso/saml/{id}/acs`` with its response:
pre-scan, python3-saml validation, the flow and replay rows, provisioning, a new session, the
303. Beside it, in the same run and server:

* ``POST acs`` with a hostile response (an XSLT transform; a DTD with an external entity): the
  pre-scan refuses them, the failure is logged and kept, the branded page rendered;
* ``GET /bench/nodb``: the HTTP floor of this server (middleware, no database).

Printed: wall milliseconds per request and the server's CPU per request (medians).

    .venv/bin/python benchmarks/sso_acs_http.py [--quick] [--fresh]
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

import httpx

from benchmarks._common import (
    Server,
    arg_parser,
    ensure_tenants,
    fmt,
    load_average,
    median,
    print_table,
    start_runtime,
)
from tests.sso_support.connections import add_saml_site
from tests.sso_support.saml_attacks import ATTACKS, AttackKit
from tests.sso_support.saml_idp import key_pair

HOSTILE = ("XSLT transform", "DTD with external entity (XXE)")


def timed(
    server: Server, host: str, send: Callable[[], httpx.Response], status: int
) -> tuple[float, float]:
    """Wall ms of ``send`` and the server's CPU ms spent meanwhile; checks the status."""
    before = server.stats(host)["cpu_us"]
    started = time.perf_counter()
    response = send()
    wall = (time.perf_counter() - started) * 1000
    cpu = (server.stats(host)["cpu_us"] - before) / 1000
    if response.status_code != status:
        raise SystemExit(
            f"expected {status}, got {response.status_code}; server log:\n{server.log_tail()}"
        )
    return wall, cpu


def main() -> None:
    args = arg_parser(__doc__).parse_args()
    rounds = 15 if args.quick else 40
    runtime = start_runtime(fresh=args.fresh)
    tenant = ensure_tenants(runtime, 1)[0]
    view = runtime.tenants.get(tenant.slug)
    with Server("whitelabel") as server:
        port = server.url.rsplit(":", 1)[1]
        host = f"{tenant.host}:{port}"
        site = add_saml_site(runtime, server.url, view, f"bench{uuid.uuid4().hex[:6]}")
        # Refused by the pre-scan, before any flow is looked up: the request id does not matter.
        kit = AttackKit(site.idp, site.sp, "_bench", key_pair("bench-intruder"))
        hostile = {name: ATTACKS[name].build(kit).saml_response for name in HOSTILE}
        results: dict[str, list[tuple[float, float]]] = {
            "POST acs, valid response (sign-in)": [],
            **{f"POST acs, {name}": [] for name in HOSTILE},
            "GET /bench/nodb (floor)": [],
        }
        with httpx.Client(base_url=server.url, headers={"host": host}, timeout=30) as client:
            for _ in range(rounds):
                login = client.get(site.path("login"))
                received = site.idp.receive_authn_request(login.headers["location"])
                response = site.idp.issue(
                    site.sp,
                    in_response_to=received.request_id,
                    name_id=f"p{uuid.uuid4().hex[:8]}@example.com",
                )
                results["POST acs, valid response (sign-in)"].append(
                    timed(
                        server, host,
                        partial(client.post, site.path("acs"), data={"SAMLResponse": response}),
                        303,
                    )
                )  # fmt: skip
                for name, body in hostile.items():
                    results[f"POST acs, {name}"].append(
                        timed(
                            server, host,
                            partial(client.post, site.path("acs"), data={"SAMLResponse": body}),
                            400,
                        )
                    )  # fmt: skip
                results["GET /bench/nodb (floor)"].append(
                    timed(server, host, lambda: client.get("/bench/nodb"), 200)
                )
        site.idp.close()
    runtime.db.sync_engine.dispose()
    floor = median([cpu for _, cpu in results["GET /bench/nodb (floor)"]])
    rows = []
    for name, runs in results.items():
        if not runs:
            continue
        cpu = median([c for _, c in runs])
        rows.append([name, fmt(median([w for w, _ in runs])), fmt(cpu), f"{cpu / floor:.1f}x"])
    print(f"\n{rounds} rounds on {tenant.slug}; load average {load_average()}")
    print_table(
        "SAML ACS through HTTP (medians)",
        ["request", "wall ms", "server CPU ms", "CPU vs floor"],
        rows,
    )


if __name__ == "__main__":
    main()
