"""The accounts module's client errors; their codes are part of the public contract."""

from __future__ import annotations

from whitelabel.errors import ClientError, Conflict, NotFound, ValidationFailed

__all__ = [
    "AccountDisabled",
    "EmailTaken",
    "InvalidCredentials",
    "InvalidEmail",
    "LastOwner",
    "NotAuthenticated",
    "UserNotFound",
]


class InvalidEmail(ValidationFailed):
    """The email address is malformed (see ``service.normalise_email`` for the rules)."""

    code = "invalid_email"


class EmailTaken(Conflict):
    """Another user of this tenant has the email address."""

    code = "email_taken"


class InvalidCredentials(ClientError):
    """Wrong email or password: one answer for both, so sign-in reveals no accounts."""

    status_code = 401
    code = "invalid_credentials"


class NotAuthenticated(ClientError):
    """No valid session: no cookie, an unknown, expired or revoked one, or a disabled user."""

    status_code = 401
    code = "not_authenticated"


class AccountDisabled(ClientError):
    """The credentials are right but the account is disabled."""

    status_code = 403
    code = "account_disabled"


class UserNotFound(NotFound):
    """No user of this tenant has the id (unknown, malformed, or another tenant's)."""

    code = "user_not_found"


class LastOwner(Conflict):
    """The change would leave the tenant without an active owner."""

    code = "last_owner"
