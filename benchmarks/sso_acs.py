"""SAML ACS: the cost of validating a response, and of refusing a hostile one.

Everything runs in this process: no server, no database. An in-process pysaml2 IdP (the one the
tests use, ``tests/sso_support/saml_idp.py``) signs a valid response for one connection; then,
in alternating rounds (medians over rounds, per-call time inside each round):

* ``validate_response``: the whole ACS check (decode, pre-scan, python3-saml in strict mode, the
  exact Audience/Recipient/Destination/InResponseTo/time checks, reading NameID and attributes),
  wall-clock and CPU time per call;
* python3-saml alone: ``OneLogin_Saml2_Response(...).is_valid`` with the same settings, built per
  call as ``validate_response`` does. **The baseline**: the ratio says what the extra layers
  cost;
* ``prescan`` alone on the same decoded response, and python3-saml's settings construction.

Then CPU time (``time.process_time``) per refusal of each hostile response of
``tests/sso_support/saml_attacks.py`` (XSLT and XPath transforms, DTD/XXE, billion laughs,
XSW1-8, oversized, ...) and of a 64 MiB deflate bomb (HTTP-Redirect, through
``decode_saml_message``), with its ratio to a valid validation measured in the same rounds.

Goals: the structural refusals (transforms, DTDs, entities, wrapping, comments, size, deflate
bombs) cost well under 10 ms of CPU, far below one valid validation; a refusal that needs the
signature checked first (wrong audience, expired, ...) costs about one validation (~1x), never a
multiple of it; ``validate_response`` <= 1.25x python3-saml alone.

    .venv/bin/python benchmarks/sso_acs.py [--quick]
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from onelogin.saml2.response import OneLogin_Saml2_Response  # type: ignore[import-untyped]
from onelogin.saml2.settings import OneLogin_Saml2_Settings  # type: ignore[import-untyped]

from benchmarks._common import fmt, load_average, median, print_table
from sso.errors import SsoRejected
from sso.saml import authn_request, decode_saml_message, prescan, saml_settings, validate_response
from tests.sso_support.saml_attacks import ATTACKS, AttackKit, Hostile, deflate_bomb
from tests.sso_support.saml_idp import InProcessIdp, key_pair, tenant_sp


def per_call(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """Wall-clock and CPU milliseconds per call of ``fn`` over ``calls`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return (
        (time.perf_counter() - wall) * 1000 / calls,
        (time.process_time() - cpu) * 1000 / calls,
    )


def refused(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn``, which must raise SsoRejected (a benchmark of an accepted attack means nothing)."""

    def call() -> object:
        try:
            fn()
        except SsoRejected:
            return None
        raise RuntimeError("a hostile response was accepted")

    return call


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds, calls = (5, 10) if args.quick else (11, 20)

    sp = tenant_sp("bench")
    idp = InProcessIdp(key_pair("bench-idp"), [sp])
    config = idp.idp_config()
    _url, request_id = authn_request(sp, config, relay_state="bench")
    xml = idp.response_xml(sp, in_response_to=request_id)
    form_value = base64.b64encode(xml).decode()
    request_data = {
        "https": "on",
        "http_host": sp.acs_url.split("/")[2],
        "script_name": "/" + sp.acs_url.split("/", 3)[3],
        "get_data": {},
        "post_data": {"SAMLResponse": form_value},
    }

    def ours() -> object:
        return validate_response(
            sp,
            config,
            saml_response_b64=form_value,
            acs_url=sp.acs_url,
            expected_request_id=request_id,
            allow_unsolicited=False,
        )

    def library() -> object:
        settings = OneLogin_Saml2_Settings(saml_settings(sp, config))
        response = OneLogin_Saml2_Response(settings, form_value)
        if not response.is_valid(request_data, request_id=request_id):
            raise RuntimeError(response.get_error())
        return response

    candidates: dict[str, Callable[[], object]] = {
        "validate_response (valid response)": ours,
        "python3-saml alone (baseline)": library,
        "prescan alone": lambda: prescan(xml),
        "python3-saml settings only": lambda: OneLogin_Saml2_Settings(saml_settings(sp, config)),
    }
    for fn in candidates.values():
        fn()  # warm-up, and a check that the valid response passes
    print(f"\n{rounds} alternating rounds of {calls} calls each; load average {load_average()}")
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in candidates}
    for index in range(rounds):
        order = list(candidates.items())
        for name, fn in order if index % 2 == 0 else reversed(order):
            samples[name].append(per_call(fn, calls))
    base_wall = median([w for w, _ in samples["python3-saml alone (baseline)"]])
    rows = []
    for name, values in samples.items():
        wall, cpu = median([w for w, _ in values]), median([c for _, c in values])
        rows.append([name, fmt(wall, 3), fmt(cpu, 3), f"{wall / base_wall:.2f}x"])
    print_table("Valid response (ms per call, medians)", ["", "wall ms", "CPU ms", "vs base"], rows)

    kit = AttackKit(idp, sp, request_id, key_pair("bench-intruder"))
    hostile: dict[str, tuple[str, Callable[[], object]]] = {}

    def validating(built: Hostile) -> Callable[[], object]:
        return lambda: validate_response(
            sp,
            config,
            saml_response_b64=built.saml_response,
            acs_url=sp.acs_url,
            expected_request_id=request_id if built.solicited else None,
            allow_unsolicited=False,
        )

    for name, attack in ATTACKS.items():
        hostile[name] = (attack.code, validating(attack.build(kit)))
    bomb = deflate_bomb()
    hostile["deflate bomb, 64 MiB (HTTP-Redirect decode)"] = (
        "saml_too_large",
        lambda: decode_saml_message(bomb, redirect_binding=True),
    )
    control = "valid response (accepted; the reference)"
    hostile[control] = ("-", ours)
    cpu_samples: dict[str, list[float]] = {name: [] for name in hostile}
    attack_calls = max(3, calls // 4)
    for index in range(rounds):
        attack_order = list(hostile.items())
        for name, (_code, fn) in attack_order if index % 2 == 0 else reversed(attack_order):
            checked = fn if name == control else refused(fn)
            cpu_samples[name].append(per_call(checked, attack_calls)[1])
    valid_cpu = median(cpu_samples[control])
    rows = []
    for name, (code, _fn) in sorted(hostile.items(), key=lambda item: median(cpu_samples[item[0]])):
        cpu = median(cpu_samples[name])
        rows.append([name, code, fmt(cpu, 3), f"{cpu / valid_cpu:.2f}x"])
    print_table(
        "Hostile responses: CPU ms per refusal (medians; vs a valid validation measured in "
        "the same rounds)",
        ["attack", "refused as", "CPU ms", "vs valid"],
        rows,
    )
    idp.close()


if __name__ == "__main__":
    main()
