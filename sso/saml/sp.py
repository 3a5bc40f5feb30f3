"""The service-provider side of one SAML connection: sign-in and logout requests, SLO handling.

Everything here works on plain values (:class:`SpConfig`, :class:`IdpConfig`); storing the
outstanding request IDs, the replay cache and the sessions is the caller's job.
"""

from __future__ import annotations

from onelogin.saml2.auth import OneLogin_Saml2_Auth  # type: ignore[import-untyped]

from sso.saml._config import IdpConfig, SpConfig, library_settings, request_data, saml_settings
from sso.saml._logout import IdpLogoutRequest, LogoutCompleted, process_logout
from sso.saml.errors import reject

__all__ = [
    "IdpConfig",
    "IdpLogoutRequest",
    "LogoutCompleted",
    "SpConfig",
    "authn_request",
    "logout_request",
    "process_logout",
    "saml_settings",
]


def authn_request(sp: SpConfig, idp: IdpConfig, *, relay_state: str) -> tuple[str, str]:
    """A signed AuthnRequest for the HTTP-Redirect binding.

    The request asks for the response at ``sp.acs_url`` over HTTP-POST, with no NameID format
    or authentication context imposed. The query is signed with ``sp.sp_key_pem``
    (RSA-SHA256) over ``SAMLRequest``, ``RelayState`` and ``SigAlg``.

    Args:
        sp: The connection's SP side.
        idp: The connection's identity provider.
        relay_state: An opaque value the IdP sends back with the response (e.g. the flow's
            handle); never a URL the response then redirects to unchecked.

    Returns:
        ``(redirect_url, request_id)``: send the browser to the URL, and keep the ID with the
        browser's flow to pass as ``expected_request_id`` to
        :func:`sso.saml.validate.validate_response`.

    Raises:
        SsoRejected: ``metadata_invalid`` or ``metadata_no_signing_cert`` when the connection's
            values are unusable.
    """
    auth = OneLogin_Saml2_Auth(request_data(sp.acs_url), library_settings(sp, idp))
    url = auth.login(return_to=relay_state, set_nameid_policy=True)
    return str(url), str(auth.get_last_request_id())


def logout_request(
    sp: SpConfig,
    idp: IdpConfig,
    *,
    name_id: str,
    name_id_format: str | None,
    session_index: str | None,
    relay_state: str,
) -> tuple[str, str]:
    """A signed LogoutRequest for the HTTP-Redirect binding (SP-initiated Single Logout).

    Args:
        sp: The connection's SP side.
        idp: The connection's identity provider.
        name_id: The NameID of the session, as :class:`ValidatedAssertion` gave it.
        name_id_format: Its format, or None.
        session_index: The IdP session index of the sign-in, or None.
        relay_state: An opaque value the IdP sends back with its LogoutResponse.

    Returns:
        ``(redirect_url, request_id)``: keep the ID to pass as ``expected_request_id`` to
        :func:`process_logout` when the LogoutResponse arrives.

    Raises:
        SsoRejected: ``saml_slo_unsupported`` when the IdP has no SLO URL; ``metadata_invalid``.
    """
    if not idp.slo_url:
        raise reject("saml_slo_unsupported")
    auth = OneLogin_Saml2_Auth(request_data(sp.sls_url), library_settings(sp, idp))
    url = auth.logout(
        return_to=relay_state,
        name_id=name_id,
        session_index=session_index,
        name_id_format=name_id_format,
    )
    return str(url), str(auth.get_last_request_id())
