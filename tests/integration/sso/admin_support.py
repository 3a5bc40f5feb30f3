"""What the SSO admin, CLI and enforce-SSO tests share: IdP metadata documents built from real
key pairs, a loopback HTTP server that serves them, and reading a tenant's SSO rows."""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select

from sso.models import SsoConnection, SsoSpKey
from sso.saml import SigningKeyPair, generate_signing_pair
from tenants.schemas import TenantView
from whitelabel.runtime import Runtime
from whitelabel.tenant_data import AuditEvent

__all__ = [
    "DocumentServer",
    "audit_rows",
    "connection_row",
    "document_server",
    "idp_key",
    "idp_metadata",
    "sp_keys",
]

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"


@functools.cache
def idp_key(name: str, *, days: int = 3650) -> SigningKeyPair:
    """A 2048-bit IdP key pair named ``name`` valid ``days`` from now (made once per process)."""
    return generate_signing_pair(name, key_size=2048, validity=timedelta(days=days))


def _key_descriptor(pem: str) -> str:
    body = "".join(pem.strip().splitlines()[1:-1])
    return (
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="{DS}"><ds:X509Data>'
        f"<ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
        "</md:KeyDescriptor>"
    )


def idp_metadata(
    entity_id: str = "https://idp.example.test/saml", *, certs: tuple[str, ...] = ()
) -> str:
    """An IdP's metadata: HTTP-Redirect SSO and SLO, signing ``certs`` (default: ``idp``'s)."""
    keys = "".join(_key_descriptor(pem) for pem in certs or (idp_key("idp").cert_pem,))
    return (
        f'<?xml version="1.0"?><md:EntityDescriptor xmlns:md="{MD}" entityID="{entity_id}">'
        f'<md:IDPSSODescriptor protocolSupportEnumeration="{PROTOCOL}">{keys}'
        f'<md:SingleLogoutService Binding="{REDIRECT}" Location="{entity_id}/slo"/>'
        f'<md:SingleSignOnService Binding="{REDIRECT}" Location="{entity_id}/sso"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


class DocumentServer:
    """A plain-http server on 127.0.0.1 serving ``documents[path]`` (404 otherwise)."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        self.hits: list[str] = []
        documents, hits = self.documents, self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body = documents.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@contextmanager
def document_server() -> Iterator[DocumentServer]:
    """A running :class:`DocumentServer`, shut down on exit."""
    server = DocumentServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)


def connection_row(runtime: Runtime, tenant: TenantView, connection_id: str) -> Any:
    """The connection's row as stored (``None`` when it is not in ``tenant``'s schema)."""
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        return session.get(SsoConnection, uuid.UUID(connection_id))


def sp_keys(runtime: Runtime, tenant: TenantView) -> list[SsoSpKey]:
    """Every SP key row of ``tenant``, oldest first."""
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        return list(session.scalars(select(SsoSpKey).order_by(SsoSpKey.created_at)))


def audit_rows(runtime: Runtime, tenant: TenantView) -> list[tuple[str, str, Any]]:
    """(action, actor, detail) of every audit event of ``tenant`` whose action starts with
    ``sso.`` or ``user.login``, oldest first."""
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.actor, AuditEvent.detail).order_by(
                AuditEvent.at, AuditEvent.id
            )
        ).all()
    return [
        (r.action, r.actor, r.detail) for r in rows if r.action.startswith(("sso.", "user.login"))
    ]
