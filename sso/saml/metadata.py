"""Identity-provider metadata in, service-provider metadata out.

IdP metadata is parsed here with lxml rather than python3-saml's ``IdPMetadataParser``: that
parser builds XPath by string interpolation of the entity ID, keeps one binding per call, and
folds one certificate into ``x509cert`` but several into ``x509certMulti``. Here one pass gives
every signing certificate (an IdP publishes two during a rollover), each checked and dated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree  # type: ignore[import-untyped]
from onelogin.saml2.constants import (  # type: ignore[import-untyped]
    OneLogin_Saml2_Constants as Const,
)

from sso.errors import SsoRejected
from sso.saml._config import IdpConfig, SpConfig, sp_only_settings
from sso.saml.errors import reject
from sso.saml.keys import certificate_info
from sso.saml.prescan import safe_parser

__all__ = [
    "MAX_METADATA_BYTES",
    "IdpCertificate",
    "IdpMetadata",
    "parse_idp_metadata",
    "sp_metadata",
]

MAX_METADATA_BYTES = 2 * 1024 * 1024
"""Largest metadata document accepted (a single IdP's is a few KiB)."""

_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
_DS = "http://www.w3.org/2000/09/xmldsig#"
_NS = {"md": _MD, "ds": _DS}
_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"


@dataclass(frozen=True)
class IdpCertificate:
    """One signing certificate of the identity provider."""

    pem: str
    not_after: datetime
    fingerprint_sha256: str


@dataclass(frozen=True)
class IdpMetadata:
    """The values of an IdP's metadata that a connection needs."""

    entity_id: str
    sso_url: str
    sso_binding: str
    """HTTP-Redirect when the IdP offers it, else HTTP-POST."""
    slo_url: str | None
    """SingleLogoutService for HTTP-Redirect, or None."""
    signing_certs: tuple[IdpCertificate, ...]

    def idp_config(self, *, want_assertions_signed: bool = True) -> IdpConfig:
        """These values as the :class:`IdpConfig` the protocol functions take."""
        return IdpConfig(
            entity_id=self.entity_id,
            sso_url=self.sso_url,
            slo_url=self.slo_url,
            signing_certs=tuple(c.pem for c in self.signing_certs),
            want_assertions_signed=want_assertions_signed,
        )


def parse_idp_metadata(xml: bytes, *, entity_id: str | None = None) -> IdpMetadata:
    """Read an identity provider's SAML metadata.

    Args:
        xml: An ``md:EntityDescriptor``, or an ``md:EntitiesDescriptor`` holding several.
        entity_id: Which entity to read from an aggregate; required when it holds more than one
            identity provider.

    Returns:
        Entity ID, SSO URL (HTTP-Redirect, else HTTP-POST), SLO URL (HTTP-Redirect) and every
        signing certificate (``use="signing"`` or no ``use``), de-duplicated, in document order.

    Raises:
        SsoRejected: ``metadata_too_large``; ``metadata_dtd_refused`` (any DOCTYPE or entity);
            ``metadata_invalid`` (not XML, not metadata, several IdPs and no ``entity_id``);
            ``metadata_no_idp``; ``metadata_no_sso_url``; ``metadata_no_signing_cert``;
            ``certificate_invalid``.
    """
    if len(xml) > MAX_METADATA_BYTES:
        raise reject("metadata_too_large", limit=MAX_METADATA_BYTES, size=len(xml))
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise reject("metadata_dtd_refused")
    try:
        root = etree.fromstring(xml, safe_parser())
    except etree.XMLSyntaxError:
        raise reject("metadata_invalid", "The metadata is not well-formed XML.") from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise reject("metadata_dtd_refused")
    entity = _entity(root, entity_id)
    idp = entity.find("md:IDPSSODescriptor", _NS)
    if idp is None or _PROTOCOL not in (idp.get("protocolSupportEnumeration") or "").split():
        raise reject("metadata_no_idp")
    sso_url, sso_binding = _sso(idp)
    return IdpMetadata(
        entity_id=entity.get("entityID") or "",
        sso_url=sso_url,
        sso_binding=sso_binding,
        slo_url=_location(idp, "SingleLogoutService", Const.BINDING_HTTP_REDIRECT),
        signing_certs=_signing_certs(idp),
    )


def _entity(root: etree._Element, entity_id: str | None) -> etree._Element:
    if root.tag == f"{{{_MD}}}EntityDescriptor":
        candidates = [root]
    elif root.tag == f"{{{_MD}}}EntitiesDescriptor":
        candidates = list(root.iter(f"{{{_MD}}}EntityDescriptor"))
    else:
        raise reject("metadata_invalid", "The document is not SAML metadata (EntityDescriptor).")
    if entity_id is not None:
        candidates = [e for e in candidates if e.get("entityID") == entity_id]
    else:
        candidates = [e for e in candidates if e.find("md:IDPSSODescriptor", _NS) is not None]
    if not candidates:
        raise reject("metadata_no_idp", "The metadata has no identity provider of that entity ID.")
    if len(candidates) > 1:
        raise reject(
            "metadata_invalid", "The metadata describes several identity providers; pick one."
        )
    if not candidates[0].get("entityID"):
        raise reject("metadata_invalid", "The metadata's EntityDescriptor has no entityID.")
    return candidates[0]


def _location(idp: etree._Element, service: str, binding: str) -> str | None:
    for node in idp.findall(f"md:{service}", _NS):
        location = (node.get("Location") or "").strip()
        if node.get("Binding") == binding and location.startswith(("https://", "http://")):
            return location
    return None


def _sso(idp: etree._Element) -> tuple[str, str]:
    for binding in (Const.BINDING_HTTP_REDIRECT, Const.BINDING_HTTP_POST):
        url = _location(idp, "SingleSignOnService", binding)
        if url is not None:
            return url, binding
    raise reject("metadata_no_sso_url")


def _signing_certs(idp: etree._Element) -> tuple[IdpCertificate, ...]:
    seen: dict[str, IdpCertificate] = {}
    for descriptor in idp.findall("md:KeyDescriptor", _NS):
        if descriptor.get("use", "signing") != "signing":
            continue
        for node in descriptor.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS):
            try:
                info = certificate_info(node.text or "")
            except SsoRejected as error:
                raise reject(
                    "certificate_invalid", "A signing certificate in the metadata is unreadable."
                ) from error
            seen.setdefault(
                info.fingerprint_sha256,
                IdpCertificate(info.pem, info.not_after, info.fingerprint_sha256),
            )
    if not seen:
        raise reject("metadata_no_signing_cert")
    return tuple(seen.values())


def sp_metadata(sp: SpConfig, *, want_assertions_signed: bool = True) -> str:
    """The SP metadata of one connection, for its identity provider to import.

    Publishes the entity ID, the ACS (HTTP-POST) and SLS (HTTP-Redirect) URLs,
    ``AuthnRequestsSigned="true"``, ``WantAssertionsSigned``, and the signing certificate, plus
    the next one during a rollover (``sp.sp_next_cert_pem``), so that the IdP trusts both before
    the switch. No encryption key is published: assertions are expected signed, not encrypted.
    It needs no IdP values, so an administrator can hand it over before the IdP exists.

    Args:
        sp: The connection's SP side.
        want_assertions_signed: The connection's ``IdpConfig.want_assertions_signed``.

    Returns:
        The ``md:EntityDescriptor`` document as a string.

    Raises:
        SsoRejected: ``metadata_invalid`` when the SP values are unusable (e.g. a malformed URL),
            ``certificate_invalid`` when its certificate is unreadable.
    """
    settings = sp_only_settings(sp, want_assertions_signed=want_assertions_signed)
    document = settings.get_sp_metadata()
    return document.decode("utf-8") if isinstance(document, bytes) else str(document)
