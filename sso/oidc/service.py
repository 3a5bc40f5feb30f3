"""The OpenID Connect side of a connection: issuer, client, scopes, presets, in ``config``.

``config`` of an OIDC connection (others read it; keep the keys)::

    {"redirect_uri": "<base>/sso/oidc/<id>/callback",   # fixed at creation
     "issuer", "client_id", "scopes": [...],
     "preset": null | "google" | "entra" | "okta" | "generic",
     "fetch_userinfo": false, "required_claims": {}}

The client secret is not in ``config``: it is sealed in the ``client_secret`` column
(:mod:`sso.secrets`, context ``client_secret``; NULL for a public client) and never shown.
A new issuer is checked by discovery (:func:`sso.oidc.discovery.discover`) before it is kept.

A preset (:data:`sso.oidc.presets.PRESETS`) with ``preset_values`` (e.g. ``{"domain":
"example.com"}`` for Google Workspace) fills the issuer, and the scopes and required claims unless
the body gives them; an explicit ``issuer`` without ``preset_values`` clears the preset.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from sso.models import SsoConnection
from sso.oidc.discovery import check_issuer, discover
from sso.oidc.presets import PRESETS, FilledPreset, fill_preset
from sso.secrets import secret_context
from whitelabel.errors import ValidationFailed

if TYPE_CHECKING:
    from sso.service import ConnectionContext

__all__ = ["DEFAULT_SCOPES", "DISCOVERY_TIMEOUT", "FIELDS", "apply_fields", "document"]

FIELDS = (
    "issuer",
    "client_id",
    "client_secret",
    "scopes",
    "preset",
    "preset_values",
    "fetch_userinfo",
    "required_claims",
)
DEFAULT_SCOPES = ("openid", "email", "profile")
DISCOVERY_TIMEOUT = 10.0
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,64}")  # RFC 6749 scope-token
_CLAIM = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, detail={"field": field})


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= limit or not value.isprintable():
        raise _invalid(field, f"{field} is 1-{limit} printable characters.")
    return value


def _scopes(value: Any) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= 20:
        raise _invalid("scopes", "scopes is a list of 1-20 scope names.")
    scopes: list[str] = []
    for scope in value:
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            raise _invalid("scopes", "A scope is a name without spaces or quotes, e.g. email.")
        if scope not in scopes:
            scopes.append(scope)
    if "openid" not in scopes:
        raise _invalid("scopes", "The scopes must include openid.")
    return scopes


def _claims(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 10:
        raise _invalid("required_claims", "required_claims maps at most 10 claims to values.")
    for claim, wanted in value.items():
        if not _CLAIM.fullmatch(claim):
            raise _invalid("required_claims", "A claim name is letters, digits and _.:-.")
        if not isinstance(wanted, str) or not 1 <= len(wanted) <= 200 or not wanted.isprintable():
            raise _invalid("required_claims", f"The value required of {claim} is 1-200 characters.")
    return dict(value)


def _filled(body: Any, config: dict[str, Any], allow_loopback: bool) -> FilledPreset | None:
    """The preset filled with ``preset_values``, when the body sets a preset."""
    preset = body.get("preset", config.get("preset"))
    if preset is not None and preset not in PRESETS:
        raise _invalid("preset", f"preset is null or one of {', '.join(PRESETS)}.")
    if "preset_values" not in body:
        if body.get("preset") is not None:
            raise _invalid("preset_values", "A preset needs its preset_values.")
        return None
    if preset is None:
        raise _invalid("preset_values", "preset_values needs a preset.")
    if "issuer" in body:
        raise _invalid("issuer", "Give the issuer or preset_values, not both.")
    values = body["preset_values"]
    if not isinstance(values, dict) or len(values) > 5:
        raise _invalid("preset_values", "preset_values is an object of the preset's fields.")
    if not all(isinstance(v, str) and len(v) <= 300 for v in values.values()):
        raise _invalid("preset_values", "The preset's fields are strings.")
    return fill_preset(preset, values, allow_loopback=allow_loopback)


def _sealed_secret(
    secret: Any, connection: SsoConnection, context: ConnectionContext | None
) -> str | None:
    """The client secret sealed for this tenant and connection (None: a public client); with
    no ``context`` only checked. Messages never repeat the value."""
    if secret is None:
        return None
    if not isinstance(secret, str) or not 1 <= len(secret) <= 500 or not secret.isprintable():
        raise _invalid("client_secret", "client_secret is null or 1-500 printable characters.")
    if context is None:
        return None
    where = secret_context(context.tenant.id, connection.id, "client_secret")
    return context.box.seal(secret, context=where)


async def apply_fields(
    db: AsyncSession,
    connection: SsoConnection,
    body: Any,
    context: ConnectionContext,
    *,
    creating: bool,
) -> list[str]:
    """Check and apply the OIDC fields of an admin's body; answers the names that changed.

    Raises:
        ValidationFailed: a field of the wrong type or form.
        SsoRejected: the issuer is not an allowed URL, or its discovery failed (e.g.
            ``oidc_discovery_issuer_mismatch``, ``url_host_refused``, ``fetch_failed``).
    """
    loopback = context.settings.sso_allow_loopback
    if "client_secret" in body:  # checked before any network traffic
        _sealed_secret(body["client_secret"], connection, None)
    config: dict[str, Any] = dict(connection.config)
    if creating:
        config = {
            "redirect_uri": f"{context.base_url}/sso/oidc/{connection.id}/callback",
            "issuer": None,
            "client_id": None,
            "scopes": list(DEFAULT_SCOPES),
            "preset": None,
            "fetch_userinfo": False,
            "required_claims": {},
        }
    filled = _filled(body, config, loopback)
    updates: dict[str, Any] = {}
    if filled is not None:
        updates.update(issuer=filled.issuer, preset=filled.preset)
        updates["scopes"] = list(filled.scopes)
        updates["required_claims"] = dict(filled.required_claims)
    elif "issuer" in body:
        updates["issuer"] = check_issuer(
            _text(body["issuer"], "issuer", 2000), allow_loopback=loopback
        )
        updates["preset"] = body.get("preset")
    elif "preset" in body:  # null: the preset's label goes, its values stay
        updates["preset"] = None
    if "client_id" in body:
        updates["client_id"] = _text(body["client_id"], "client_id", 255)
    if "scopes" in body:
        updates["scopes"] = _scopes(body["scopes"])
    if "required_claims" in body:
        updates["required_claims"] = _claims(body["required_claims"])
    if "fetch_userinfo" in body:
        if not isinstance(body["fetch_userinfo"], bool):
            raise _invalid("fetch_userinfo", "fetch_userinfo is true or false.")
        updates["fetch_userinfo"] = body["fetch_userinfo"]
    changed = [name for name, value in updates.items() if config.get(name) != value]
    config.update(updates)
    # A new connection may wait for its issuer and client: the admin registers the client at
    # the provider with the redirect URI, which names the connection. It cannot be enabled or
    # tested until both are set (``is_complete``).
    if "issuer" in changed:
        await discover(config["issuer"], allow_loopback=loopback, http_timeout=DISCOVERY_TIMEOUT)
    connection.config = config
    if "client_secret" in body:
        sealed = _sealed_secret(body["client_secret"], connection, context)
        if sealed is not None or connection.client_secret is not None:
            connection.client_secret = sealed
            changed.append("client_secret")
    return changed


def is_complete(connection: SsoConnection) -> bool:
    """Whether the connection can be enabled and tested (its issuer and client are set)."""
    return bool(connection.config.get("issuer") and connection.config.get("client_id"))


async def document(db: AsyncSession, connection: SsoConnection) -> dict[str, Any]:
    """The OIDC values of a connection for the admin API (``has_client_secret``, never the
    secret)."""
    config = connection.config
    return {
        "redirect_uri": config.get("redirect_uri"),
        "issuer": config.get("issuer"),
        "client_id": config.get("client_id"),
        "scopes": list(config.get("scopes") or []),
        "preset": config.get("preset"),
        "has_client_secret": connection.client_secret is not None,
        "fetch_userinfo": bool(config.get("fetch_userinfo")),
        "required_claims": dict(config.get("required_claims") or {}),
    }
