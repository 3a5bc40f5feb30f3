"""The accounts module's client errors; their codes are part of the public contract."""

from __future__ import annotations

from whitelabel.errors import ClientError, Conflict, Forbidden, NotFound, ValidationFailed

__all__ = [
    "AccountDisabled",
    "EmailTaken",
    "InvalidCredentials",
    "InvalidEmail",
    "LastOwner",
    "NotAuthenticated",
    "PasswordLoginDisabled",
    "SignupDisabled",
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


class SignupDisabled(Forbidden):
    """The tenant has turned self sign-up off (``auth.self_signup``); invitations still work."""

    code = "signup_disabled"


class PasswordLoginDisabled(Forbidden):
    """The tenant has turned password sign-in off (``auth.password_login``); owners keep it."""

    code = "password_login_disabled"
