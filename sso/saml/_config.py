"""One connection's SAML configuration as plain values, and the python3-saml settings of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from onelogin.saml2.constants import (  # type: ignore[import-untyped]
    OneLogin_Saml2_Constants as Const,
)
from onelogin.saml2.settings import OneLogin_Saml2_Settings  # type: ignore[import-untyped]

from sso.saml.errors import reject
from sso.saml.keys import certificate_info

__all__ = [
    "IdpConfig",
    "SpConfig",
    "library_settings",
    "request_data",
    "saml_settings",
    "sp_only_settings",
]


@dataclass(frozen=True)
class SpConfig:
    """This service provider, as one connection presents itself to its identity provider."""

    sp_entity_id: str
    """The SP entity ID (by convention the URL of this connection's SP metadata)."""
    acs_url: str
    """Assertion Consumer Service (HTTP-POST): where the IdP posts the response."""
    sls_url: str
    """Single Logout Service (HTTP-Redirect): where the IdP sends logout messages."""
    sp_cert_pem: str
    """The current signing certificate (PEM)."""
    sp_key_pem: str = field(repr=False)
    """The current signing key (PEM, decrypted only in memory)."""
    sp_next_cert_pem: str | None = None
    """During a key rollover, the next certificate, published in metadata beside the current one."""


@dataclass(frozen=True)
class IdpConfig:
    """The identity provider of one connection (usually read from its metadata)."""

    entity_id: str
    sso_url: str
    """SingleSignOnService for the HTTP-Redirect binding."""
    slo_url: str | None
    """SingleLogoutService for the HTTP-Redirect binding, or None when the IdP has none."""
    signing_certs: tuple[str, ...]
    """Every certificate the IdP may sign with (several during its rollover), PEM or base64."""
    want_assertions_signed: bool = True
    """Require the assertion itself to be signed. False also accepts a response whose only
    signature is on the ``samlp:Response`` envelope (SAML profiles errata E26 allows it)."""


def saml_settings(sp: SpConfig, idp: IdpConfig) -> dict[str, Any]:
    """The python3-saml settings dict of one connection, with this project's security policy.

    Strict mode; signed AuthnRequests and logout messages (RSA-SHA256, SHA-256 digests); SHA-1
    refused; signed assertions required (see ``IdpConfig.want_assertions_signed``); a NameID
    required; no requested authentication context (IdPs using MFA or Kerberos would otherwise
    refuse the request); repeated attribute names refused. Checks python3-saml does loosely
    (Destination by prefix, Recipient by substring, an optional Audience) are done exactly by
    :func:`sso.saml.validate.validate_response`, so no option here stands in for them.

    Args:
        sp: This SP, for the connection.
        idp: The connection's identity provider.

    Returns:
        A new dict; python3-saml may be given it directly.

    Raises:
        SsoRejected: ``metadata_no_signing_cert`` when ``idp`` has no signing certificate.
    """
    if not idp.signing_certs:
        raise reject("metadata_no_signing_cert")
    sp_data: dict[str, Any] = {
        "entityId": sp.sp_entity_id,
        "assertionConsumerService": {"url": sp.acs_url, "binding": Const.BINDING_HTTP_POST},
        "singleLogoutService": {"url": sp.sls_url, "binding": Const.BINDING_HTTP_REDIRECT},
        "NameIDFormat": Const.NAMEID_UNSPECIFIED,
        "x509cert": sp.sp_cert_pem,
        "privateKey": sp.sp_key_pem,
    }
    if sp.sp_next_cert_pem:
        sp_data["x509certNew"] = sp.sp_next_cert_pem
    idp_data: dict[str, Any] = {
        "entityId": idp.entity_id,
        "singleSignOnService": {"url": idp.sso_url, "binding": Const.BINDING_HTTP_REDIRECT},
        "x509certMulti": {"signing": list(idp.signing_certs)},
    }
    if idp.slo_url:
        idp_data["singleLogoutService"] = {
            "url": idp.slo_url,
            "binding": Const.BINDING_HTTP_REDIRECT,
        }
    return {
        "strict": True,
        "debug": False,
        "sp": sp_data,
        "idp": idp_data,
        "security": {
            "authnRequestsSigned": True,
            "logoutRequestSigned": True,
            "logoutResponseSigned": True,
            # Most IdPs sign only the assertion; the Redirect-binding logout messages are checked
            # for a signature by sso.saml._logout itself.
            "wantMessagesSigned": False,
            "wantAssertionsSigned": idp.want_assertions_signed,
            "wantAssertionsEncrypted": False,
            "wantNameId": True,
            "wantNameIdEncrypted": False,
            "wantAttributeStatement": False,
            "requestedAuthnContext": False,
            "rejectDeprecatedAlgorithm": True,
            "allowRepeatAttributeName": False,
            "signatureAlgorithm": Const.RSA_SHA256,
            "digestAlgorithm": Const.SHA256,
            "signMetadata": False,
        },
    }


def library_settings(sp: SpConfig, idp: IdpConfig) -> Any:
    """python3-saml's ``OneLogin_Saml2_Settings`` for one connection.

    Raises:
        SsoRejected: ``metadata_invalid`` when python3-saml refuses the values (a malformed URL,
            an unreadable certificate or key), ``metadata_no_signing_cert``.
    """
    return _settings(saml_settings(sp, idp), sp_validation_only=False)


def _settings(values: dict[str, Any], *, sp_validation_only: bool) -> Any:
    try:
        return OneLogin_Saml2_Settings(values, sp_validation_only=sp_validation_only)
    except Exception as error:  # python3-saml raises OneLogin_Saml2_Error with a list of errors
        raise reject(
            "metadata_invalid",
            "The connection's SAML settings are incomplete or malformed.",
            errors=str(error)[:300],
        ) from None


def sp_only_settings(sp: SpConfig, *, want_assertions_signed: bool) -> Any:
    """python3-saml's settings with only the SP side (enough to write SP metadata).

    The metadata is declared valid until the current certificate expires (python3-saml's default
    is two days, which an IdP importing a downloaded file a week later would refuse); IdPs that
    fetch it by URL still refresh it after ``cacheDuration`` (a week).

    Raises:
        SsoRejected: ``metadata_invalid`` when python3-saml refuses the SP values;
            ``certificate_invalid`` when the SP certificate is unreadable.
    """
    placeholder = IdpConfig("", "", None, ("-",), want_assertions_signed=want_assertions_signed)
    values = saml_settings(sp, placeholder)
    values["idp"] = {}
    expiry = certificate_info(sp.sp_cert_pem).not_after
    values["security"]["metadataValidUntil"] = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    return _settings(values, sp_validation_only=True)


def request_data(url: str, **data: dict[str, str] | str | bool) -> dict[str, Any]:
    """python3-saml's description of a request received at exactly ``url``."""
    parts = urlsplit(url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path,
        "get_data": {},
        "post_data": {},
        **data,
    }
