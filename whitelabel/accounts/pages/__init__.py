"""The accounts module's HTML pages on tenant hosts: sign-in, sign-up, sign-out, the pages of
emailed links (password reset, email verification, invitations) and the tenant admin's user
management (templates under ``whitelabel/pages/templates/accounts/``).

Every page sends :data:`PAGE_HEADERS` (no caching, no framing, a CSP without scripts) and every
form carries the CSRF token of ``whitelabel.security.csrf``. Form posts that succeed redirect
(303); redirect targets pass :func:`safe_next` (local paths only).
"""

from whitelabel.accounts.pages._admin import AdminUsersPageController
from whitelabel.accounts.pages._common import CSP, PAGE_HEADERS, safe_next
from whitelabel.accounts.pages._links import LinkPagesController
from whitelabel.accounts.pages._sign_in import (
    SSO_SIGN_IN,
    SignInPagesController,
    SsoButton,
    SsoOffer,
    SsoSignIn,
)

__all__ = [
    "CSP",
    "PAGE_HEADERS",
    "SSO_SIGN_IN",
    "AdminUsersPageController",
    "LinkPagesController",
    "SignInPagesController",
    "SsoButton",
    "SsoOffer",
    "SsoSignIn",
    "safe_next",
]
