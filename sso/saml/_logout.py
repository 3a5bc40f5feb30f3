"""Single Logout over the HTTP-Redirect binding: the messages an identity provider sends us."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from lxml import etree  # type: ignore[import-untyped]
from onelogin.saml2.auth import OneLogin_Saml2_Auth  # type: ignore[import-untyped]
from onelogin.saml2.constants import (  # type: ignore[import-untyped]
    OneLogin_Saml2_Constants as Const,
)
from onelogin.saml2.logout_request import (  # type: ignore[import-untyped]
    OneLogin_Saml2_Logout_Request,
)
from onelogin.saml2.logout_response import (  # type: ignore[import-untyped]
    OneLogin_Saml2_Logout_Response,
)

from sso.saml._config import IdpConfig, SpConfig, library_settings, request_data
from sso.saml._library import CLOCK_SKEW, NS, library_rejection, parse_instant, text_of
from sso.saml.errors import reject
from sso.saml.prescan import decode_saml_message, prescan, safe_parser

__all__ = ["IdpLogoutRequest", "LogoutCompleted", "process_logout"]

_SIG_ALGS = frozenset({Const.RSA_SHA256, Const.RSA_SHA384, Const.RSA_SHA512})
_PARAMS = frozenset({"SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature"})


@dataclass(frozen=True)
class LogoutCompleted:
    """The identity provider confirmed a logout this SP started (a valid LogoutResponse)."""

    in_response_to: str
    relay_state: str | None


@dataclass(frozen=True)
class IdpLogoutRequest:
    """The identity provider asks this SP to end a session (a valid LogoutRequest).

    End the local sessions of ``name_id`` (those of ``session_indexes`` when given), then send
    the browser to ``redirect_url``: it carries this SP's signed LogoutResponse.
    """

    request_id: str
    name_id: str
    name_id_format: str | None
    session_indexes: tuple[str, ...]
    redirect_url: str


def process_logout(
    sp: SpConfig,
    idp: IdpConfig,
    *,
    query_string: str,
    expected_request_id: str | None,
    now: datetime | None = None,
) -> LogoutCompleted | IdpLogoutRequest:
    """Check a LogoutRequest or LogoutResponse received at the SLS (HTTP-Redirect binding).

    The query must carry a ``Signature`` made with one of the IdP's certificates (RSA-SHA256 or
    stronger), checked over the query exactly as received. Then: pre-scan, python3-saml in
    strict mode, and exact checks: Issuer is the IdP, Destination is ``sp.sls_url``, a
    LogoutResponse answers ``expected_request_id`` with status Success, a LogoutRequest has not
    expired and names a subject.

    Args:
        sp: The connection's SP side.
        idp: The connection's identity provider.
        query_string: The raw query string of the request to the SLS (without ``?``).
        expected_request_id: The ID of the LogoutRequest this browser's logout sent (from
            :func:`sso.saml.sp.logout_request`), or None when none is in progress.
        now: The instant to check NotOnOrAfter against (default: now).

    Returns:
        :class:`LogoutCompleted` for a LogoutResponse, :class:`IdpLogoutRequest` (with the
        signed answer to redirect to) for a LogoutRequest.

    Raises:
        SsoRejected: ``saml_malformed`` (no or repeated parameters), ``saml_unsigned``,
            ``saml_deprecated_algorithm``, ``saml_signature_invalid``, the pre-scan codes,
            ``saml_issuer_mismatch``, ``saml_destination_mismatch``,
            ``saml_in_response_to_mismatch``, ``saml_logout_failed``, ``saml_expired``,
            ``saml_subject_invalid``, ``saml_slo_unsupported``.
    """
    params = _parameters(query_string)
    kind = "SAMLResponse" if "SAMLResponse" in params else "SAMLRequest"
    if kind not in params or ("SAMLResponse" in params and "SAMLRequest" in params):
        raise reject("saml_malformed", "Expected one SAMLRequest or SAMLResponse parameter.")
    xml = decode_saml_message(params[kind], redirect_binding=True)
    prescan(xml, expected_root="LogoutResponse" if kind == "SAMLResponse" else "LogoutRequest")
    settings = library_settings(sp, idp)
    data = request_data(
        sp.sls_url, get_data=params, query_string=query_string, validate_signature_from_qs=True
    )
    auth = OneLogin_Saml2_Auth(data, settings)
    _check_query_signature(auth, params, kind)
    root = etree.fromstring(xml, safe_parser())
    _check_envelope(sp, idp, root)
    if kind == "SAMLResponse":
        message = OneLogin_Saml2_Logout_Response(settings, params[kind])
        _library_valid(message, data, request_id=expected_request_id)
        if expected_request_id is None or root.get("InResponseTo") != expected_request_id:
            raise reject(
                "saml_in_response_to_mismatch",
                "The logout response does not answer the logout this browser started.",
            )
        status = root.find("samlp:Status/samlp:StatusCode", NS)
        if status is None or status.get("Value") != Const.STATUS_SUCCESS:
            raise reject("saml_logout_failed")
        return LogoutCompleted(expected_request_id, params.get("RelayState"))
    return _answer(auth, settings, root, params, data, now or datetime.now(UTC))


def _parameters(query_string: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, max_num_fields=16)
    except ValueError:
        raise reject("saml_malformed", "The logout query has too many parameters.") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise reject("saml_malformed", f"The parameter {name} is repeated.")
        params[name] = value
    return {k: v for k, v in params.items() if k in _PARAMS}


def _check_query_signature(auth: Any, params: dict[str, str], kind: str) -> None:
    if not params.get("Signature") or not params.get("SigAlg"):
        raise reject("saml_unsigned", "The logout message carries no signature.")
    if params["SigAlg"] not in _SIG_ALGS:
        if params["SigAlg"] in Const.DEPRECATED_ALGORITHMS:
            raise reject("saml_deprecated_algorithm")
        raise reject("saml_signature_invalid", "The logout message's SigAlg is not supported.")
    valid = (
        auth.validate_response_signature(params)
        if kind == "SAMLResponse"
        else auth.validate_request_signature(params)
    )
    if not valid:
        raise reject("saml_signature_invalid")


def _check_envelope(sp: SpConfig, idp: IdpConfig, root: etree._Element) -> None:
    issuers = root.findall("saml:Issuer", NS)
    if len(issuers) != 1 or text_of(issuers[0]) != idp.entity_id:
        raise reject("saml_issuer_mismatch", expected=idp.entity_id)
    if root.get("Destination") != sp.sls_url:
        raise reject(
            "saml_destination_mismatch",
            f"The logout message was not addressed to {sp.sls_url!r}.",
            expected=sp.sls_url,
            received=(root.get("Destination") or "")[:300],
        )


def _library_valid(message: Any, data: dict[str, Any], **kwargs: Any) -> None:
    try:
        message.is_valid(data, raise_exceptions=True, **kwargs)
    except Exception as error:
        raise library_rejection(error) from None


def _answer(
    auth: Any,
    settings: Any,
    root: etree._Element,
    params: dict[str, str],
    data: dict[str, Any],
    now: datetime,
) -> IdpLogoutRequest:
    message = OneLogin_Saml2_Logout_Request(settings, params["SAMLRequest"])
    _library_valid(message, data)
    not_on_or_after = parse_instant(root.get("NotOnOrAfter"))
    if not_on_or_after is not None and not_on_or_after + CLOCK_SKEW <= now:
        raise reject("saml_expired", "The logout request has expired.")
    request_id = root.get("ID")
    name_id = root.find("saml:NameID", NS)
    if not request_id or name_id is None or not text_of(name_id):
        raise reject("saml_subject_invalid", "The logout request names no subject.")
    indexes = tuple(text_of(e) or "" for e in root.findall("samlp:SessionIndex", NS))
    if settings.get_idp_slo_url() is None:
        raise reject("saml_slo_unsupported")
    answer = OneLogin_Saml2_Logout_Response(settings)
    answer.build(request_id)
    out: dict[str, str] = {"SAMLResponse": answer.get_response()}
    if "RelayState" in params:
        out["RelayState"] = params["RelayState"]
    auth.add_response_signature(out, Const.RSA_SHA256)
    return IdpLogoutRequest(
        request_id=request_id,
        name_id=text_of(name_id) or "",
        name_id_format=name_id.get("Format"),
        session_indexes=indexes,
        redirect_url=str(auth.redirect_to(settings.get_idp_slo_response_url(), out)),
    )
