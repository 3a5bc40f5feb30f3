"""Building the MIME message of one outbox row.

Headers go through the standard library's ``email`` package with its modern policy, which
refuses a header value holding CR or LF (``ValueError``): even a row written around
:func:`whitelabel.mail.enqueue`'s checks cannot inject headers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

__all__ = ["OutgoingMail", "compose"]


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One claimed outbox row: what the dispatcher sends."""

    id: uuid.UUID
    tenant_id: uuid.UUID | None
    kind: str
    to_address: str
    from_name: str | None
    subject: str
    text_body: str
    html_body: str | None
    message_id: str
    attempts: int
    created_at: datetime


def compose(mail: OutgoingMail, mail_from: str) -> EmailMessage:
    """The message for ``mail``, from ``mail_from`` (``WHITELABEL_MAIL_FROM``).

    Plain text only, or ``multipart/alternative`` (text, then HTML) when there is HTML. ``Date``
    is the enqueue time and ``Message-ID`` the row's, so every attempt is the same message.

    Raises:
        ValueError: a header value is malformed (a line break, an invalid address).
    """
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = Address(display_name=mail.from_name or "", addr_spec=mail_from)
    message["To"] = Address(addr_spec=mail.to_address)
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = mail.message_id
    # RFC 3834: tells autoresponders (vacation replies) not to answer.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text_body)
    if mail.html_body is not None:
        message.add_alternative(mail.html_body, subtype="html")
    return message
