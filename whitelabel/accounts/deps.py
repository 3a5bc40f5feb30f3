"""The ``current_user`` dependency: the signed-in user of the request's session cookie.

Handlers declare it by name::

    @get("/things")
    async def things(current_user: CurrentUser) -> list[Thing]: ...

A request without a live session gets 401 ``not_authenticated`` before the handler runs.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Request
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from whitelabel.accounts import service
from whitelabel.accounts.errors import NotAuthenticated
from whitelabel.accounts.models import User
from whitelabel.deps import DbSession

__all__ = ["SESSION_COOKIE", "CurrentUser", "provide_current_user"]

SESSION_COOKIE = "wl_session"


async def provide_current_user(request: Request[Any, Any, Any], db_session: DbSession) -> User:
    """The active user whose live session is in the cookie, loaded in the handler's session.

    Raises:
        NotAuthenticated: no cookie, or an unknown, expired or revoked session, or a disabled user.
    """
    user = await service.authenticate(db_session, request.cookies.get(SESSION_COOKIE))
    if user is None:
        raise NotAuthenticated("Sign in first.")
    return user


CurrentUser: TypeAlias = NamedDependency[SkipValidation[User]]
"""The signed-in :class:`~whitelabel.accounts.models.User` (parameter name ``current_user``)."""
