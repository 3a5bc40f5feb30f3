"""The named rate-limit rules and their budgets, and the ``WHITELABEL_RATE_LIMITS`` syntax.

A rule (``login``, ``signup``, ...) is a few budgets, each counted per client address (``ip``)
or per account (``account``, the email address as typed, normalised). A budget allows ``limit``
units per ``period`` seconds (see :mod:`whitelabel.security.limiter` for the algorithm).

Only the standard library is imported here: :class:`~whitelabel.settings.Settings` validates the
setting with :func:`parse_overrides` at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["DEFAULT_RULES", "Budget", "Rules", "parse_overrides", "rules_with"]

Per = Literal["ip", "account"]


@dataclass(frozen=True, slots=True)
class Budget:
    """``limit`` units per ``period`` seconds, counted per client address or per account."""

    per: Per
    limit: int
    period: int
    refundable: bool = False
    """Whether :func:`~whitelabel.security.ratelimit.forgive` gives a unit back: the caller
    reserves one before the work and returns it when the attempt turns out not to count (a
    successful sign-in for the per-account login budget, invalid input for sign-up)."""


Rules = dict[str, tuple[Budget, ...]]

_MINUTE, _HOUR = 60, 3600

#: The defaults, chosen for a university or a bank (rationale in docs/usage/accounts.md).
DEFAULT_RULES: Rules = {
    # Password guessing: 30 attempts per 5 minutes from one address (any accounts), and 10
    # failed sign-ins per 15 minutes on one account (from any address).
    "login": (
        Budget("ip", 30, 5 * _MINUTE),
        Budget("account", 10, 15 * _MINUTE, refundable=True),
    ),
    # Bulk account creation and email probing (409 email_taken): 10 per hour from one address;
    # input refused as invalid (422) does not count, it costs nothing and reveals nothing.
    "signup": (Budget("ip", 10, _HOUR, refundable=True),),
    # Each request mails the account: 3 per hour per account stops mail bombing a victim.
    "password_reset": (Budget("ip", 10, _HOUR), Budget("account", 3, _HOUR)),
    "verify_email": (Budget("ip", 10, _HOUR), Budget("account", 3, _HOUR)),
    # Link tokens are unguessable; this only bounds the work of a flood of wrong ones.
    "invite_accept": (Budget("ip", 20, _HOUR),),
}

_ITEM = re.compile(r"([a-z_]{1,40})\.(ip|account)=([0-9]{1,7})/([0-9]{1,6})([smhd])")
_UNIT = {"s": 1, "m": _MINUTE, "h": _HOUR, "d": 24 * _HOUR}
MAX_PERIOD = 7 * 24 * _HOUR
SYNTAX = (
    "comma-separated RULE.PER=LIMIT/PERIOD items such as login.ip=60/5m,signup.ip=50/1h "
    f"(RULE one of {', '.join(DEFAULT_RULES)}; PER ip or account, as the rule has it; "
    "LIMIT 1-1000000; PERIOD a number with s, m, h or d, up to 7d)"
)


def parse_overrides(text: str) -> dict[tuple[str, Per], tuple[int, int]]:
    """``{(rule, per): (limit, period seconds)}`` from the ``WHITELABEL_RATE_LIMITS`` syntax.

    Only budgets that exist can be changed (there is no way to turn one off).

    Raises:
        ValueError: malformed, an unknown rule or budget, or a value out of range.
    """
    found: dict[tuple[str, Per], tuple[int, int]] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        match = _ITEM.fullmatch(item)
        if match is None:
            raise ValueError(f"malformed item {item[:60]!r}")
        rule, per_text, limit_text, amount, unit = match.groups()
        per: Per = "ip" if per_text == "ip" else "account"
        if not any(b.per == per for b in DEFAULT_RULES.get(rule, ())):
            raise ValueError(f"no budget {rule}.{per}")
        limit, period = int(limit_text), int(amount) * _UNIT[unit]
        if not 1 <= limit <= 1_000_000 or not 1 <= period <= MAX_PERIOD:
            raise ValueError(f"{item}: out of range")
        found[(rule, per)] = (limit, period)
    return found


def rules_with(text: str) -> Rules:
    """:data:`DEFAULT_RULES` with the overrides of ``text`` applied.

    Raises:
        ValueError: as :func:`parse_overrides`.
    """
    overrides = parse_overrides(text)
    return {
        rule: tuple(
            replace(b, limit=o[0], period=o[1]) if (o := overrides.get((rule, b.per))) else b
            for b in budgets
        )
        for rule, budgets in DEFAULT_RULES.items()
    }
