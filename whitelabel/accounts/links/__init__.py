"""Emailed links and a user's own security: password reset, email verification, invitations,
password change and "sign out everywhere".

Links are signed, single-use and expiring (see :mod:`._tokens` for how): a password reset lives
1 hour, an email verification 24 hours, an invitation 7 days. Every function takes the request's
tenant-bound ``AsyncSession`` and touches only that tenant's schema (plus the mail outbox, in the
same transaction); every state change writes its audit record in that transaction. Functions
that make or check links take ``settings`` for the ``links`` key.
"""

from whitelabel.accounts.links._emails import RenderedEmail, render_email
from whitelabel.accounts.links._errors import (
    AlreadyMember,
    AlreadyVerified,
    InvalidToken,
    InvitationNotFound,
    WrongPassword,
)
from whitelabel.accounts.links._invitations import (
    accept_invitation,
    create_invitation,
    list_invitations,
    revoke_invitation,
)
from whitelabel.accounts.links._password import change_password, sign_out_everywhere
from whitelabel.accounts.links._reset import request_password_reset, reset_password
from whitelabel.accounts.links._tokens import (
    INVITATION_LIFETIME,
    RESET_LIFETIME,
    VERIFY_LIFETIME,
)
from whitelabel.accounts.links._verify import send_verification, verify_email
from whitelabel.accounts.models import Invitation

__all__ = [
    "INVITATION_LIFETIME",
    "RESET_LIFETIME",
    "VERIFY_LIFETIME",
    "AlreadyMember",
    "AlreadyVerified",
    "InvalidToken",
    "Invitation",
    "InvitationNotFound",
    "RenderedEmail",
    "WrongPassword",
    "accept_invitation",
    "change_password",
    "create_invitation",
    "list_invitations",
    "render_email",
    "request_password_reset",
    "reset_password",
    "revoke_invitation",
    "send_verification",
    "sign_out_everywhere",
    "verify_email",
]
