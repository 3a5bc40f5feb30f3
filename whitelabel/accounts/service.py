"""Users and sessions of the request's tenant: sign-up, sign-in, sign-out, session lookup.

Every function takes a tenant-bound ``AsyncSession`` (the handler's ``db_session``) and touches
only that tenant's schema. State changes write their audit record (``record_event``) in the same
transaction. Session tokens are 32 random bytes; only their SHA-256 is stored.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts.errors import (
    AccountDisabled,
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    PasswordLoginDisabled,
    SignupDisabled,
)
from whitelabel.accounts.models import Session, User
from whitelabel.accounts.passwords import check_password_policy, hash_password, verify_password
from whitelabel.accounts.settings_service import get_auth_settings
from whitelabel.accounts.tokens_hash import token_id
from whitelabel.db.base import utcnow
from whitelabel.errors import ClientError, ValidationFailed
from whitelabel.tenant_data import record_event

__all__ = [
    "ABSOLUTE_LIFETIME",
    "IDLE_LIFETIME",
    "Client",
    "PasswordSignInPolicy",
    "add_user",
    "authenticate",
    "check_display_name",
    "log_in",
    "log_out",
    "normalise_email",
    "register_password_policy",
    "revoke_session",
    "sign_up",
    "start_session",
    "token_id",
]

ABSOLUTE_LIFETIME = timedelta(days=30)
IDLE_LIFETIME = timedelta(days=7)
#: ``last_seen_at`` (and the idle expiry) is written at most this often per session.
TOUCH_INTERVAL = timedelta(minutes=1)
MAX_DISPLAY_NAME = 100
_LOGIN_OFF_MESSAGE = "Password sign-in is turned off here; use your organisation's sign-in."

# RFC 5322 dot-atom local part (no quoted strings), hostname labels, a TLD of letters or an
# A-label. Checked after NFKC normalisation and lower-casing, on ASCII only.
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


PasswordSignInPolicy = Callable[[AsyncSession, str], Awaitable[ClientError | None]]
"""A rule another module adds to password sign-in: given the tenant's session and the
normalised email, the error that refuses it, or None. SSO registers one (enforced SSO for an
email domain) at app start: accounts must not import sso, which builds on accounts."""
_PASSWORD_POLICIES: list[PasswordSignInPolicy] = []


def register_password_policy(policy: PasswordSignInPolicy) -> None:
    """Ask ``policy`` at every password sign-in of this process (once, however often it is
    registered). A refusal is answered after the same password work as any other failure, and
    an owner with the right password still gets in (break-glass, as with password sign-in off).
    """
    if policy not in _PASSWORD_POLICIES:
        _PASSWORD_POLICIES.append(policy)


async def _policy_refusal(db: AsyncSession, email: str) -> ClientError | None:
    for policy in _PASSWORD_POLICIES:
        refusal = await policy(db, email)
        if refusal is not None:
            return refusal
    return None


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request comes from, for sessions and the audit log."""

    ip: str | None
    user_agent: str | None

    @classmethod
    def of(cls, request: Any) -> Client:
        """The client of a Litestar request (its peer address and ``User-Agent``)."""
        return cls(
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )


def normalise_email(raw: str) -> str:
    """The stored form of an email address: NFKC, trimmed, lower-case, ASCII only.

    Non-ASCII addresses are refused rather than mapped: after NFKC (which folds full-width and
    compatibility forms to ASCII) any remaining non-ASCII character, such as a Cyrillic ``U+0430``
    that looks like a Latin ``a``, could impersonate another address. Internationalised domains
    are accepted in their ``xn--`` (A-label) form.

    Raises:
        InvalidEmail: the address is malformed, longer than 254 characters or not ASCII.
    """
    email = unicodedata.normalize("NFKC", raw[:1000]).strip().lower()
    local, at, domain = email.rpartition("@")
    labels = domain.split(".")
    if (
        len(email) > 254
        or not email.isascii()
        or not at
        or len(local) > 64
        or not _LOCAL.match(local)
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or not _TLD.match(labels[-1])
    ):
        raise InvalidEmail("This is not a valid email address.", detail={"field": "email"})
    return email


def check_display_name(raw: str) -> str:
    """The stored form of a display name: NFKC, trimmed, 1-100 printable characters.

    Raises:
        ValidationFailed: ``invalid_display_name``.
    """
    name = unicodedata.normalize("NFKC", raw[:1000]).strip()
    if not 1 <= len(name) <= MAX_DISPLAY_NAME or any(
        unicodedata.category(ch).startswith("C") for ch in name
    ):
        raise ValidationFailed(
            f"A display name is 1-{MAX_DISPLAY_NAME} printable characters.",
            code="invalid_display_name",
            detail={"field": "display_name"},
        )
    return name


async def start_session(db: AsyncSession, user: User, client: Client) -> str:
    """Add a new session for ``user`` (committed with ``db``) and return its cookie token."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        Session(
            id=token_id(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_LIFETIME,
            idle_expires_at=now + IDLE_LIFETIME,
            ip=client.ip,
            user_agent=(client.user_agent or "")[:500] or None,
        )
    )
    return token


async def add_user(
    db: AsyncSession,
    *,
    email: str,
    display_name: str,
    password_hash: str | None,
    role: str,
    email_verified: bool = False,
) -> User:
    """Insert an active user (values already normalised and checked) and flush it.

    Raises:
        EmailTaken: the tenant already has a user with this email (a concurrent insert won).
    """
    user = User(
        id=uuid.uuid4(),
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        role=role,
        status="active",
        email_verified=email_verified,
        created_at=utcnow(),
    )
    db.add(user)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise EmailTaken(
            "This email address is already registered.", detail={"field": "email"}
        ) from exc
    return user


async def sign_up(
    db: AsyncSession, *, email: str, password: str, display_name: str, client: Client
) -> tuple[User, str]:
    """Create a user and sign them in; the tenant's first user becomes its ``owner``.

    Returns the user and the new session token. Nothing is stored when this raises.

    Raises:
        SignupDisabled: the tenant has turned self sign-up off (checked before anything else).
        InvalidEmail, ValidationFailed (``invalid_display_name``, ``weak_password``): bad input.
        EmailTaken: the tenant already has a user with this email.
    """
    if not (await get_auth_settings(db)).self_signup:
        raise SignupDisabled("Sign-up is closed here; ask an admin for an invitation.")
    email = normalise_email(email)
    name = check_display_name(display_name)
    check_password_policy(password, email=email)
    if await db.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken("This email address is already registered.", detail={"field": "email"})
    has_users = await db.scalar(select(User.id).limit(1)) is not None
    if not has_users:
        # Serialise the tenant's first sign-ups (a lock per tenant schema: textual SQL runs with
        # the tenant's search_path) so that exactly one user becomes the owner.
        await db.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('wl.accounts.owner:' || current_schema()))")
        )
        has_users = await db.scalar(select(User.id).limit(1)) is not None
    user = await add_user(
        db,
        email=email,
        display_name=name,
        password_hash=await hash_password(password),
        role="owner" if not has_users else "member",
    )
    token = await start_session(db, user, client)
    user.last_login_at = utcnow()
    record_event(
        db,
        "user.signup",
        actor=str(user.id),
        target=email,
        ip=client.ip,
        detail={"role": user.role},
    )
    return user, token


async def log_in(
    db: AsyncSession, *, email: str, password: str, client: Client, old_token: str | None
) -> tuple[User, str]:
    """Check the credentials and start a new session (a new token: sessions rotate on login).

    An unknown email, a malformed one and a wrong password give the same error after the same
    argon2 work. A failed attempt is audited and committed before the error is raised.

    When the tenant has turned password sign-in off, only an owner with the right password gets
    in (the break-glass path, audited with ``detail.break_glass``); every other attempt, right or
    wrong, gets ``password_login_disabled``, so the answer tells nothing about accounts. A
    registered policy (:func:`register_password_policy`, e.g. SSO enforced for the email's
    domain) refuses the same way, with its own error, also after the password work.

    Raises:
        InvalidCredentials: the email or the password is wrong.
        PasswordLoginDisabled: password sign-in is off and this is not an owner's right password.
        AccountDisabled: the password is right but the account is disabled.
        ClientError: a policy's refusal (``sso_required``), unless an owner's right password.
    """
    password_login = (await get_auth_settings(db)).password_login
    try:
        email = normalise_email(email)
    except InvalidEmail:
        email = ""
    refusal = await _policy_refusal(db, email) if email else None
    # Why password sign-in is refused for this email whatever the password (owners excepted).
    reason = refusal.code if refusal else (None if password_login else "password_login_disabled")
    user = await db.scalar(select(User).where(User.email == email)) if email else None
    ok, rehash = await verify_password(user.password_hash if user else None, password)
    if user is None or not ok:
        record_event(
            db,
            "user.login_failed",
            actor=str(user.id) if user else "anonymous",
            target=email[:320] or None,
            ip=client.ip,
            detail={"reason": reason} if reason else None,
        )
        await db.commit()
        if refusal is not None:
            raise refusal
        if not password_login:
            raise PasswordLoginDisabled(_LOGIN_OFF_MESSAGE)
        raise InvalidCredentials("The email address or the password is wrong.")
    if reason and user.role != "owner":
        record_event(
            db, "user.login_failed", actor=str(user.id), target=email, ip=client.ip,
            detail={"reason": reason},
        )  # fmt: skip
        await db.commit()
        raise refusal or PasswordLoginDisabled(_LOGIN_OFF_MESSAGE)
    if user.status != "active":
        record_event(
            db, "user.login_failed", actor=str(user.id), target=email, ip=client.ip,
            detail={"reason": "disabled"},
        )  # fmt: skip
        await db.commit()
        raise AccountDisabled("This account is disabled.")
    if rehash:
        user.password_hash = await hash_password(password)
    if old_token:
        await _revoke(db, old_token)
    token = await start_session(db, user, client)
    user.last_login_at = utcnow()
    glass = {"break_glass": True, **({"reason": reason} if refusal else {})}
    record_event(
        db, "user.login", actor=str(user.id), target=email, ip=client.ip,
        detail=glass if reason else None,
    )  # fmt: skip
    return user, token


async def revoke_session(db: AsyncSession, token: str) -> uuid.UUID | None:
    """End the session of ``token`` if it is live (committed with ``db``); answers its user's
    id. Used when another sign-in replaces the browser's session (sessions rotate)."""
    return await _revoke(db, token)


async def _revoke(db: AsyncSession, token: str) -> uuid.UUID | None:
    user_id = await db.scalar(
        update(Session)
        .where(Session.id == token_id(token), Session.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(Session.user_id)
    )
    return user_id


async def log_out(db: AsyncSession, token: str | None, *, client: Client) -> None:
    """Revoke the session of ``token`` (nothing happens for an unknown or revoked one)."""
    if not token:
        return
    user_id = await _revoke(db, token)
    if user_id is not None:
        record_event(db, "user.logout", actor=str(user_id), target=str(user_id), ip=client.ip)


async def authenticate(db: AsyncSession, token: str | None) -> User | None:
    """The active user whose live session ``token`` is, or ``None``.

    A session is live when it is not revoked, not past its absolute or idle expiry, and its user
    is active (disabling a user ends all their sessions at once). Each use extends the idle
    expiry, writing at most once per :data:`TOUCH_INTERVAL`.
    """
    if not token or len(token) > 100:
        return None
    now = utcnow()
    row = (
        await db.execute(
            select(Session, User)
            .join(User, User.id == Session.user_id)
            .where(
                Session.id == token_id(token),
                Session.revoked_at.is_(None),
                Session.expires_at > now,
                Session.idle_expires_at > now,
                User.status == "active",
            )
        )
    ).first()
    if row is None:
        return None
    session, user = row
    if now - session.last_seen_at >= TOUCH_INTERVAL:
        session.last_seen_at = now
        session.idle_expires_at = min(now + IDLE_LIFETIME, session.expires_at)
    return user
