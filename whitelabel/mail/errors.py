"""The mail module's client errors; their codes are part of the public contract."""

from __future__ import annotations

from whitelabel.errors import Conflict, NotFound, ValidationFailed

__all__ = [
    "InvalidMailAddress",
    "InvalidMailContent",
    "InvalidMailHeader",
    "MailAlreadySent",
    "MailNotFound",
]


class InvalidMailAddress(ValidationFailed):
    """The recipient is not one bare ASCII address ``local@domain``."""

    code = "invalid_mail_address"


class InvalidMailHeader(ValidationFailed):
    """A subject, sender name or kind is empty, too long, or holds a line break or control
    character (which could inject headers)."""

    code = "invalid_mail_header"


class InvalidMailContent(ValidationFailed):
    """A body is empty (the text one), too large, or holds a NUL character."""

    code = "invalid_mail_content"


class MailNotFound(NotFound):
    """No message in the outbox has that id."""

    code = "mail_not_found"


class MailAlreadySent(Conflict):
    """The message was sent; re-queueing it would send it twice."""

    code = "mail_already_sent"
