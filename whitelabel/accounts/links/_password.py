"""A signed-in user's own security: change the password, sign out everywhere."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from whitelabel.accounts.links._common import end_sessions
from whitelabel.accounts.links._errors import WrongPassword
from whitelabel.accounts.links._tokens import revoke_pending
from whitelabel.accounts.models import User
from whitelabel.accounts.passwords import check_password_policy, hash_password, verify_password
from whitelabel.accounts.service import Client, start_session
from whitelabel.tenant_data import record_event

__all__ = ["change_password", "sign_out_everywhere"]

#: Longer "current passwords" are wrong without hashing them.
_MAX_CURRENT = 1000


async def change_password(
    db: AsyncSession,
    *,
    user: User,
    current_password: str,
    new_password: str,
    current_token: str,
    client: Client,
) -> str:
    """Replace the password of ``user`` after checking the current one; returns the token of a
    new session that replaces ``current_token``'s (rotation). Every other session of the user
    ends, and unused password-reset links stop working.

    A user without a password (invited without one, or SSO-only) cannot change it here: they
    set one through a password reset. A wrong current password is audited
    (``user.password_change_failed``) and committed before the error is raised.

    Raises:
        WrongPassword: ``current_password`` is wrong (or the user has no password).
        ValidationFailed: ``weak_password``.
    """
    ok = False
    if len(current_password) <= _MAX_CURRENT:
        ok, _ = await verify_password(user.password_hash, current_password)
    if not ok:
        record_event(
            db, "user.password_change_failed", actor=str(user.id), target=str(user.id),
            ip=client.ip,
        )  # fmt: skip
        await db.commit()
        raise WrongPassword("The current password is wrong.", detail={"field": "current_password"})
    check_password_policy(new_password, email=user.email)
    user.password_hash = await hash_password(new_password)
    others = await end_sessions(db, user.id, keep=current_token)
    await end_sessions(db, user.id)  # the current one: it is replaced below
    await revoke_pending(db, purpose="password_reset", user_id=user.id)
    token = await start_session(db, user, client)
    record_event(
        db,
        "user.password_changed",
        actor=str(user.id),
        target=str(user.id),
        ip=client.ip,
        detail={"sessions_revoked": others},
    )
    return token


async def sign_out_everywhere(db: AsyncSession, *, user: User, client: Client) -> int:
    """End every session of ``user``, the current one included; returns how many ended.

    Audited as ``user.signed_out_everywhere`` (``detail.count``).
    """
    count = await end_sessions(db, user.id)
    record_event(
        db,
        "user.signed_out_everywhere",
        actor=str(user.id),
        target=str(user.id),
        ip=client.ip,
        detail={"count": count},
    )
    return count
