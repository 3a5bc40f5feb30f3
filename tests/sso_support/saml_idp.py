"""A real SAML identity provider in-process (pysaml2, signing with Debian's ``xmlsec1``).

pysaml2 builds every response; this module then sets the few values a test wants wrong
(audience, recipient, destination, validity window, issuer) and has pysaml2 sign the assertion,
the response or both, with the IdP's key or another one, in SHA-256 or SHA-1. It also plays the
IdP side of Single Logout: it verifies the SP's signed AuthnRequest and LogoutRequest, and sends
signed LogoutRequests and LogoutResponses over the HTTP-Redirect binding.
"""

from __future__ import annotations

import base64
import functools
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.utils import CryptographyDeprecationWarning
from lxml import etree  # type: ignore[import-untyped]

from sso.saml import IdpConfig, SigningKeyPair, SpConfig, generate_signing_pair, sp_metadata
from tests.conftest import require_program

# pysaml2 7.5 imports a cipher mode that cryptography 50 has moved (a deprecation warning at
# import); the suite turns warnings into errors, so only that one is silenced, only here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from saml2 import BINDING_HTTP_REDIRECT, xmldsig  # type: ignore[import-untyped]
    from saml2.config import IdPConfig  # type: ignore[import-untyped]
    from saml2.metadata import entity_descriptor  # type: ignore[import-untyped]
    from saml2.response import IncorrectlySigned  # type: ignore[import-untyped]
    from saml2.saml import NAME_FORMAT_URI, NameID  # type: ignore[import-untyped]
    from saml2.samlp import (  # type: ignore[import-untyped]
        STATUS_AUTHN_FAILED,
        STATUS_RESPONDER,
        Status,
        StatusCode,
    )
    from saml2.server import Server  # type: ignore[import-untyped]
    from saml2.sigver import (  # type: ignore[import-untyped]
        pre_signature_part,
        verify_redirect_signature,
    )

__all__ = [
    "ATTRIBUTES",
    "IDP_ENTITY_ID",
    "NAMEID_EMAIL",
    "InProcessIdp",
    "IncorrectlySigned",
    "ReceivedRequest",
    "encode",
    "key_pair",
    "tenant_sp",
]

IDP_ENTITY_ID = "https://idp.example.test/saml/metadata"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
ATTRIBUTES: Mapping[str, Sequence[str]] = {
    "urn:oid:0.9.2342.19200300.100.1.3": ["alice@example.com"],
    "urn:oid:2.5.4.42": ["Alice"],
    "urn:oid:1.3.6.1.4.1.5923.1.5.1.1": ["staff", "admins"],
}
"""mail, givenName and isMemberOf, named by URI as pysaml2 sends them with no converters."""

_NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
_RESPONSE = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
_ASSERTION = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
_ALGORITHMS = {
    False: (xmldsig.SIG_RSA_SHA256, xmldsig.DIGEST_SHA256),
    True: (xmldsig.SIG_RSA_SHA1, xmldsig.DIGEST_SHA1),
}


@functools.cache
def key_pair(name: str) -> SigningKeyPair:
    """A 2048-bit key pair named ``name``, made once per test process (RSA generation is slow)."""
    return generate_signing_pair(name, key_size=2048)


def tenant_sp(tenant: str, connection: int = 1) -> SpConfig:
    """The SP side of connection ``connection`` of tenant ``tenant`` (its own host and key)."""
    base = f"https://{tenant}.example.test/sso/saml/{connection}"
    key = key_pair(f"sp-{tenant}-{connection}")
    return SpConfig(
        sp_entity_id=f"{base}/metadata",
        acs_url=f"{base}/acs",
        sls_url=f"{base}/sls",
        sp_cert_pem=key.cert_pem,
        sp_key_pem=key.key_pem,
    )


def encode(xml: bytes) -> str:
    """The ``SAMLResponse`` form value of a response (HTTP-POST binding)."""
    return base64.b64encode(xml).decode("ascii")


def _instant(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ReceivedRequest:
    """A request the IdP received from an SP and verified (AuthnRequest or LogoutRequest)."""

    request_id: str
    issuer: str
    relay_state: str | None
    message: Any
    """pysaml2's parsed request."""


class InProcessIdp:
    """One identity provider that knows the SPs it was given (their metadata, their certs)."""

    def __init__(
        self,
        key: SigningKeyPair,
        sps: Sequence[SpConfig],
        *,
        entity_id: str = IDP_ENTITY_ID,
        base_url: str = "https://idp.example.test/saml",
    ) -> None:
        xmlsec1 = require_program("xmlsec1", "the pysaml2 test IdP signs with it")
        self.key = key
        self.entity_id = entity_id
        self.sso_url = f"{base_url}/sso"
        self.slo_url = f"{base_url}/slo"
        self._dir = tempfile.TemporaryDirectory(prefix="wl-saml-idp-")
        folder = Path(self._dir.name)
        (folder / "key.pem").write_text(key.key_pem)
        (folder / "cert.pem").write_text(key.cert_pem)
        self._folder = folder
        config = IdPConfig()
        config.load(
            {
                "entityid": entity_id,
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)],
                            "single_logout_service": [(self.slo_url, BINDING_HTTP_REDIRECT)],
                        },
                        "policy": {
                            "default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}
                        },
                        "want_authn_requests_signed": True,
                    }
                },
                "key_file": str(folder / "key.pem"),
                "cert_file": str(folder / "cert.pem"),
                "xmlsec_binary": xmlsec1,
                "metadata": {"inline": [sp_metadata(sp) for sp in sps]},
                "allow_unknown_attributes": True,
                "signing_algorithm": xmldsig.SIG_RSA_SHA256,
                "digest_algorithm": xmldsig.DIGEST_SHA256,
            }
        )
        self.config = config
        self.server = Server(config=config)

    def close(self) -> None:
        """Remove the key files."""
        self._dir.cleanup()

    def idp_config(self, *, want_assertions_signed: bool = True) -> IdpConfig:
        """The connection values an SP needs for this IdP."""
        return IdpConfig(
            entity_id=self.entity_id,
            sso_url=self.sso_url,
            slo_url=self.slo_url,
            signing_certs=(self.key.cert_pem,),
            want_assertions_signed=want_assertions_signed,
        )

    def metadata(self, *, extra_signing_certs: Sequence[str] = ()) -> bytes:
        """This IdP's metadata as pysaml2 writes it, plus more signing certificates if given."""
        root = etree.fromstring(str(entity_descriptor(self.config)).encode())
        idp = root.find("{urn:oasis:names:tc:SAML:2.0:metadata}IDPSSODescriptor")
        for pem in extra_signing_certs:
            body = "".join(pem.strip().splitlines()[1:-1])
            descriptor = etree.fromstring(
                '<md:KeyDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
                'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" use="signing"><ds:KeyInfo>'
                f"<ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data>"
                "</ds:KeyInfo></md:KeyDescriptor>"
            )
            idp.insert(0, descriptor)
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

    # -- sign-in ---------------------------------------------------------------------------

    def receive_authn_request(self, redirect_url: str) -> ReceivedRequest:
        """Parse and verify (signature, destination) an SP's HTTP-Redirect AuthnRequest."""
        query = _query(redirect_url)
        request = self.server.parse_authn_request(
            query["SAMLRequest"],
            BINDING_HTTP_REDIRECT,
            relay_state=query.get("RelayState"),
            sigalg=query.get("SigAlg"),
            signature=query.get("Signature"),
        )
        return ReceivedRequest(
            request.message.id, request.message.issuer.text, query.get("RelayState"), request
        )

    def response_xml(
        self,
        sp: SpConfig,
        *,
        in_response_to: str | None,
        name_id: str = "alice@example.com",
        name_id_format: str = NAMEID_EMAIL,
        attributes: Mapping[str, Sequence[str]] = ATTRIBUTES,
        audience: str | None = None,
        recipient: str | None = None,
        destination: str | None = None,
        issuer: str | None = None,
        not_before: datetime | None = None,
        not_on_or_after: datetime | None = None,
        sign_assertion: bool = True,
        sign_response: bool = False,
        signer: SigningKeyPair | None = None,
        sha1: bool = False,
    ) -> bytes:
        """A response to ``sp``, signed as asked.

        ``audience``, ``recipient`` and ``destination`` default to the SP's own values (an empty
        string removes the element or attribute); ``not_before``/``not_on_or_after`` set the
        Conditions and the bearer confirmation's NotOnOrAfter (default: now -/+ 5 minutes).
        """
        response = self.server.create_authn_response(
            {k: list(v) for k, v in attributes.items()},
            in_response_to,
            sp.acs_url,
            sp.sp_entity_id,
            name_id=NameID(format=name_id_format, text=name_id),
            authn={
                "class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            },
            sign_assertion=False,
            sign_response=False,
        )
        root = etree.fromstring(str(response).encode())
        now = datetime.now(UTC)
        _set(root, "Destination", sp.acs_url if destination is None else destination)
        assertion = root.find("saml:Assertion", _NS)
        conditions = assertion.find("saml:Conditions", _NS)
        _set(conditions, "NotBefore", _instant(not_before or now - timedelta(minutes=5)))
        end = _instant(not_on_or_after or now + timedelta(minutes=5))
        _set(conditions, "NotOnOrAfter", end)
        for data in assertion.iterfind(".//saml:SubjectConfirmationData", _NS):
            _set(data, "NotOnOrAfter", end)
            _set(data, "Recipient", sp.acs_url if recipient is None else recipient)
        if audience is not None:
            for node in conditions.iterfind("saml:AudienceRestriction", _NS):
                if audience:
                    node.find("saml:Audience", _NS).text = audience
                else:
                    conditions.remove(node)
        if issuer is not None:
            for node in (root.find("saml:Issuer", _NS), assertion.find("saml:Issuer", _NS)):
                node.text = issuer
        xml = bytes(etree.tostring(root))
        if sign_assertion:
            xml = self.sign(xml, element="assertion", signer=signer, sha1=sha1)
        if sign_response:
            xml = self.sign(xml, element="response", signer=signer, sha1=sha1)
        return xml

    def error_response(self, sp: SpConfig, *, in_response_to: str | None) -> str:
        """An unsigned ``Responder/AuthnFailed`` response (a refused sign-in), form-encoded."""
        response = self.server.create_error_response(
            in_response_to, sp.acs_url, (STATUS_AUTHN_FAILED, "wrong password"), sign=False
        )
        return encode(str(response).encode())

    def issue(self, sp: SpConfig, **options: Any) -> str:
        """:meth:`response_xml`, as the ``SAMLResponse`` form value."""
        return encode(self.response_xml(sp, **options))

    def sign(
        self,
        xml: bytes,
        *,
        element: str,
        signer: SigningKeyPair | None = None,
        sha1: bool = False,
    ) -> bytes:
        """Sign the response or its assertion in place (an existing signature is replaced)."""
        pair = signer or self.key
        root = etree.fromstring(xml)
        target = root if element == "response" else root.find("saml:Assertion", _NS)
        for old in target.findall("ds:Signature", _NS):
            target.remove(old)
        sign_alg, digest_alg = _ALGORITHMS[sha1]
        body = "".join(pair.cert_pem.strip().splitlines()[1:-1])
        template = pre_signature_part(
            target.get("ID"), public_key=body, sign_alg=sign_alg, digest_alg=digest_alg
        )
        target.insert(1, etree.fromstring(template.to_string()))
        key_file = self._folder / "signer.pem"
        key_file.write_text(pair.key_pem)
        signed = self.server.sec.sign_statement(
            etree.tostring(root).decode(),
            _RESPONSE if element == "response" else _ASSERTION,
            key_file=str(key_file),
            node_id=target.get("ID"),
        )
        return str(signed).encode() if not isinstance(signed, bytes) else signed

    # -- single logout ---------------------------------------------------------------------

    def receive_logout_request(self, redirect_url: str) -> ReceivedRequest:
        """Parse and verify an SP's signed HTTP-Redirect LogoutRequest."""
        query = _query(redirect_url)
        request = self.server.parse_logout_request(
            query["SAMLRequest"],
            BINDING_HTTP_REDIRECT,
            relay_state=query.get("RelayState"),
            sigalg=query.get("SigAlg"),
            signature=query.get("Signature"),
        )
        return ReceivedRequest(
            request.message.id, request.message.issuer.text, query.get("RelayState"), request
        )

    def receive_logout_response(self, redirect_url: str, sp: SpConfig) -> Any:
        """Verify an SP's signed HTTP-Redirect LogoutResponse (with ``sp``'s certificate) and
        parse it; raises ``AssertionError`` when the signature does not verify."""
        query = _query(redirect_url)
        body = "".join(sp.sp_cert_pem.strip().splitlines()[1:-1])
        if not verify_redirect_signature(query, self.server.sec.sec_backend, cert=body):
            raise AssertionError("the LogoutResponse signature does not verify")
        return self.server.parse_logout_request_response(
            query["SAMLResponse"], BINDING_HTTP_REDIRECT
        )

    def logout_response_url(
        self, sp: SpConfig, request: ReceivedRequest, *, success: bool = True
    ) -> str:
        """The HTTP-Redirect URL of this IdP's signed LogoutResponse to ``request``."""
        status = None
        if not success:
            status = Status(status_code=StatusCode(value=STATUS_RESPONDER))
        response = self.server.create_logout_response(
            request.message.message, [BINDING_HTTP_REDIRECT], status=status, sign=False
        )
        return self._redirect(sp.sls_url, str(response), request.relay_state, response=True)

    def logout_request_url(
        self,
        sp: SpConfig,
        *,
        name_id: str = "alice@example.com",
        session_index: str | None = None,
        relay_state: str = "idp-logout",
        sha1: bool = False,
        destination: str | None = None,
        expires_in: timedelta = timedelta(minutes=5),
    ) -> tuple[str, str]:
        """``(url, request_id)`` of an IdP-initiated, signed HTTP-Redirect LogoutRequest."""
        request_id, request = self.server.create_logout_request(
            destination or sp.sls_url,
            sp.sp_entity_id,
            name_id=NameID(format=NAMEID_EMAIL, text=name_id),
            session_indexes=[session_index] if session_index else None,
            expire=_instant(datetime.now(UTC) + expires_in),
            sign=False,
        )
        url = self._redirect(
            destination or sp.sls_url, str(request), relay_state, response=False, sha1=sha1
        )
        return url, str(request_id)

    def _redirect(
        self, to: str, message: str, relay_state: str | None, *, response: bool, sha1: bool = False
    ) -> str:
        info = self.server.apply_binding(
            BINDING_HTTP_REDIRECT,
            message,
            destination=to,
            relay_state=relay_state or "",
            response=response,
            sign=True,
            sigalg=_ALGORITHMS[sha1][0],
        )
        return str(dict(info["headers"])["Location"])


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def _set(node: Any, name: str, value: str) -> None:
    if value:
        node.set(name, value)
    elif name in node.attrib:
        del node.attrib[name]
