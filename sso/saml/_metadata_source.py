"""Where a SAML connection's IdP values come from: a metadata URL, fetched and refreshed.

:func:`fetch_metadata` fetches through :func:`sso.netfetch.fetch` (https to public addresses
only; loopback only with ``sso_allow_loopback``; size and time limits) and reads the document
with :func:`sso.saml.metadata.parse_idp_metadata` (DTDs refused). :func:`store_metadata` writes
the values into ``config``; :func:`refresh_metadata` fetches again and notes what changed.
:func:`warnings_for` says what an admin should look at (expiring certificates, changes, errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sso.errors import SsoRejected
from sso.models import SsoConnection
from sso.netfetch import fetch
from sso.saml.keys import certificate_info
from sso.saml.metadata import MAX_METADATA_BYTES, IdpMetadata, parse_idp_metadata
from whitelabel.db.base import utcnow
from whitelabel.errors import Conflict, ValidationFailed
from whitelabel.settings import Settings
from whitelabel.tenant_data import record_event

__all__ = [
    "CHANGE_WARNING",
    "EXPIRY_WARNING",
    "FETCH_TIMEOUT",
    "RefreshOutcome",
    "fetch_metadata",
    "refresh_metadata",
    "require_saml",
    "store_metadata",
    "warnings_for",
]

FETCH_TIMEOUT = 10.0
"""Seconds allowed for fetching a metadata URL (resolution, redirects and body)."""
EXPIRY_WARNING = timedelta(days=30)
"""An IdP certificate expiring within this long is warned about."""
CHANGE_WARNING = timedelta(days=14)
"""How long a change found by a metadata refresh is warned about."""
MAX_URL = 2000
_ACCEPT = "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """What a metadata refresh found: ``unchanged``, ``changed`` or ``failed`` (with a code)."""

    status: str
    code: str | None = None
    message: str | None = None


def require_saml(connection: SsoConnection) -> None:
    """Refuse a SAML-only action on another kind of connection.

    Raises:
        Conflict: ``sso_saml_only``.
    """
    if connection.type != "saml":
        raise Conflict("This is for SAML connections only.", code="sso_saml_only")


def _idp_values(metadata: IdpMetadata) -> dict[str, Any]:
    return {
        "entity_id": metadata.entity_id,
        "sso_url": metadata.sso_url,
        "sso_binding": metadata.sso_binding,
        "slo_url": metadata.slo_url,
        "certs": [
            {"pem": cert.pem, "not_after": cert.not_after.isoformat()}
            for cert in metadata.signing_certs
        ],
    }


def _fingerprints(idp: dict[str, Any] | None) -> set[str]:
    return {certificate_info(c["pem"]).fingerprint_sha256 for c in (idp or {}).get("certs", [])}


def warnings_for(config: dict[str, Any], now: datetime) -> list[str]:
    """The warnings an admin should see for a SAML ``config`` at ``now``: IdP certificates
    expired or expiring within :data:`EXPIRY_WARNING`, a change found by a refresh within
    :data:`CHANGE_WARNING`, the last refresh's error."""
    found: list[str] = []
    for cert in (config.get("idp") or {}).get("certs", []):
        info = certificate_info(cert["pem"])
        short = info.fingerprint_sha256[:14]
        day = f"{info.not_after:%Y-%m-%d}"
        if info.not_after <= now:
            found.append(f"The identity provider's certificate {short}... expired on {day}.")
        elif info.not_after - now <= EXPIRY_WARNING:
            found.append(
                f"The identity provider's certificate {short}... expires on {day} "
                f"(in {(info.not_after - now).days} days); make sure its metadata has the new one."
            )
    changed = config.get("metadata_changed_at")
    if changed and now - datetime.fromisoformat(changed) <= CHANGE_WARNING:
        found.append(
            f"The identity provider's metadata changed at the refresh of {changed[:16]}Z "
            "(certificates or addresses); check that sign-in still works."
        )
    if config.get("metadata_error"):
        found.append(f"The last metadata refresh failed: {config['metadata_error']}")
    return found


def store_metadata(
    connection: SsoConnection,
    metadata: IdpMetadata,
    *,
    url: str | None,
    fetched_at: datetime | None,
    refreshed: bool,
) -> list[str]:
    """Write the metadata's values into ``config``; answers what changed (``idp``,
    ``idp_metadata_url``) and, for a refresh, notes when the IdP's values changed."""
    config = dict(connection.config)
    values = _idp_values(metadata)
    changed = [name for name, new in (("idp", values), ("idp_metadata_url", url))
               if config.get(name) != new]  # fmt: skip
    config.update(
        idp=values,
        idp_metadata_url=url,
        metadata_fetched_at=fetched_at.isoformat() if fetched_at else None,
        metadata_error=None,
    )
    if not refreshed:
        config["metadata_changed_at"] = None  # the admin gave this metadata: nothing to warn of
    elif "idp" in changed:
        config["metadata_changed_at"] = utcnow().isoformat()
    config["warnings"] = warnings_for(config, utcnow())
    connection.config = config
    return changed


async def fetch_metadata(url: Any, settings: Settings) -> tuple[IdpMetadata, datetime]:
    if not isinstance(url, str) or not 1 <= len(url) <= MAX_URL:
        raise ValidationFailed(
            f"idp_metadata_url is an https URL of at most {MAX_URL} characters.",
            detail={"field": "idp_metadata_url"},
        )
    document = await fetch(
        url,
        max_bytes=MAX_METADATA_BYTES,
        timeout=FETCH_TIMEOUT,
        allow_loopback=settings.sso_allow_loopback,
        accept=_ACCEPT,
    )
    return parse_idp_metadata(document.body), document.fetched_at


async def refresh_metadata(
    db: AsyncSession,
    connection: SsoConnection,
    *,
    settings: Settings,
    actor: str,
    ip: str | None = None,
    keep_errors: bool = True,
) -> RefreshOutcome:
    """Fetch the connection's metadata URL again and store what it says now.

    A change of the IdP's values bumps ``config_version``, sets ``metadata_changed_at`` and is
    audited as ``sso.metadata_changed`` (fingerprints of the certificates added and removed).
    A failure keeps the last good values; with ``keep_errors`` it is written to
    ``metadata_error`` (audited as ``sso.metadata_refresh_failed`` when the error is new),
    otherwise it is raised.

    Raises:
        Conflict: ``sso_saml_only``; ``sso_no_metadata_url`` (the metadata was pasted).
        SsoRejected: the fetch or the document failed and ``keep_errors`` is false.
    """
    require_saml(connection)
    url = connection.config.get("idp_metadata_url")
    if not url:
        raise Conflict(
            "This connection's metadata was pasted, not fetched from a URL.",
            code="sso_no_metadata_url",
        )
    before = connection.config.get("idp")
    try:
        metadata, fetched_at = await fetch_metadata(url, settings)
    except SsoRejected as rejected:
        if not keep_errors:
            raise
        error = f"{rejected.message} ({rejected.code})"
        if connection.config.get("metadata_error") != error:
            record_event(
                db, "sso.metadata_refresh_failed", actor=actor, target=str(connection.id),
                ip=ip, detail={"code": rejected.code},
            )  # fmt: skip
        config = {**connection.config, "metadata_error": error}
        config["warnings"] = warnings_for(config, utcnow())
        connection.config = config
        return RefreshOutcome("failed", rejected.code, rejected.message)
    if not store_metadata(connection, metadata, url=url, fetched_at=fetched_at, refreshed=True):
        return RefreshOutcome("unchanged")
    old, new = _fingerprints(before), _fingerprints(connection.config["idp"])
    connection.config_version += 1
    connection.updated_at = utcnow()
    record_event(
        db, "sso.metadata_changed", actor=actor, target=str(connection.id), ip=ip,
        detail={"added": sorted(new - old), "removed": sorted(old - new)},
    )  # fmt: skip
    return RefreshOutcome("changed")
