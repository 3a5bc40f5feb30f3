"""SSO connection rows for tests, written straight into a tenant's schema.

The admin service (``sso.service``) is tested on its own; route tests need a connection in a
known state without going through it, with its secrets sealed exactly as the service seals
them (``sso.secrets``, bound to tenant, connection and field). One section per protocol.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select

from sso.models import SsoConnection, SsoFailure, SsoSpKey
from sso.saml import IdpConfig, SigningKeyPair, SpConfig, certificate_info
from sso.secrets import SecretBox, secret_context
from tenants.schemas import TenantView
from tests.sso_support.oidc_provider import PeerClient
from tests.sso_support.saml_idp import InProcessIdp, key_pair
from whitelabel.db.base import utcnow
from whitelabel.runtime import Runtime

__all__ = [
    "SamlSite",
    "add_oidc_connection",
    "add_saml_connection",
    "add_saml_site",
    "change_connection",
    "failures_of",
    "oidc_redirect_uri",
    "saml_idp_values",
    "saml_sp",
]


# --- OpenID Connect ----------------------------------------------------------------------------


def oidc_redirect_uri(server_url: str, host: str, connection_id: uuid.UUID) -> str:
    """The redirect URI of a connection on ``host`` of the server at ``server_url`` (its port):
    what the admin service stores and what the provider's client must list."""
    port = server_url.rsplit(":", 1)[1]
    return f"http://{host}:{port}/sso/oidc/{connection_id}/callback"


def add_oidc_connection(
    runtime: Runtime,
    tenant: TenantView,
    *,
    connection_id: uuid.UUID,
    issuer: str,
    client: PeerClient,
    name: str = "Test OpenID Provider",
    enabled: bool = True,
    jit: bool = True,
    email_domains: Sequence[str] = ("example.test",),
    default_role: str = "member",
    attribute_mapping: Mapping[str, str] | None = None,
    scopes: Sequence[str] = ("openid", "email", "profile"),
    preset: str | None = None,
    fetch_userinfo: bool = False,
    required_claims: Mapping[str, str] | None = None,
) -> uuid.UUID:
    """Store an OIDC connection of ``tenant`` for ``client`` at ``issuer``, the client secret
    sealed (an empty secret stores NULL: a public client). Returns its id."""
    secret = None
    if client.client_secret:
        context = secret_context(tenant.id, connection_id, "client_secret")
        secret = SecretBox(runtime.settings).seal(client.client_secret, context=context)
    connection = SsoConnection(
        id=connection_id,
        type="oidc",
        name=name,
        enabled=enabled,
        jit=jit,
        email_domains=list(email_domains),
        default_role=default_role,
        attribute_mapping=dict(attribute_mapping or {}),
        allow_idp_initiated=False,
        enforce_sso=False,
        config={
            "redirect_uri": client.redirect_uri,
            "issuer": issuer,
            "client_id": client.client_id,
            "scopes": list(scopes),
            "preset": preset,
            "fetch_userinfo": fetch_userinfo,
            "required_claims": dict(required_claims or {}),
        },
        client_secret=secret,
        config_version=1,
    )
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        session.add(connection)
        session.commit()
    return connection_id


def change_connection(
    runtime: Runtime, tenant: TenantView, connection_id: uuid.UUID, **changes: Any
) -> None:
    """Set columns of a connection (any protocol) and bump ``config_version``, as an edit does."""
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        connection = session.get(SsoConnection, connection_id)
        if connection is None:
            raise LookupError(f"no connection {connection_id} in {tenant.slug}")
        for name, value in changes.items():
            setattr(connection, name, value)
        connection.config_version += 1
        connection.updated_at = utcnow()
        session.commit()


# --- SAML --------------------------------------------------------------------------------------

_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


def saml_sp(
    server_url: str,
    host: str,
    connection_id: uuid.UUID,
    key: SigningKeyPair,
    *,
    next_key: SigningKeyPair | None = None,
) -> SpConfig:
    """The SP side of a SAML connection created on ``host`` of the server at ``server_url`` (its
    port): the URLs the admin service stores (``/sso/saml/<id>/metadata|acs|sls``), signing with
    ``key`` (and publishing ``next_key``'s certificate during a rollover)."""
    port = server_url.rsplit(":", 1)[1]
    base = f"http://{host}:{port}/sso/saml/{connection_id}"
    return SpConfig(
        sp_entity_id=f"{base}/metadata",
        acs_url=f"{base}/acs",
        sls_url=f"{base}/sls",
        sp_cert_pem=key.cert_pem,
        sp_key_pem=key.key_pem,
        sp_next_cert_pem=next_key.cert_pem if next_key is not None else None,
    )


def saml_idp_values(idp: IdpConfig) -> dict[str, Any]:
    """``config["idp"]`` of a connection trusting ``idp``, as the admin service writes it."""
    return {
        "entity_id": idp.entity_id,
        "sso_url": idp.sso_url,
        "sso_binding": _HTTP_REDIRECT,
        "slo_url": idp.slo_url,
        "certs": [
            {"pem": pem, "not_after": certificate_info(pem).not_after.isoformat()}
            for pem in idp.signing_certs
        ],
    }


def add_saml_connection(
    runtime: Runtime,
    tenant: TenantView,
    *,
    connection_id: uuid.UUID,
    sp: SpConfig,
    idp: IdpConfig | None,
    next_key: SigningKeyPair | None = None,
    name: str = "Test SAML IdP",
    enabled: bool = True,
    jit: bool = True,
    email_domains: Sequence[str] = ("example.com",),
    default_role: str = "member",
    attribute_mapping: Mapping[str, str] | None = None,
    allow_idp_initiated: bool = False,
    want_assertions_signed: bool | None = None,
) -> uuid.UUID:
    """Store a SAML connection of ``tenant`` with ``sp``'s URLs, its key as the ``current`` SP
    key (and ``next_key`` as the ``next`` one), private keys sealed as the admin service seals
    them, trusting ``idp`` (None: not configured yet). Returns its id."""
    config: dict[str, Any] = {
        "sp_entity_id": sp.sp_entity_id,
        "metadata_url": sp.sp_entity_id,
        "acs_url": sp.acs_url,
        "sls_url": sp.sls_url,
        "idp": saml_idp_values(idp) if idp is not None else None,
        "idp_metadata_url": None,
    }
    if want_assertions_signed is not None:
        config["want_assertions_signed"] = want_assertions_signed
    connection = SsoConnection(
        id=connection_id,
        type="saml",
        name=name,
        enabled=enabled,
        jit=jit,
        email_domains=list(email_domains),
        default_role=default_role,
        attribute_mapping=dict(attribute_mapping or {}),
        allow_idp_initiated=allow_idp_initiated,
        enforce_sso=False,
        config=config,
        config_version=1,
    )
    box = SecretBox(runtime.settings)
    pairs = [("current", sp.sp_cert_pem, sp.sp_key_pem)]
    if next_key is not None:
        pairs.append(("next", next_key.cert_pem, next_key.key_pem))
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        session.add(connection)
        session.flush()
        for state, cert_pem, key_pem in pairs:
            key_id = uuid.uuid4()
            context = secret_context(tenant.id, connection_id, f"sp_key:{key_id}")
            session.add(
                SsoSpKey(
                    id=key_id,
                    connection_id=connection_id,
                    state=state,
                    cert_pem=cert_pem,
                    private_key=box.seal(key_pem, context=context),
                    not_after=certificate_info(cert_pem).not_after,
                )
            )
        session.commit()
    return connection_id


@dataclass(frozen=True)
class SamlSite:
    """A tenant's SAML connection on the live server and the in-process IdP it trusts."""

    tenant: TenantView
    connection_id: uuid.UUID
    sp: SpConfig
    idp: InProcessIdp

    def path(self, endpoint: str) -> str:
        """The local path of one of the connection's routes (``login``, ``acs``, ...)."""
        return f"/sso/saml/{self.connection_id}/{endpoint}"


def add_saml_site(
    runtime: Runtime,
    server_url: str,
    tenant: TenantView,
    label: str,
    *,
    idp_slo: bool = True,
    also_serves: Sequence[SpConfig] = (),
    **options: Any,
) -> SamlSite:
    """A SAML connection of ``tenant`` (``options`` as :func:`add_saml_connection` takes them)
    and its own pysaml2 IdP (entity ``https://idp-<label>.example.test/...``, its own key), each
    trusting the other; the IdP also knows the SPs ``also_serves`` (another connection trusting
    it). ``idp_slo=False``: the connection knows no SLO address of the IdP. Close ``site.idp``
    after the test."""
    connection_id = uuid.uuid4()
    sp = saml_sp(server_url, tenant.primary_host or "", connection_id, key_pair(f"sp-{label}"))
    idp = InProcessIdp(
        key_pair(f"idp-{label}"),
        [sp, *also_serves],
        entity_id=f"https://idp-{label}.example.test/saml/metadata",
        base_url=f"https://idp-{label}.example.test/saml",
    )
    config = idp.idp_config()
    if not idp_slo:
        config = replace(config, slo_url=None)
    add_saml_connection(runtime, tenant, connection_id=connection_id, sp=sp, idp=config, **options)
    return SamlSite(tenant, connection_id, sp, idp)


def failures_of(runtime: Runtime, tenant: TenantView, connection_id: uuid.UUID) -> list[SsoFailure]:
    """The failure log of a connection (any protocol), oldest first."""
    with runtime.db.tenant_sync_session(tenant.context()) as session:
        rows = session.scalars(
            select(SsoFailure)
            .where(SsoFailure.connection_id == connection_id)
            .order_by(SsoFailure.at)
        )
        return list(rows)
