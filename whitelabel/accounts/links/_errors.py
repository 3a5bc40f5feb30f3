"""The client errors of emailed links, invitations and password changes (stable codes)."""

from __future__ import annotations

from whitelabel.errors import ClientError, Conflict, NotFound, ValidationFailed

__all__ = [
    "AlreadyMember",
    "AlreadyVerified",
    "InvalidToken",
    "InvitationNotFound",
    "WrongPassword",
]


class InvalidToken(ClientError):
    """A link token that is malformed, tampered with, unknown, of another tenant or purpose,
    expired, used or revoked: one answer for all, so a link reveals nothing about why it failed."""

    status_code = 400
    code = "invalid_token"


class AlreadyMember(Conflict):
    """The invited address already belongs to a user of this tenant."""

    code = "already_member"


class AlreadyVerified(Conflict):
    """The signed-in user's email address is verified already (nothing to send)."""

    code = "already_verified"


class InvitationNotFound(NotFound):
    """No pending invitation of this tenant has the id (malformed, unknown, another tenant's,
    accepted or revoked)."""

    code = "invitation_not_found"


class WrongPassword(ValidationFailed):
    """The current password given to change the password is wrong."""

    code = "wrong_password"
