"""The tenant admin's SSO pages and the SSO side of the sign-in page (HTML, tenant hosts only).

- ``GET /admin/sso``: the connections; ``POST /admin/sso``: create one (type and name, and for
  OpenID Connect its provider and client);
- ``GET /admin/sso/{id}``: what to give the IdP (values to copy, SP metadata to download), the
  IdP configuration, settings, attribute mapping, test button, SP keys, last failed sign-ins;
  ``POST /admin/sso/{id}``: one form of that page (its ``action``);
- ``GET /admin/sso/{id}/delete``: the confirmation; ``POST /admin/sso/{id}/delete``: delete.

Admins and owners only (others: the sign-in redirect or a 403 page); every form carries the CSRF
token; every change goes through :mod:`sso.service`, which checks and audits. Pages send
``PAGE_HEADERS`` (no caching, no framing, no script). Templates: ``admin/sso/*.html``.

:func:`register_pages` adds the routes and :data:`SIGN_IN`, through which ``/login`` offers the
enabled connections and email-first routing (``POST /login/sso``).
"""

from __future__ import annotations

from typing import Any

from litestar.config.app import AppConfig

from sso.pages._connection import SsoConnectionPageController
from sso.pages._list import SsoListPageController
from sso.pages._login import SIGN_IN, ConnectionsSignIn, login_path
from whitelabel.accounts.pages import SSO_SIGN_IN

__all__ = [
    "SIGN_IN",
    "SSO_PAGE_CONTROLLERS",
    "ConnectionsSignIn",
    "SsoConnectionPageController",
    "SsoListPageController",
    "login_path",
    "register_pages",
]

#: The route handlers of the SSO admin pages.
SSO_PAGE_CONTROLLERS: list[Any] = [SsoListPageController, SsoConnectionPageController]


def register_pages(app_config: AppConfig) -> None:
    """Add the SSO admin pages and the sign-in page's SSO offer to an app (for the SSO
    plugin's ``on_app_init``)."""
    app_config.route_handlers.extend(SSO_PAGE_CONTROLLERS)
    app_config.state[SSO_SIGN_IN] = SIGN_IN
