"""From a validated external identity to a user of the tenant: find, link or create (JIT).

An identity is (connection, subject): the IdP's stable name for a person (SAML NameID, OIDC
``sub``). At a sign-in through a connection:

1. a known identity signs its user in (the user must be active); the mapped attributes update
   the display name and the profile fields;
2. an unknown identity needs an email that is **verified** and whose domain is one of the
   connection's ``email_domains``; then it is linked to the tenant's user with that email, or,
   when there is none and JIT is on, a user is created with the connection's default role.

An email the IdP did not verify never links to anyone (the "nOAuth" takeover: an attacker sets
the victim's address on an account at a multi-tenant IdP). For SAML the IdP is authoritative for
the domains the admin gave the connection, so its email is taken as verified; for OIDC only an
``email_verified`` claim of ``true`` counts. Every outcome is audited; refusals raise
:class:`~sso.errors.SsoRejected` with a code the failure log and the test page show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sso.errors import SsoRejected
from sso.models import SsoConnection, SsoIdentity
from whitelabel.accounts.errors import EmailTaken, InvalidEmail
from whitelabel.accounts.models import User
from whitelabel.accounts.service import Client, add_user, normalise_email
from whitelabel.db.base import utcnow
from whitelabel.tenant_data import record_event

__all__ = [
    "DEFAULT_MAPPING",
    "ExternalIdentity",
    "MappedProfile",
    "map_attributes",
    "sign_in_identity",
]

#: Where the standard fields come from when the connection's mapping does not say: the first
#: attribute or claim present wins (SAML friendly names, their OIDs and URIs; OIDC claims).
DEFAULT_MAPPING: Mapping[str, tuple[str, ...]] = {
    "email": (
        "email",
        "mail",
        "urn:oid:0.9.2342.19200300.100.1.3",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    ),
    "display_name": (
        "name",
        "displayName",
        "urn:oid:2.16.840.1.113730.3.1.241",
        "http://schemas.microsoft.com/identity/claims/displayname",
        "cn",
        "urn:oid:2.5.4.3",
    ),
}
_MAX_PROFILE_VALUE = 200
_MAX_PROFILE_FIELDS = 20


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """A person as a validated SAML assertion or OIDC ID token describes them.

    ``attributes`` holds every attribute or claim as a list of strings; ``email`` is the one the
    protocol layer found (SAML: NameID in email format or a mapped attribute; OIDC: ``email``).
    """

    subject: str
    email: str | None
    email_verified: bool
    attributes: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MappedProfile:
    """What the connection's mapping makes of an identity's attributes."""

    email: str | None
    display_name: str | None
    fields: dict[str, str]


def _first(attributes: Mapping[str, Sequence[str]], names: Sequence[str]) -> str | None:
    for name in names:
        for value in attributes.get(name, ()):
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def map_attributes(connection: SsoConnection, identity: ExternalIdentity) -> MappedProfile:
    """Apply the connection's attribute mapping (field -> attribute name) over the defaults.

    Profile fields are the mapping's keys other than ``email`` and ``display_name``; values are
    trimmed and cut to 200 characters, at most 20 fields.
    """
    mapping: dict[str, Any] = dict(connection.attribute_mapping or {})

    def names(field_name: str) -> tuple[str, ...]:
        chosen = mapping.get(field_name)
        own = (chosen,) if isinstance(chosen, str) and chosen else ()
        return own + DEFAULT_MAPPING.get(field_name, ())

    email = identity.email or _first(identity.attributes, names("email"))
    display = _first(identity.attributes, names("display_name"))
    fields: dict[str, str] = {}
    for key, source in sorted(mapping.items()):
        if key in ("email", "display_name") or not isinstance(source, str):
            continue
        value = _first(identity.attributes, (source,))
        if value is not None and len(fields) < _MAX_PROFILE_FIELDS:
            fields[key] = value[:_MAX_PROFILE_VALUE]
    return MappedProfile(email=email, display_name=display, fields=fields)


def _display_name(raw: str | None, email: str) -> str:
    name = " ".join((raw or "").split())[:100]
    if name and all(ch.isprintable() for ch in name):
        return name
    return email.split("@", 1)[0][:100]


def _allowed_email(connection: SsoConnection, raw: str | None) -> str:
    if not raw:
        raise SsoRejected(
            "sso_no_email",
            "The identity provider sent no email address; map one in the connection's "
            "attribute mapping.",
        )
    try:
        email = normalise_email(raw)
    except InvalidEmail as exc:
        raise SsoRejected(
            "sso_email_invalid", "The identity provider sent an email address we cannot use."
        ) from exc
    domain = email.rsplit("@", 1)[1]
    if domain not in set(connection.email_domains or ()):
        raise SsoRejected(
            "sso_domain_not_allowed",
            f"The email domain {domain} is not one of this connection's domains.",
            {"domain": domain},
        )
    return email


async def sign_in_identity(
    db: AsyncSession,
    connection: SsoConnection,
    identity: ExternalIdentity,
    *,
    client: Client,
) -> User:
    """The user ``identity`` signs in as, found, linked or created (committed with ``db``).

    The caller starts the session. Nothing is written when this raises (but the caller's
    failure record).

    Raises:
        SsoRejected: ``sso_account_disabled``, ``sso_no_email``, ``sso_email_invalid``,
            ``sso_domain_not_allowed``, ``sso_email_unverified``, ``sso_no_account`` (JIT off).
    """
    mapped = map_attributes(connection, identity)
    found = await db.execute(
        select(SsoIdentity, User)
        .join(User, User.id == SsoIdentity.user_id)
        .where(SsoIdentity.connection_id == connection.id, SsoIdentity.subject == identity.subject)
    )
    row = found.first()
    detail = {"connection": str(connection.id), "method": connection.type}
    if row is not None:
        link, user = row[0], row[1]
    else:
        email = _allowed_email(connection, mapped.email)
        if not identity.email_verified:
            raise SsoRejected(
                "sso_email_unverified",
                "The identity provider has not verified this email address, so it cannot be "
                "linked to an account.",
            )
        existing = await db.scalar(select(User).where(User.email == email))
        if existing is not None:
            user = existing
        else:
            if not connection.jit:
                raise SsoRejected(
                    "sso_no_account",
                    "There is no account for this email address here, and this connection does "
                    "not create accounts (JIT is off); ask an admin for an invitation.",
                )
            try:
                async with db.begin_nested():  # a savepoint: a lost race leaves the rest intact
                    user = await add_user(
                        db,
                        email=email,
                        display_name=_display_name(mapped.display_name, email),
                        password_hash=None,
                        role=connection.default_role,
                        email_verified=True,
                    )
            except EmailTaken:  # a concurrent first sign-in won: link to that user
                winner = await db.scalar(select(User).where(User.email == email))
                if winner is None:
                    raise
                user = winner
            else:
                record_event(
                    db, "user.created_by_sso", actor=f"sso:{connection.id}", target=email,
                    ip=client.ip, detail={**detail, "role": user.role},
                )  # fmt: skip
        link = SsoIdentity(connection_id=connection.id, subject=identity.subject, user_id=user.id)
        db.add(link)
        record_event(
            db, "sso.identity_linked", actor=str(user.id), target=user.email, ip=client.ip,
            detail={**detail, "subject": identity.subject[:200]},
        )  # fmt: skip
    if user.status != "active":
        raise SsoRejected("sso_account_disabled", "This account is disabled.")
    now = utcnow()
    if mapped.display_name:
        user.display_name = _display_name(mapped.display_name, user.email)
    if mapped.fields:
        user.profile = {**(user.profile or {}), **mapped.fields}
    link.profile = mapped.fields
    link.last_login_at = now
    user.last_login_at = now
    return user
