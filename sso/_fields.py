"""The settings every SSO connection has, parsed strictly from an admin's JSON body.

Values must have their JSON type (``"true"``, ``0`` and ``null`` are refused, not coerced); each
refusal is a :class:`~whitelabel.errors.ValidationFailed` naming the field in ``detail.field``.
Protocol fields are parsed by ``sso.saml.service`` and ``sso.oidc.service``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import idna
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from sso.models import SsoConnection
from whitelabel.errors import ClientError, Conflict, ValidationFailed

__all__ = [
    "COMMON_FIELDS",
    "MAX_DOMAINS",
    "apply_common",
    "check_domains_free",
    "email_domain",
    "json_object",
    "parse_bool",
    "parse_domains",
    "parse_mapping",
    "parse_name",
    "parse_role",
]

MAX_DOMAINS = 50
#: Fields every connection has; each protocol adds its own (see the protocol services).
COMMON_FIELDS = (
    "type",
    "name",
    "enabled",
    "jit",
    "email_domains",
    "default_role",
    "attribute_mapping",
    "allow_idp_initiated",
    "enforce_sso",
)
_MAPPING_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def json_object(body: Any) -> Mapping[str, Any]:
    """``body`` when it is a JSON object.

    Raises:
        ClientError: 400 ``validation_failed``.
    """
    if not isinstance(body, dict):
        raise ClientError("The body is a JSON object.", code="validation_failed")
    return body


def parse_bool(value: Any, name: str) -> bool:
    """A JSON boolean (nothing else).

    Raises:
        ValidationFailed: ``value`` is not ``true`` or ``false``.
    """
    if not isinstance(value, bool):
        raise ValidationFailed(f"{name} is true or false.", detail={"field": name})
    return value


def parse_name(value: Any) -> str:
    """A connection name: 1-100 printable characters, inner whitespace collapsed.

    Raises:
        ValidationFailed: field ``name``.
    """
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 100:
        raise ValidationFailed("A name is 1-100 characters.", detail={"field": "name"})
    name = " ".join(value.split())
    if not all(ch.isprintable() for ch in name):
        raise ValidationFailed("A name is printable text.", detail={"field": "name"})
    return name


def email_domain(email: str) -> str | None:
    """The domain of ``email`` in the form connections store it (IDNA A-label, lower case), or
    ``None`` when it has none that could be stored."""
    try:
        return _domain(email.rsplit("@", 1)[-1]) if "@" in email else None
    except ValidationFailed:
        return None


def _domain(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValidationFailed("Email domains are strings.", detail={"field": "email_domains"})
    name = raw.strip().lower().rstrip(".").removeprefix("@")
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii") if name else ""
    except idna.IDNAError:
        ascii_name = ""
    labels = ascii_name.split(".")
    if (
        len(labels) < 2
        or len(ascii_name) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
    ):
        raise ValidationFailed(
            f"{raw[:100]!r} is not an email domain such as example.edu.",
            detail={"field": "email_domains"},
        )
    return ascii_name


def parse_domains(value: Any) -> list[str]:
    """Email domains: a list of at most :data:`MAX_DOMAINS`, IDNA-encoded, sorted, unique.

    Raises:
        ValidationFailed: field ``email_domains``.
    """
    if not isinstance(value, list) or len(value) > MAX_DOMAINS:
        raise ValidationFailed(
            f"email_domains is a list of at most {MAX_DOMAINS} domains.",
            detail={"field": "email_domains"},
        )
    return sorted({_domain(item) for item in value})


def parse_mapping(value: Any) -> dict[str, str]:
    """Profile field -> IdP attribute or claim name (at most 20).

    Raises:
        ValidationFailed: field ``attribute_mapping``.
    """
    if not isinstance(value, dict) or len(value) > 20:
        raise ValidationFailed(
            "attribute_mapping maps at most 20 fields to attribute names.",
            detail={"field": "attribute_mapping"},
        )
    mapping: dict[str, str] = {}
    for key, source in value.items():
        if not isinstance(key, str) or not _MAPPING_KEY.fullmatch(key):
            raise ValidationFailed(
                "A mapped field is a lower-case name such as display_name or department.",
                detail={"field": "attribute_mapping"},
            )
        if not isinstance(source, str) or not 1 <= len(source) <= 200 or not source.isprintable():
            raise ValidationFailed(
                f"The attribute for {key} is a name of 1-200 printable characters.",
                detail={"field": "attribute_mapping"},
            )
        mapping[key] = source
    return mapping


def parse_role(value: Any) -> str:
    """The role of users a connection creates: ``member`` or ``admin``.

    Raises:
        ValidationFailed: field ``default_role``.
    """
    if value not in ("member", "admin"):
        raise ValidationFailed(
            "default_role is member or admin (owners are made by owners).",
            detail={"field": "default_role"},
        )
    return str(value)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "name": parse_name,
    "enabled": lambda value: parse_bool(value, "enabled"),
    "jit": lambda value: parse_bool(value, "jit"),
    "email_domains": parse_domains,
    "default_role": parse_role,
    "attribute_mapping": parse_mapping,
    "allow_idp_initiated": lambda value: parse_bool(value, "allow_idp_initiated"),
    "enforce_sso": lambda value: parse_bool(value, "enforce_sso"),
}


def apply_common(body: Mapping[str, Any], connection: SsoConnection) -> list[str]:
    """Apply the common fields present in ``body``; answers the names that changed.

    Raises:
        ValidationFailed: a bad value, or ``allow_idp_initiated`` on an OIDC connection.
    """
    changed: list[str] = []
    for field, parse in _PARSERS.items():
        if field in body:
            value = parse(body[field])
            if getattr(connection, field) != value:
                setattr(connection, field, value)
                changed.append(field)
    if connection.allow_idp_initiated and connection.type != "saml":
        raise ValidationFailed(
            "IdP-initiated sign-in exists for SAML connections only.",
            detail={"field": "allow_idp_initiated"},
        )
    return changed


async def check_domains_free(db: AsyncSession, connection: SsoConnection) -> None:
    """An email domain routes to one connection: refuse one another connection owns.

    Concurrent changes of the tenant's connections are serialised (a transaction lock per
    tenant schema), so two admins cannot give one domain to two connections at once.

    Raises:
        Conflict: ``sso_domain_taken`` (``detail.domains`` lists them).
    """
    if not connection.email_domains:
        return
    await db.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('wl.sso.domains:' || current_schema()))")
    )
    others = await db.scalars(
        select(SsoConnection).where(
            SsoConnection.id != connection.id,
            SsoConnection.email_domains.overlap(connection.email_domains),
        )
    )
    taken = sorted(
        {d for other in others for d in other.email_domains} & set(connection.email_domains)
    )
    if taken:
        raise Conflict(
            f"Another connection already owns {', '.join(taken[:5])}.",
            code="sso_domain_taken",
            detail={"field": "email_domains", "domains": taken[:20]},
        )
