"""The SSO side of the sign-in page: the enabled connections as buttons, email-first routing.

``/login`` belongs to accounts, which does not import ``sso``; it asks the
:class:`~whitelabel.accounts.pages._sign_in.SsoSignIn` registered in the app's state, which is
:data:`SIGN_IN` (see ``sso.pages.register_pages``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from sso import service
from sso.models import SsoConnection
from whitelabel.accounts.pages import SsoButton, SsoOffer

__all__ = ["SIGN_IN", "ConnectionsSignIn", "login_path"]


def login_path(connection: SsoConnection, next_: str = "/") -> str:
    """Where a sign-in through ``connection`` starts: a local path carrying ``next_`` (already
    a safe local path: it is passed on here, and checked again where it is used)."""
    path = service.login_path(connection)
    if not next_ or next_ == "/":
        return path
    return f"{path}?{urlencode({'next': next_}, safe='/')}"


class ConnectionsSignIn:
    """The tenant's enabled connections, for the sign-in page (tenant scope: ``db``'s)."""

    async def offer(self, db: AsyncSession, next_: str) -> SsoOffer:
        """A button per enabled connection (by name); email-first routing when one of them
        owns email domains."""
        connections = await service.enabled_connections(db)
        return SsoOffer(
            buttons=tuple(SsoButton(c.name, login_path(c, next_)) for c in connections),
            email_first=any(c.email_domains for c in connections),
        )

    async def route(self, db: AsyncSession, email: str, next_: str) -> SsoButton | None:
        """The enabled connection owning the domain of ``email``, as a sign-in link."""
        connection = await service.route_email(db, email)
        if connection is None:
            return None
        return SsoButton(connection.name, login_path(connection, next_))


#: What ``register_pages`` puts in the app's state for ``/login``.
SIGN_IN = ConnectionsSignIn()
