"""What the OIDC routes keep per process, and a connection's client settings read for one sign-in.

**Caches.** One :class:`~sso.oidc.discovery.DiscoveryCache` and one
:class:`~sso.oidc.jwks.JwksCache` serve every tenant of the process: they hold only public
provider metadata and public keys. They live in a module-level registry keyed by the
:class:`~whitelabel.settings.Settings` value (frozen, hashable): the only settings that shape
them are :func:`oidc_loopback` and the secret keys of the :class:`~sso.secrets.SecretBox` kept
beside them, and a process normally has one ``Settings``, so this is one set of caches per
process (tests that build a runtime with other settings get their own). ``Runtime`` is a slotted
dataclass owned by the core, so nothing is hung on it. Discovery entries are keyed by tenant,
connection and ``config_version`` (:func:`discovery_version`): an edited connection is never
served stale metadata, and one tenant's edit never refreshes or pins another's entry.

**Client settings.** :func:`load_client` reads ``SsoConnection.config`` (written by the admin
service; see ``sso.service``) and unseals the client secret, refusing a malformed config with an
:class:`~sso.errors.SsoRejected` that names the field, never its value.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sso.errors import SsoRejected
from sso.models import SsoConnection
from sso.oidc.discovery import DiscoveryCache
from sso.oidc.jwks import JwksCache
from sso.secrets import SecretBox, SecretUnreadable, secret_context
from whitelabel.settings import Settings

__all__ = [
    "HTTP_TIMEOUT",
    "OidcClient",
    "OidcRuntime",
    "discovery_version",
    "load_client",
    "oidc_loopback",
    "oidc_runtime",
    "unreadable",
]

#: Seconds allowed for one request to a provider (discovery, JWKS, token, userinfo): the
#: browser waits on the callback meanwhile.
HTTP_TIMEOUT = 10.0


def oidc_loopback(settings: Settings) -> bool:
    """Whether providers on this machine over plain http are allowed (``WHITELABEL_SSO_ALLOW_
    LOOPBACK=on``: the demo's local IdP and the tests); off, every provider URL must be https
    on a public address."""
    return settings.sso_allow_loopback


@dataclass(frozen=True, slots=True)
class OidcRuntime:
    """The process's OIDC caches and secret box for one ``Settings``."""

    discovery: DiscoveryCache
    jwks: JwksCache
    box: SecretBox
    allow_loopback: bool


_registry: dict[Settings, OidcRuntime] = {}
_lock = threading.Lock()  # live test servers run apps in threads; creation must happen once


def oidc_runtime(settings: Settings) -> OidcRuntime:
    """The caches and secret box of ``settings``, made on first use and then shared.

    Raises:
        SettingsError: ``WHITELABEL_SECRET_KEY`` is not set (the secret box needs it).
    """
    found = _registry.get(settings)
    if found is not None:
        return found
    with _lock:
        found = _registry.get(settings)
        if found is None:
            loopback = oidc_loopback(settings)
            found = OidcRuntime(
                discovery=DiscoveryCache(allow_loopback=loopback, timeout=HTTP_TIMEOUT),
                jwks=JwksCache(allow_loopback=loopback, timeout=HTTP_TIMEOUT),
                box=SecretBox(settings),
                allow_loopback=loopback,
            )
            _registry[settings] = found
        return found


def discovery_version(tenant_id: uuid.UUID, connection: SsoConnection) -> str:
    """The :meth:`DiscoveryCache.get` version of a connection: tenant, connection, edit count."""
    return f"{tenant_id}:{connection.id}:{connection.config_version}"


@dataclass(frozen=True, slots=True)
class OidcClient:
    """An OIDC connection's client settings, ready for :func:`sso.oidc.flow.begin`/``finish``."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    """Unsealed; empty for a public client. Never logged, never shown."""
    redirect_uri: str
    scopes: tuple[str, ...]
    fetch_userinfo: bool
    required_claims: Mapping[str, str]
    authorization_params: Mapping[str, str]
    """Hints for the authorization request (Google's ``hd``); never a check."""


def _misconfigured(name: str) -> SsoRejected:
    return SsoRejected(
        "oidc_connection_misconfigured",
        f"The connection's {name} setting is missing or malformed; an admin must correct it.",
        {"field": name},
    )


def _text(config: Mapping[str, Any], name: str) -> str:
    value = config.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _misconfigured(name)
    return value


def unreadable(name: str) -> SsoRejected:
    """The refusal for a sealed value of the connection or flow that does not open."""
    return SsoRejected(
        "sso_secret_unreadable",
        f"The stored {name} cannot be decrypted (was WHITELABEL_SECRET_KEY changed without "
        "keeping the old key in WHITELABEL_PREVIOUS_SECRET_KEYS?).",
        {"field": name},
    )


def load_client(connection: SsoConnection, tenant_id: uuid.UUID, box: SecretBox) -> OidcClient:
    """Read an OIDC connection's ``config`` and unseal its client secret.

    Raises:
        SsoRejected: ``oidc_connection_misconfigured`` (``detail["field"]`` names the setting)
            or ``sso_secret_unreadable`` (the secret does not open with this server's keys).
    """
    config: Mapping[str, Any] = connection.config if isinstance(connection.config, dict) else {}
    scopes = config.get("scopes") or ["openid"]
    if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
        raise _misconfigured("scopes")
    required = config.get("required_claims") or {}
    if not isinstance(required, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in required.items()
    ):
        raise _misconfigured("required_claims")
    fetch_userinfo = config.get("fetch_userinfo", False)
    if not isinstance(fetch_userinfo, bool):
        raise _misconfigured("fetch_userinfo")
    secret = ""
    if connection.client_secret:
        context = secret_context(tenant_id, connection.id, "client_secret")
        try:
            secret = box.open(connection.client_secret, context=context)
        except SecretUnreadable as exc:
            raise unreadable("client secret") from exc
    hints = {"hd": required["hd"]} if config.get("preset") == "google" and "hd" in required else {}
    return OidcClient(
        issuer=_text(config, "issuer"),
        client_id=_text(config, "client_id"),
        client_secret=secret,
        redirect_uri=_text(config, "redirect_uri"),
        scopes=tuple(scopes),
        fetch_userinfo=fetch_userinfo,
        required_claims=MappingProxyType(dict(required)),
        authorization_params=MappingProxyType(hints),
    )
