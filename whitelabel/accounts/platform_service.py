"""Users made by the platform rather than by a sign-up: the ``users create`` command (scripting
and break-glass access) and the demo's seed users.

Runs in the tenant's schema like the rest of accounts (a tenant-bound ``AsyncSession``), writes
its audit record in the same transaction, and stores nothing when it raises.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts.errors import EmailTaken
from whitelabel.accounts.models import ROLES, User
from whitelabel.accounts.passwords import check_password_policy, hash_password
from whitelabel.accounts.service import add_user, check_display_name, normalise_email
from whitelabel.errors import ValidationFailed
from whitelabel.tenant_data import record_event

__all__ = ["PLATFORM_CLI", "check_role", "create_user"]

#: The audit actor of users made through the command line.
PLATFORM_CLI = "platform-cli"


def check_role(role: str) -> str:
    """``role`` if it is one of ``member``, ``admin``, ``owner``.

    Raises:
        ValidationFailed: ``invalid_role``.
    """
    if role not in ROLES:
        raise ValidationFailed(
            f"The role is one of {', '.join(ROLES)}.",
            code="invalid_role",
            detail={"field": "role", "allowed": list(ROLES)},
        )
    return role


async def create_user(
    db: AsyncSession,
    *,
    email: str,
    password: str,
    role: str = "member",
    display_name: str | None = None,
    actor: str = PLATFORM_CLI,
) -> User:
    """Create an active user with a password and ``role`` in the session's tenant.

    The display name defaults to the address's local part. The address is not marked verified
    (nobody has proved it). Audited as ``user.created_by_platform`` (target: the email;
    ``detail``: ``role``, ``user_id``) with ``actor`` as the actor.

    Raises:
        InvalidEmail: the address is malformed.
        ValidationFailed: ``invalid_role``, ``invalid_display_name``, ``weak_password``.
        EmailTaken: the tenant already has a user with this address.
    """
    address = normalise_email(email)
    check_role(role)
    name = check_display_name(display_name if display_name is not None else address.split("@")[0])
    check_password_policy(password, email=address)
    if await db.scalar(select(User.id).where(User.email == address)) is not None:
        raise EmailTaken("This email address is already registered.", detail={"field": "email"})
    user = await add_user(
        db,
        email=address,
        display_name=name,
        password_hash=await hash_password(password),
        role=role,
    )
    record_event(
        db,
        "user.created_by_platform",
        actor=actor,
        target=address,
        detail={"role": role, "user_id": str(user.id)},
    )
    return user
