"""A SAML connection read for one request: its SP and IdP values, messages peeked at before
validation, and the few rows the routes touch (tenant scope: the ``db`` given).

**Configuration.** :func:`load_sp` builds the :class:`~sso.saml.SpConfig` from
``SsoConnection.config`` (written by the admin service, ``sso.saml.service``) and the
connection's SP keys: the ``current`` key signs (its private key unsealed only in memory, with
the context ``sp_key:<key id>`` of this tenant and connection), a ``next`` key's certificate is
published beside it during a rollover. :func:`load_idp` reads the IdP values (``config["idp"]``)
and refuses a connection whose IdP is not configured yet. Both refuse a malformed ``config``
with an :class:`~sso.errors.SsoRejected` that names the field, never a value.

Nothing is cached across requests: :mod:`sso.saml` builds python3-saml's settings from these
plain values itself (about 1.2 ms, a tenth of validating a signed response, measured on a
2-core CI machine), and reading them per request means an edited connection or a key rollover
is never served stale and no unsealed key outlives its request.

**Peeking.** The ACS must find the flow a response answers before validating it (the flow holds
the request ID to expect). :func:`peek_in_response_to` reads ``InResponseTo`` from the root of a
response that passed :func:`~sso.saml.decode_saml_message` and :func:`~sso.saml.prescan`;
nothing else of an unvalidated message is read. :func:`peek_logout_response` does the same for
a LogoutResponse on the SLS.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from lxml import etree  # type: ignore[import-untyped]
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sso.errors import SsoRejected
from sso.models import SsoConnection, SsoIdentity, SsoSpKey
from sso.saml import IdpConfig, SpConfig, decode_saml_message, prescan
from sso.saml.prescan import safe_parser
from sso.secrets import SecretBox, SecretUnreadable, secret_context
from whitelabel.accounts.models import Session
from whitelabel.db.base import utcnow
from whitelabel.settings import Settings

__all__ = [
    "NAMEID_EMAIL",
    "end_user_sessions",
    "identity_of_subject",
    "identity_of_user",
    "load_idp",
    "load_sp",
    "logout_handle",
    "peek_in_response_to",
    "peek_logout_response",
    "remember_session_facts",
    "saml_box",
    "want_assertions_signed",
]

#: The NameID format whose value is the person's email address.
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
_LOGOUT_PREFIX = "slo:"
_MAX_FACT = 256  # SsoIdentity.name_id_format / session_index


@functools.lru_cache(maxsize=8)
def saml_box(settings: Settings) -> SecretBox:
    """The secret box of ``settings`` (made once per process and settings; it holds only keys
    derived from ``WHITELABEL_SECRET_KEY``).

    Raises:
        SettingsError: ``WHITELABEL_SECRET_KEY`` is not set.
    """
    return SecretBox(settings)


def _misconfigured(name: str) -> SsoRejected:
    return SsoRejected(
        "saml_connection_misconfigured",
        f"The connection's {name} setting is missing or malformed; an admin must correct it.",
        {"field": name},
    )


def _text(config: Mapping[str, Any], name: str, *, field: str | None = None) -> str:
    value = config.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _misconfigured(field or name)
    return value


def _config(connection: SsoConnection) -> Mapping[str, Any]:
    return connection.config if isinstance(connection.config, dict) else {}


def want_assertions_signed(connection: SsoConnection) -> bool:
    """Whether the connection requires a signed assertion (the default), not only a signed
    response envelope.

    Raises:
        SsoRejected: ``saml_connection_misconfigured`` when the setting is not a boolean.
    """
    value = _config(connection).get("want_assertions_signed", True)
    if not isinstance(value, bool):
        raise _misconfigured("want_assertions_signed")
    return value


async def load_sp(
    db: AsyncSession, connection: SsoConnection, tenant_id: uuid.UUID, box: SecretBox
) -> SpConfig:
    """The connection's SP side: its URLs, the current key (unsealed) and the next certificate.

    Raises:
        SsoRejected: ``saml_connection_misconfigured`` (a URL missing from ``config``, or no
            current SP key), ``sso_secret_unreadable`` (the key does not open with this
            server's secret keys).
    """
    config = _config(connection)
    rows = await db.scalars(
        select(SsoSpKey).where(
            SsoSpKey.connection_id == connection.id, SsoSpKey.state.in_(("current", "next"))
        )
    )
    keys = {key.state: key for key in rows}
    current = keys.get("current")
    if current is None:
        raise _misconfigured("sp_key")
    context = secret_context(tenant_id, connection.id, f"sp_key:{current.id}")
    try:
        private = box.open(current.private_key, context=context)
    except SecretUnreadable as exc:
        raise SsoRejected(
            "sso_secret_unreadable",
            "The stored SP signing key cannot be decrypted (was WHITELABEL_SECRET_KEY changed "
            "without keeping the old key in WHITELABEL_PREVIOUS_SECRET_KEYS?).",
            {"field": "sp_key"},
        ) from exc
    following = keys.get("next")
    return SpConfig(
        sp_entity_id=_text(config, "sp_entity_id"),
        acs_url=_text(config, "acs_url"),
        sls_url=_text(config, "sls_url"),
        sp_cert_pem=current.cert_pem,
        sp_key_pem=private,
        sp_next_cert_pem=following.cert_pem if following is not None else None,
    )


def load_idp(connection: SsoConnection) -> IdpConfig:
    """The connection's identity provider, from the values its metadata gave.

    Raises:
        SsoRejected: ``saml_idp_not_configured`` (no IdP metadata yet),
            ``saml_connection_misconfigured`` (a malformed value; ``detail["field"]`` names it).
    """
    config = _config(connection)
    idp = config.get("idp")
    if not idp:
        raise SsoRejected(
            "saml_idp_not_configured",
            "This connection has no identity provider yet; an admin must add its metadata.",
        )
    if not isinstance(idp, dict):
        raise _misconfigured("idp")
    slo_url = idp.get("slo_url")
    if slo_url is not None and not isinstance(slo_url, str):
        raise _misconfigured("idp.slo_url")
    certs = idp.get("certs")
    if not isinstance(certs, list) or not certs:
        raise _misconfigured("idp.certs")
    pems: list[str] = []
    for cert in certs:
        if not isinstance(cert, dict):
            raise _misconfigured("idp.certs")
        pems.append(_text(cert, "pem", field="idp.certs"))
    return IdpConfig(
        entity_id=_text(idp, "entity_id", field="idp.entity_id"),
        sso_url=_text(idp, "sso_url", field="idp.sso_url"),
        slo_url=slo_url or None,
        signing_certs=tuple(pems),
        want_assertions_signed=want_assertions_signed(connection),
    )


def _root(xml: bytes) -> etree._Element:
    # prescan parsed these same bytes a moment ago, with the same parser: this cannot fail.
    return etree.fromstring(xml, safe_parser())


def peek_in_response_to(saml_response_b64: str) -> str | None:
    """The ``InResponseTo`` of a posted response, after its decoding and pre-scan.

    Only the root's attribute is read (the flow to take is looked up by it); it is trusted
    for nothing: :func:`~sso.saml.validate_response` then checks that it, and the bearer
    confirmation's, equal the flow's request ID. An empty value counts as absent.

    Raises:
        SsoRejected: the codes of :func:`~sso.saml.decode_saml_message` and
            :func:`~sso.saml.prescan` (``saml_too_large``, ``saml_malformed``,
            ``saml_dtd_refused``, ``saml_signature_wrapping``, ...).
    """
    xml = decode_saml_message(saml_response_b64, redirect_binding=False)
    prescan(xml, expected_root="Response")
    value: str | None = _root(xml).get("InResponseTo")
    return value or None


def peek_logout_response(query_string: str) -> str | None:
    """The ``InResponseTo`` of the LogoutResponse in an SLS query, or None when the query
    carries no ``SAMLResponse`` (an IdP's LogoutRequest, or nothing).

    Raises:
        SsoRejected: ``saml_malformed`` (a repeated parameter, or a LogoutResponse answering
            nothing), and the decoding and pre-scan codes.
    """
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, max_num_fields=16)
    except ValueError:
        raise SsoRejected("saml_malformed", "The logout query has too many parameters.") from None
    values = [value for name, value in pairs if name == "SAMLResponse"]
    if not values:
        return None
    if len(values) > 1:
        raise SsoRejected("saml_malformed", "The parameter SAMLResponse is repeated.")
    xml = decode_saml_message(values[0], redirect_binding=True)
    prescan(xml, expected_root="LogoutResponse")
    value: str | None = _root(xml).get("InResponseTo")
    if not value:
        raise SsoRejected(
            "saml_malformed", "The logout response does not say which request it answers."
        )
    return value


def logout_handle(request_id: str) -> str:
    """The flow handle of an SP-initiated logout (``SsoFlow.handle``): prefixed, so that no
    response to a sign-in can take a logout's flow, nor the other way round."""
    return f"{_LOGOUT_PREFIX}{request_id}"


def _fact(value: str | None) -> str | None:
    # A value too long for its column cannot be sent back in a LogoutRequest anyway.
    return value if value is not None and len(value) <= _MAX_FACT else None


async def remember_session_facts(
    db: AsyncSession,
    *,
    connection_id: uuid.UUID,
    subject: str,
    name_id_format: str | None,
    session_index: str | None,
) -> None:
    """Keep the NameID format and the IdP session index of the identity's last sign-in, for
    Single Logout (committed with ``db``)."""
    await db.execute(
        update(SsoIdentity)
        .where(SsoIdentity.connection_id == connection_id, SsoIdentity.subject == subject)
        .values(name_id_format=_fact(name_id_format), session_index=_fact(session_index))
    )


async def identity_of_user(
    db: AsyncSession, connection_id: uuid.UUID, user_id: uuid.UUID
) -> SsoIdentity | None:
    """The identity through which ``user_id`` signs in with this connection (the one signed
    in with most recently when several are linked), or None."""
    found: SsoIdentity | None = await db.scalar(
        select(SsoIdentity)
        .where(SsoIdentity.connection_id == connection_id, SsoIdentity.user_id == user_id)
        .order_by(SsoIdentity.last_login_at.desc().nulls_last())
        .limit(1)
    )
    return found


async def identity_of_subject(
    db: AsyncSession, connection_id: uuid.UUID, subject: str
) -> SsoIdentity | None:
    """The identity (connection, NameID), or None."""
    found: SsoIdentity | None = await db.scalar(
        select(SsoIdentity).where(
            SsoIdentity.connection_id == connection_id, SsoIdentity.subject == subject
        )
    )
    return found


async def end_user_sessions(db: AsyncSession, user_id: uuid.UUID) -> int:
    """Revoke every live session of ``user_id`` (committed with ``db``); answers how many.

    An IdP's LogoutRequest names a person, not one of our sessions: the sessions its sign-ins
    started cannot be told apart from the user's others, so all of them end.
    """
    result = await db.execute(
        update(Session)
        .where(Session.user_id == user_id, Session.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(Session.id)
    )
    return len(result.all())
