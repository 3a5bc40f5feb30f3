"""The SAML side of a connection: IdP metadata in ``config``, SP keys, rollover, refresh.

``config`` of a SAML connection (others read it; keep the keys)::

    {"sp_entity_id", "metadata_url", "acs_url", "sls_url",   # fixed at creation
     "idp": null | {"entity_id", "sso_url", "sso_binding", "slo_url",
                    "certs": [{"pem", "not_after"}]},
     "idp_metadata_url": str | null, "metadata_fetched_at": ISO | null,
     "metadata_error": str | null, "metadata_changed_at": ISO | null, "warnings": [str]}

IdP metadata comes pasted (``idp_metadata_xml``) or from a URL (``idp_metadata_url``: fetched
through :func:`sso.netfetch.fetch`, https to public addresses only, size and time limits) and is
read by :func:`sso.saml.metadata.parse_idp_metadata` (DTDs refused). A URL source is refreshed
by ``sso.refresh``; :func:`refresh_metadata` notes what changed (``sso.saml._metadata_source``).
``warnings`` holds the warnings as of the last write; :func:`document` recomputes them
(certificate expiry moves with time).

SP keys: each connection signs with its own ``current`` key; a rollover adds a ``next`` key that
the SP metadata publishes beside it, and finishing retires the current one and promotes the next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from sso.errors import SsoRejected
from sso.models import SsoConnection
from sso.saml import _sp_keys as keys
from sso.saml._metadata_source import (
    CHANGE_WARNING,
    EXPIRY_WARNING,
    FETCH_TIMEOUT,
    RefreshOutcome,
    fetch_metadata,
    refresh_metadata,
    require_saml,
    store_metadata,
    warnings_for,
)
from sso.saml.keys import certificate_info
from sso.saml.metadata import MAX_METADATA_BYTES, IdpMetadata, parse_idp_metadata
from whitelabel.db.base import utcnow
from whitelabel.errors import ValidationFailed

if TYPE_CHECKING:
    from sso.service import ConnectionContext

__all__ = [
    "CHANGE_WARNING",
    "EXPIRY_WARNING",
    "FETCH_TIMEOUT",
    "FIELDS",
    "RefreshOutcome",
    "apply_fields",
    "begin_rollover",
    "document",
    "finish_rollover",
    "is_complete",
    "refresh_metadata",
    "require_saml",
    "warnings_for",
]

FIELDS = ("idp_metadata_xml", "idp_metadata_url")
begin_rollover = keys.begin_rollover
finish_rollover = keys.finish_rollover


def is_complete(connection: SsoConnection) -> bool:
    """Whether the connection knows its IdP (it may be enabled and tested)."""
    return bool(connection.config.get("idp"))


def _initial_config(base_url: str, connection: SsoConnection) -> dict[str, Any]:
    base = f"{base_url}/sso/saml/{connection.id}"
    return {
        "sp_entity_id": f"{base}/metadata",
        "metadata_url": f"{base}/metadata",
        "acs_url": f"{base}/acs",
        "sls_url": f"{base}/sls",
        "idp": None,
        "idp_metadata_url": None,
        "metadata_fetched_at": None,
        "metadata_error": None,
        "metadata_changed_at": None,
        "warnings": [],
    }


def _pasted(value: Any) -> IdpMetadata:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(
            "idp_metadata_xml is the metadata document as text.",
            detail={"field": "idp_metadata_xml"},
        )
    if len(value) > MAX_METADATA_BYTES:  # before encoding a huge string
        raise SsoRejected(
            "metadata_too_large",
            "The metadata document is larger than this service accepts.",
            {"limit": MAX_METADATA_BYTES},
        )
    return parse_idp_metadata(value.encode("utf-8"))


async def apply_fields(
    db: AsyncSession,
    connection: SsoConnection,
    body: Any,
    context: ConnectionContext,
    *,
    creating: bool,
) -> list[str]:
    """Check and apply the SAML fields of an admin's body; answers the names that changed.

    On creation, fixes the SP URLs from ``context.base_url`` and makes the first SP key.
    ``idp_metadata_xml`` replaces the IdP values (and drops a URL source); ``idp_metadata_url``
    fetches and reads the URL now; ``idp_metadata_url: null`` keeps the values but stops the
    refreshes.

    Raises:
        ValidationFailed: a field of the wrong type, or both sources at once.
        SsoRejected: the metadata or its URL was refused (``metadata_*``, ``url_*``,
            ``fetch_*``, ``certificate_invalid``).
    """
    if creating:
        connection.config = _initial_config(context.base_url, connection)
        await keys.add_key(db, connection, context.tenant.id, context.box, state="current")
    xml, url = body.get("idp_metadata_xml"), body.get("idp_metadata_url")
    if xml is not None and url is not None:
        raise ValidationFailed(
            "Give the IdP metadata as XML or as a URL, not both.",
            detail={"field": "idp_metadata_url"},
        )
    if "idp_metadata_xml" in body:
        metadata = _pasted(xml)
        return store_metadata(connection, metadata, url=None, fetched_at=None, refreshed=False)
    if "idp_metadata_url" not in body:
        return []
    if url is None:
        if connection.config.get("idp_metadata_url") is None:
            return []
        connection.config = {**connection.config, "idp_metadata_url": None, "metadata_error": None}
        return ["idp_metadata_url"]
    metadata, fetched_at = await fetch_metadata(url, context.settings)
    return store_metadata(connection, metadata, url=url, fetched_at=fetched_at, refreshed=False)


def _cert_view(pem: str, **extra: Any) -> dict[str, Any]:
    info = certificate_info(pem)
    return {
        **extra,
        "pem": info.pem,
        "subject": info.subject,
        "not_after": info.not_after.isoformat(),
        "fingerprint_sha256": info.fingerprint_sha256,
    }


async def document(db: AsyncSession, connection: SsoConnection) -> dict[str, Any]:
    """The SAML values of a connection for the admin API: what to give the IdP (entity ID,
    ACS, SLS and metadata URLs, SP certificates: the current one and, during a rollover, the
    next), the IdP's values, where the metadata comes from, and the warnings as of now."""
    config = connection.config
    idp = config.get("idp")
    url = config.get("idp_metadata_url")
    return {
        "sp_entity_id": config.get("sp_entity_id"),
        "acs_url": config.get("acs_url"),
        "metadata_url": config.get("metadata_url"),
        "sls_url": config.get("sls_url"),
        "sp_certs": [
            _cert_view(key.cert_pem, state=key.state)
            for key in await keys.published_keys(db, connection)
        ],
        "idp": None
        if not idp
        else {**idp, "certs": [_cert_view(cert["pem"]) for cert in idp.get("certs", [])]},
        "metadata_source": "url" if url else ("xml" if idp else None),
        "idp_metadata_url": url,
        "metadata_fetched_at": config.get("metadata_fetched_at"),
        "metadata_changed_at": config.get("metadata_changed_at"),
        "metadata_error": config.get("metadata_error"),
        "warnings": warnings_for(config, utcnow()),
    }
